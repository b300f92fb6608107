# The README's two entry points are `make run` and `make test`; the rest is for developers.
# Everything installs itself into .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the gateway with its development tools

run: $(STAMP) ## start the gateway on the embedded default (SQLite, in-process broker, demo organisation)
	$(BIN)/tipline serve --config config/dev.toml

test: $(STAMP) ## run the whole suite: embedded backends and PostgreSQL + Redis
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff, formatting and mypy --strict
	$(BIN)/ruff check gateway tests
	$(BIN)/ruff format --check gateway tests
	$(BIN)/mypy --strict gateway

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format gateway tests
	$(BIN)/ruff check --fix gateway tests

bench: $(STAMP) ## run the benchmarks in tests/bench (on demand, never in CI)
	$(BIN)/python -m pytest tests/bench -p no:cacheprovider -o addopts="" -s

clean: ## remove the virtual environment, caches and the dev data folder
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .data
