#!/usr/bin/env bash
# Idempotent developer/CI setup, run by `make run` and `make test` (and by .ci/run):
#   1. the Rust components the checks need (clippy, rustfmt);
#   2. .venv with the dev/test/bench tools at the exact versions of constraints.txt;
#   3. mbo_fast built in release mode and installed into .venv (maturin develop --release);
#   4. the server package (server/) installed into .venv (editable).
# A second run only rebuilds what changed. Environment: PYTHON (interpreter for a new venv,
# default python3), VENV (default .venv), CARGO_FLAGS (default --locked).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CARGO_FLAGS=${CARGO_FLAGS---locked}
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n== %s\n' "$*"; }

step "Rust toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then re-run" >&2
  exit 1
fi
cargo --version
for pair in clippy:clippy rustfmt:fmt; do
  component=${pair%%:*} subcommand=${pair##*:}
  if ! cargo "$subcommand" --version >/dev/null 2>&1; then
    echo "installing the $component component"
    rustup component add "$component"
  fi
done

step "Python environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
pyver=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "Python $pyver"
lockver=$(sed -n 's/.*(CPython \([0-9.]*\),.*/\1/p' constraints.txt)
if [ "$pyver" != "$lockver" ]; then
  echo "warning: constraints.txt is resolved for CPython $lockver, $VENV has $pyver" >&2
fi
# Reinstall only when the requirement files changed since the last successful install.
stamp="$VENV/.mbo-fast-requirements"
want=$(cat requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q -r requirements-dev.txt -c constraints.txt
  echo "$want" >"$stamp"
else
  echo "requirements unchanged since the last install"
fi

step "mbo_fast (release build into $VENV)"
export VIRTUAL_ENV="$PWD/$VENV"
export PYO3_PYTHON="$PWD/$VENV/bin/python"  # same interpreter as clippy/tests: no pyo3 rebuilds
# shellcheck disable=SC2086  # CARGO_FLAGS is a word list
"$VENV/bin/maturin" develop --release $CARGO_FLAGS
"$VENV/bin/python" -c 'import mbo_fast; print("mbo_fast", mbo_fast.__version__, "installed")'

step "mbo_fast_server (server/, editable; its dependencies come from requirements-dev.txt)"
"$VENV/bin/python" -m pip install -q --no-deps -e ./server
"$VENV/bin/python" -c 'import mbo_fast_server; print("mbo_fast_server installed")'
