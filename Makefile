# Vitrine3D on one machine. The two commands:
#   make run    set up if needed, then serve on http://$(HOST):$(PORT)
#   make test   set up if needed, then install what the tests need and run them all
# `make setup` is their shared first half. Every step is a file target that depends on what it
# installs from, so a second run does nothing unless pyproject.toml or package-lock.json changed.

SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PYTHON_STAMP := $(VENV)/.vitrine3d-installed
NODE_STAMP := node_modules/.vitrine3d-installed
BUNDLE := viewer/static/vendor/model-viewer/model-viewer.min.js

.PHONY: setup run test chromium services clean

setup: $(PYTHON_STAMP) $(BUNDLE)

run: setup
	$(VENV)/bin/vitrine3d serve --host $(HOST) --port $(PORT)

test: setup chromium services
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

# Redis and PostgreSQL (Debian's) for the scale-out tests, which start private instances of them
# and of an S3 server (moto) themselves.
services:
	scripts/install-services.sh

# Debian's Chromium drives the browser tests; Playwright's own browser download is never used.
chromium:
	scripts/install-chromium.sh

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

$(PYTHON_STAMP): pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: Node.js 20+ with npm is required (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

$(BUNDLE): $(NODE_STAMP) scripts/copy-model-viewer.py
	$(PYTHON) scripts/copy-model-viewer.py

# Removes what setup generated; ./data (the catalog and its files) is left alone.
clean:
	rm -rf $(VENV) node_modules viewer/static/vendor
