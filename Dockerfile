# syntax=docker/dockerfile:1
# mbo-fast server image: the Rust extension built into an abi3 wheel with maturin (stage `build`),
# installed with the server into a slim CPython (stage `runtime`), run as a non-root user.
#
#   docker build -t mbo-fast .
#   docker run --rm -p 8080:8080 -v mbo-data:/data mbo-fast      # http://127.0.0.1:8080/
#
# With no --file it serves the simulator's default session, generated on first start into the
# /data volume (with the SQLite database). Configure with MBO_* variables (.env.example).
# scripts/docker-steps.sh performs the same build and install in a temp dir without Docker.

ARG PYTHON_VERSION=3.11
ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build

# Debian bookworm's CPython 3.11: the interpreter constraints.txt is resolved for.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-dev python3-venv \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/build-venv \
    PATH=/opt/build-venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CARGO_TERM_COLOR=never

WORKDIR /src
COPY constraints.txt ./
# maturin at the version pinned in constraints.txt
RUN python3 -m venv "$VIRTUAL_ENV" \
    && pip install -c constraints.txt maturin

COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust ./rust
COPY python ./python
COPY server ./server

# The abi3 wheel (one file for CPython >= 3.9), then the server's wheel; both into /wheels.
RUN maturin build --release --locked --out /wheels \
    && pip wheel --no-deps --wheel-dir /wheels ./server

# ---------------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="mbo-fast" \
      org.opencontainers.image.description="Exact limit order books from Databento MBO data: HTTP/SSE server" \
      org.opencontainers.image.source="https://github.com/mbo-fast/mbo-fast" \
      org.opencontainers.image.licenses="MIT"

# Dependencies at the exact versions of constraints.txt; no compiler, no build tools.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    pip install --no-cache-dir --disable-pip-version-check -c /tmp/constraints.txt /wheels/*.whl \
       "psycopg[binary]" \
    && groupadd --system --gid 10001 mbo \
    && useradd --system --uid 10001 --gid mbo --home-dir /data --shell /usr/sbin/nologin mbo \
    && mkdir -p /data \
    && chown mbo:mbo /data

# Configuration by environment (flags > MBO_* > --config TOML > defaults; see .env.example).
ENV MBO_HOST=0.0.0.0 \
    MBO_PORT=8080 \
    MBO_DATA_DIR=/data \
    MBO_LOG_LEVEL=info \
    MBO_LOG_JSON=true \
    HOME=/data \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080

# Liveness without curl: the standard library only.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MBO_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["mbo-fast", "serve", "--host", "0.0.0.0"]
CMD []
