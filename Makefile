# EStore: `make run` serves the suite, `make test` proves it. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run bench test check lint typecheck protolint generate generate-check system-deps clean

run: $(INSTALLED) system-deps
	$(BIN)/estore up

bench: $(INSTALLED) system-deps
	$(BIN)/estore bench

test: check system-deps
	$(BIN)/pytest

check: $(INSTALLED) lint typecheck protolint generate-check

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

protolint: $(INSTALLED)
	$(BIN)/buf lint

generate: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py

generate-check: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py --check

system-deps:
	@bash scripts/ensure_system_deps.sh

$(INSTALLED): pyproject.toml
	@bash scripts/ensure_system_deps.sh --python-only
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
