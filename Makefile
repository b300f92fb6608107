# The README's two entry points are `make run` and `make test`; the rest is for developers.
# Everything installs itself into .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UI       := gateway/web/ui
UI_STAMP := $(UI)/node_modules/.installed
CHROMIUM := /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# libsodium.js for the browser UI, exactly as package-lock.json pins it (again when the lock changes).
$(UI_STAMP): $(UI)/package.json $(UI)/package-lock.json
	cd $(UI) && npm ci --ignore-scripts --no-audit --no-fund
	touch $(UI_STAMP)

# Debian's Chromium for the browser tests (tests/e2e); Playwright never downloads a browser.
$(CHROMIUM):
	apt-get update
	apt-get install -y chromium

install: $(STAMP) $(UI_STAMP) $(CHROMIUM) ## create .venv, install the gateway, its tools, libsodium.js and Chromium

run: $(STAMP) $(UI_STAMP) ## start the gateway on the embedded default (SQLite, in-process broker, demo organisation)
	$(BIN)/tipline serve --config config/dev.toml

test: $(STAMP) $(UI_STAMP) $(CHROMIUM) ## run the whole suite: embedded backends and PostgreSQL + Redis
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
