# Vitrine3D on one machine, in one container: API + in-process job runner + SQLite + local files.
#   docker build -t vitrine3d .
#   docker run --rm -p 8000:8000 -v vitrine3d-data:/data vitrine3d
# The same steps as `make setup`. The first stage fetches the pinned npm packages and copies the
# browser files; the image that runs keeps Node.js and the KTX2 encoder (ktx2-encoder and its one
# dependency, ktx-parse), which the web flavour's `web_textures=ktx2` runs (processing/ktx2.py),
# and meshoptimizer, whose simplifier decimation runs in wasmtime (processing/meshopt_wasm.py).
# Both are found in /usr/local/lib/node_modules, walking up from the installed processing/ folder
# (/usr/local/lib/python3.11/site-packages/processing).

# Debian trixie: its nodejs package is Node 20, what package.json asks for.
FROM python:3.11-slim-trixie AS viewer-files
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts/copy-model-viewer.py scripts/
RUN python scripts/copy-model-viewer.py


FROM python:3.11-slim-trixie
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*
COPY --from=viewer-files /src/node_modules/ktx2-encoder /usr/local/lib/node_modules/ktx2-encoder
COPY --from=viewer-files /src/node_modules/ktx-parse /usr/local/lib/node_modules/ktx-parse
COPY --from=viewer-files /src/node_modules/meshoptimizer /usr/local/lib/node_modules/meshoptimizer
WORKDIR /src
# Dependencies before the code, so that editing the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt
COPY README.md ./
COPY api api
COPY assets assets
COPY processing processing
COPY viewer viewer
# Before the install: package data (viewer/static/**) then carries the bundle and its decoders.
COPY --from=viewer-files /src/viewer/static/vendor viewer/static/vendor
RUN pip install --no-cache-dir --no-deps . \
 && cd / && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /data vitrine \
 && mkdir -p /data && chown vitrine:vitrine /data
ENV VITRINE_DATA_DIR=/data \
    VITRINE_DATABASE_URL=sqlite:////data/vitrine.db \
    VITRINE_STORAGE_URL=file:///data/objects \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
WORKDIR /data
USER vitrine
EXPOSE 8000
CMD ["vitrine3d", "serve", "--host", "0.0.0.0", "--port", "8000"]
