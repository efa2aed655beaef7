#!/usr/bin/env bash
# The Dockerfile's build and run steps, performed for real without a Docker engine, in a temp dir:
#   1. build context: the files the Dockerfile COPYs (tracked or untracked, not git-ignored);
#   2. stage `build`: a fresh venv with maturin from constraints.txt; `maturin build --release
#      --locked` (the abi3 wheel) and `pip wheel --no-deps ./server`;
#   3. stage `runtime`: another fresh venv; `pip install -c constraints.txt` of both wheels and psycopg;
#   4. the container's start: `mbo-fast serve` with the image's MBO_* environment, MBO_DATA_DIR in
#      the temp dir (the /data volume), on a free loopback port (the image binds 0.0.0.0:8080);
#      the HEALTHCHECK command taken verbatim from the Dockerfile must pass, /readyz must turn
#      200, /metrics is scraped (and checked by `promtool check metrics` when promtool exists);
#   5. SIGTERM: the server must exit 0 within 10 s.
# Slow (a fat-LTO release build from scratch, several minutes on 2 cores): not part of `make test`.
# Usage: scripts/docker-steps.sh [--metrics-out FILE] [--keep]
# Environment: PYTHON (default python3, should be the CPython constraints.txt is resolved for),
# CARGO_TARGET_DIR (default: inside the temp dir, i.e. a clean build like the image's).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
metrics_out="" keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --metrics-out) metrics_out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--metrics-out FILE] [--keep]" >&2; exit 2 ;;
  esac
done
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 CARGO_TERM_COLOR=never

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mbo-docker-steps.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid" || true; fi
  if [ "$keep" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
step() { printf '\n== [%(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() { echo "docker-steps: FAILED: $*" >&2; exit 1; }

step "build context ($tmp/src): the paths the Dockerfile COPYs"
copied=$(sed -n 's/^COPY \(--[^ ]* \)*//p' Dockerfile | awk '{ $NF=""; print }')
echo "COPY sources: $copied"
mkdir -p "$tmp/src"
# shellcheck disable=SC2086  # a word list of paths
git ls-files -z --cached --others --exclude-standard -- $copied \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | xargs -0 cp --parents -t "$tmp/src"
ls "$tmp/src"

step "stage build: venv + maturin (pinned)"
"$PYTHON" -m venv "$tmp/build-venv"
"$tmp/build-venv/bin/pip" install -q -c "$tmp/src/constraints.txt" maturin
"$tmp/build-venv/bin/maturin" --version

step "stage build: maturin build --release --locked --out wheels; pip wheel ./server"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$tmp/target}
(
  cd "$tmp/src"
  export VIRTUAL_ENV="$tmp/build-venv" PATH="$tmp/build-venv/bin:$PATH"
  unset PYO3_PYTHON
  maturin build --release --locked --out "$tmp/wheels"
  pip wheel -q --no-deps --wheel-dir "$tmp/wheels" ./server
)
ls -l "$tmp/wheels"
ls "$tmp/wheels"/mbo_fast-*-abi3-*.whl >/dev/null || fail "no abi3 wheel"

step "stage runtime: fresh venv, pip install -c constraints.txt wheels/*.whl"
"$PYTHON" -m venv "$tmp/runtime"
"$tmp/runtime/bin/pip" install -q -c "$tmp/src/constraints.txt" "$tmp/wheels"/*.whl "psycopg[binary]"
"$tmp/runtime/bin/python" - <<'EOF'
import mbo_fast, mbo_fast_server, pathlib
print("mbo_fast", mbo_fast.__version__, "from", pathlib.Path(mbo_fast.__file__).parent)
assert "site-packages" in mbo_fast.__file__ and "site-packages" in mbo_fast_server.__file__
EOF

step "container start: mbo-fast serve (the image's environment, /data -> $tmp/data)"
port=$("$tmp/runtime/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/data"
# The ENV block of the Dockerfile, with MBO_DATA_DIR/HOME pointing at the temp "volume".
env -i PATH="$tmp/runtime/bin:/usr/bin:/bin" HOME="$tmp/data" \
  MBO_HOST=127.0.0.1 MBO_PORT="$port" MBO_DATA_DIR="$tmp/data" MBO_LOG_LEVEL=info MBO_LOG_JSON=true \
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
  "$tmp/runtime/bin/mbo-fast" serve --host 127.0.0.1 >"$tmp/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
get() { "$tmp/runtime/bin/python" -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=5); sys.stdout.buffer.write(r.read())' "$1"; }

# The HEALTHCHECK command of the Dockerfile, verbatim.
hc=$(sed -n 's/.*CMD \["python", "-c", "\(.*\)"\]$/\1/p' Dockerfile)
[ -n "$hc" ] || fail "no HEALTHCHECK CMD found in Dockerfile"
healthy=0
for _ in $(seq 1 240); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "server exited"; }
  if MBO_PORT=$port "$tmp/runtime/bin/python" -c "$hc" 2>/dev/null; then healthy=1; break; fi
  sleep 0.5
done
[ "$healthy" = 1 ] || { cat "$tmp/server.log" >&2; fail "HEALTHCHECK did not pass within 120 s"; }
echo "HEALTHCHECK passed: $(get "$base/healthz")"
ready=0
for _ in $(seq 1 240); do
  if get "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
[ "$ready" = 1 ] || { cat "$tmp/server.log" >&2; fail "/readyz not 200 within 120 s"; }
echo "ready: $(get "$base/readyz")"
get "$base/api/v1/instruments" | head -c 300; echo
get "$base/metrics" >"$tmp/metrics.txt"
grep -E '^mbo_(records_processed_total|sources_loaded) ' "$tmp/metrics.txt" \
  || grep -E '^mbo_records_processed_total' "$tmp/metrics.txt" || fail "/metrics lacks mbo_ metrics"
if command -v promtool >/dev/null 2>&1; then
  promtool check metrics <"$tmp/metrics.txt" && echo "promtool check metrics: ok"
else
  echo "promtool not found: /metrics lint skipped"
fi
[ -z "$metrics_out" ] || cp "$tmp/metrics.txt" "$metrics_out"
ls -l "$tmp/data"

step "SIGTERM"
kill -TERM "$server_pid"
for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then fail "server still running 10 s after SIGTERM"; fi
rc=0; wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || { tail -20 "$tmp/server.log" >&2; fail "server exit status $rc"; }
tail -3 "$tmp/server.log"
step "docker-steps: OK (wheels built, installed in a fresh venv, served, healthy, stopped)"
