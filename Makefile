# Quick start on a fresh machine (Rust via rustup, python3 >= 3.9, make):
#   make run     set up .venv, build mbo_fast (release), start the server on the default data
#   make test    set up, then every check CI runs (.ci/run runs exactly this)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
# The sample data (Databento MBO files, never in the repository): tests that need it skip without it.
DATA_DIR := $(or $(MBO_FAST_DATA_DIR),../shared/data)
CARGO_FLAGS ?= --locked
SERVE_ARGS ?=
# clippy/cargo see the same interpreter as maturin, so pyo3 is not rebuilt between them
export PYO3_PYTHON := $(abspath $(BIN)/python)
export CARGO_FLAGS

.PHONY: help setup run test test-tools deploy-check docker-steps lint rust-test py-test bench-check js-test bench bench-input asv fuzz fmt clean

help:
	@sed -n 's/^#   //p' Makefile

setup:
	scripts/setup.sh

# The server on the default data (a simulated session, generated once into ~/.cache/mbo-fast);
# it prints its URL and runs until Ctrl-C. Your own data: make run SERVE_ARGS="--file F.dbn".
run: setup
	$(BIN)/mbo-fast serve $(SERVE_ARGS)

test: setup test-tools lint rust-test bench-check deploy-check js-test py-test

# Debian packages only the tests need (chromium for the browser tests, prometheus/promtool).
test-tools:
	scripts/setup-test-tools.sh

# Formatting, clippy, ruff, mypy --strict, and stubtest: _core.pyi against the built extension
# (the one make setup installs), so the stub cannot drift from the bindings.
lint:
	cargo fmt --all --check
	cargo fmt --manifest-path rust/fuzz/Cargo.toml --check
	cargo clippy --workspace --all-targets $(CARGO_FLAGS) -- -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict python/mbo_fast
	$(BIN)/mypy --strict server/mbo_fast_server
	$(BIN)/python -m mypy.stubtest mbo_fast._core

# Offline checks of the deployment files (seconds): Dockerfile, Prometheus config and rules,
# Kubernetes manifests (bundled schemas), compose/workflow/dependabot schemas, YAML style.
# The image build itself: scripts/docker-steps.sh (slow, not here); tests/deploy/test_deploy.py runs
# the server against promtool and a real Prometheus.
deploy-check:
	$(BIN)/hadolint Dockerfile
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/rules.yml
	$(BIN)/kubernetes-validate --strict --quiet $$(ls deploy/k8s/*.yaml | grep -v kustomization)
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/yamllint --strict docker-compose.yml deploy .github .hadolint.yaml .yamllint.yaml
	$(BIN)/shellcheck scripts/docker-steps.sh

# The Dockerfile's build and run steps for real, without Docker: release wheel build in a temp
# dir, fresh venv install, server start, HEALTHCHECK, /metrics, SIGTERM (slow: a full build).
docker-steps:
	scripts/docker-steps.sh

rust-test:
	@[ -d "$(DATA_DIR)" ] || echo "sample data directory $(DATA_DIR) not found (set MBO_FAST_DATA_DIR):" \
	  "the Rust tests that read the sample files skip, saying so"
	MBO_FAST_DATA_DIR=$(abspath $(DATA_DIR)) cargo test -p mbo-fast-core $(CARGO_FLAGS)

# The workflow against GitHub's schema (offline, bundled) and the asv suite importing and running
# once on a simulated session generated on the fly, the same with or without the sample data
# (quick; real numbers: `make asv`).
bench-check:
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/asv check --python=same
	$(BIN)/asv machine --yes >/dev/null
	MBO_FAST_BENCH_FILE= MBO_FAST_BENCH_SIMULATED=100000 $(BIN)/asv run --python=same --quick \
	  --show-stderr --dry-run --set-commit-hash "$$(git rev-parse HEAD)"

# The web UI's pure modules (formatting, diffing, scales, heatmap binning) with node's own test
# runner (no packages); skipped with a message where node is missing.
js-test:
	@if command -v node >/dev/null 2>&1; then node --test tests/ui/*.test.mjs; \
	else echo "node not found: skipping the web UI unit tests (tests/ui)"; fi

# Last, so pytest's summary line closes the output. Exit 5 (no test collected) is a failure.
py-test:
	MBO_FAST_REQUIRE_CORE=1 $(BIN)/pytest || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc; }

# cargo-fuzz (libFuzzer + AddressSanitizer) on the file decoder, the live decoder and the metadata
# parser, FUZZ_SECONDS each, from a seed corpus written from the sample files and simulated
# sessions (rust/fuzz/corpus, gitignored; crashes land in rust/fuzz/artifacts). The fuzz crate is
# outside the workspace; stable Rust runs it with RUSTC_BOOTSTRAP=1 (libFuzzer needs -Z flags).
# The always-on, bounded fuzzing is tests/dbn/test_fuzz.py (part of py-test).
FUZZ_SECONDS ?= 60
CARGO_FUZZ_VERSION := 0.13.2
fuzz: setup
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	$(BIN)/python rust/fuzz/seed_corpus.py rust/fuzz/corpus
	for target in file_decoder live_decoder metadata; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir rust/fuzz $$target rust/fuzz/corpus/$$target \
	    -- -max_total_time=$(FUZZ_SECONDS); \
	done

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
