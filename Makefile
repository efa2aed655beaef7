# Quick start on a fresh machine (Rust via rustup, python3 >= 3.9, make):
#   make run     set up .venv, build mbo_fast (release), run the main job on the sample data
#   make test    set up, then every check CI runs (.ci/run runs exactly this)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data/CLX5_mbo.dbn
CARGO_FLAGS ?= --locked
# clippy/cargo see the same interpreter as maturin, so pyo3 is not rebuilt between them
export PYO3_PYTHON := $(abspath $(BIN)/python)
export CARGO_FLAGS

.PHONY: help setup run test lint rust-test py-test bench-check bench bench-input asv fmt clean

help:
	@sed -n 's/^#   //p' Makefile

setup:
	scripts/setup.sh

run: setup
	$(BIN)/mbo-fast info $(DATA)
	$(BIN)/mbo-fast book $(DATA)

test: setup lint rust-test bench-check py-test

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets $(CARGO_FLAGS) -- -D warnings
	$(BIN)/ruff check .
	$(BIN)/mypy --strict python/mbo_fast

rust-test:
	cargo test -p mbo-fast-core $(CARGO_FLAGS)

# The workflow against GitHub's schema (offline, bundled) and the asv suite importing and running
# once on the sample file (quick; real numbers: `make asv`).
bench-check:
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/asv check --python=same
	$(BIN)/asv machine --yes >/dev/null
	MBO_FAST_BENCH_FILE=$(abspath $(DATA)) $(BIN)/asv run --python=same --quick \
	  --show-stderr --dry-run --set-commit-hash "$$(git rev-parse HEAD)"

# Last, so pytest's summary line closes the output. Exit 5 (no test collected) is a failure.
py-test:
	MBO_FAST_REQUIRE_CORE=1 $(BIN)/pytest || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc; }

bench-input:
	$(BIN)/python benchmarks/make_input.py

bench: setup bench-input
	$(BIN)/python benchmarks/compare.py

asv: setup
	$(BIN)/asv machine --yes >/dev/null
	$(BIN)/asv run --python=same --set-commit-hash "$$(git rev-parse HEAD)"

fmt:
	cargo fmt --all
	$(BIN)/ruff check --fix .

clean:
	cargo clean
	rm -rf $(VENV) .asv bench-data .pytest_cache .mypy_cache .ruff_cache .hypothesis
