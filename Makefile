# EStore: `make run` serves the suite, `make test` proves it. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run bench test check lint typecheck protolint breaking generate generate-check \
	contract-baseline system-deps client-deps clean

run: $(INSTALLED) system-deps
	$(BIN)/estore up

bench: $(INSTALLED) system-deps
	$(BIN)/estore bench

test: check system-deps client-deps
	$(BIN)/pytest

check: $(INSTALLED) lint typecheck protolint breaking generate-check

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

protolint: $(INSTALLED)
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code

# The contract as released (contract/baseline.binpb): a change that would break a client built
# against it fails; additions pass. Refresh the baseline only when a contract ships.
breaking: $(INSTALLED)
	$(BIN)/buf breaking protos --against contract/baseline.binpb

contract-baseline: $(INSTALLED)
	$(BIN)/buf build protos --exclude-source-info -o contract/baseline.binpb

generate: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py

generate-check: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py --check

system-deps:
	@bash scripts/ensure_system_deps.sh

# Node.js for clients/node, protoc and the Go and Java plugins for the generation templates.
client-deps:
	@bash scripts/ensure_system_deps.sh --clients

$(INSTALLED): pyproject.toml
	@bash scripts/ensure_system_deps.sh --python-only
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
