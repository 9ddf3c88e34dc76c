#!/usr/bin/env bash
# Make sure the Chromium the browser tests drive is installed (Debian's package, /usr/bin/chromium,
# or $CHROMIUM). Playwright's `playwright install` is never used: it downloads browser builds,
# which neither CI nor most build machines can. Fails loudly when Chromium cannot be installed.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] && exit 0

fail() { echo "error: $CHROMIUM is missing and $1" >&2; exit 1; }

command -v apt-get >/dev/null || fail "this is not a Debian-like system: install Chromium and set CHROMIUM=/path/to/it"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  fail "installing it needs root: run 'apt-get install chromium' as root"
fi

echo "installing Debian's chromium for the browser tests" >&2
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
[[ -x "$CHROMIUM" ]] || fail "apt-get did not provide it (on Ubuntu, chromium is a snap: set CHROMIUM=/snap/bin/chromium)"
