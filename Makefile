# The README's two entry points are `make run` and `make test`; the rest is for developers.
# Everything installs itself into .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UI       := gateway/web/ui
UI_STAMP := $(UI)/node_modules/.installed
# Debian packages the tests drive for real, as command:package: Chromium (tests/e2e),
# nginx, tor, systemd-analyze and openssl (tests/deploy), PostgreSQL's and Redis's server
# binaries for the private instances of tests/fault. A missing one fails its tests
# rather than skipping them, so `make install` brings whatever is missing, with one
# apt-get update for all. (On a workstation this also installs nginx's and tor's services.)
DEBIAN_TOOLS := /usr/bin/chromium:chromium /usr/sbin/nginx:nginx /usr/sbin/tor:tor \
                /usr/bin/systemd-analyze:systemd /usr/bin/openssl:openssl \
                /usr/bin/pg_ctlcluster:postgresql /usr/bin/redis-server:redis-server

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench soak fuzz security-long clean debian-packages

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

# Playwright never downloads a browser: it drives Debian's Chromium.
debian-packages: ## install the Debian packages the tests need, if any is missing
	@missing=$$(for tool in $(DEBIAN_TOOLS); do [ -x "$${tool%%:*}" ] || printf '%s ' "$${tool#*:}"; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

install: $(STAMP) $(UI_STAMP) debian-packages ## create .venv, install the gateway, its tools, libsodium.js and the Debian packages the tests use

run: $(STAMP) $(UI_STAMP) ## start the gateway on the embedded default (SQLite, in-process broker, demo organisation)
	$(BIN)/tipline serve --config config/dev.toml

test: $(STAMP) $(UI_STAMP) debian-packages ## run the whole suite: embedded backends and PostgreSQL + Redis
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff, formatting and mypy --strict
	$(BIN)/ruff check gateway tests
	$(BIN)/ruff format --check gateway tests
	$(BIN)/mypy --strict gateway

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format gateway tests
	$(BIN)/ruff check --fix gateway tests

BENCH ?= full
bench: $(STAMP) ## W1-W5 against tipline serve with both ceilings (on demand, never in CI; BENCH=quick for a short run); docs/PERFORMANCE.md
	$(BIN)/python -m tests.bench run --preset $(BENCH)

# The fault soak (tests/fault/soak.py): private PostgreSQL and Redis, two gateway processes,
# faults injected at random; e.g. `make soak SOAK_SECONDS=60` for a short run.
SOAK_SECONDS ?= 600
SOAK_RATE    ?= 1
soak: $(STAMP) ## fault soak on demand: SOAK_SECONDS (600) of tips at SOAK_RATE/s, random faults, counts printed
	TIPLINE_SOAK_SECONDS=$(SOAK_SECONDS) TIPLINE_SOAK_RATE=$(SOAK_RATE) \
		$(BIN)/python -m pytest tests/fault/soak.py -s -p no:cacheprovider

FUZZ_SECONDS ?= 600
fuzz: $(STAMP) ## fuzz every untrusted-input parser with atheris for FUZZ_SECONDS (600); crashes land in .fuzz/
	mkdir -p .fuzz
	$(BIN)/python tests/security/fuzz_atheris.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -artifact_prefix=.fuzz/

security-long: $(STAMP) ## the attack suite with long Schemathesis (500 examples per operation) and Hypothesis runs
	TIPLINE_SCHEMATHESIS_EXAMPLES=500 TIPLINE_SCHEMATHESIS_SECONDS=3600 TIPLINE_FUZZ_EXAMPLES=5000 \
		$(BIN)/python -m pytest tests/security -o timeout=7200 -p no:cacheprovider

clean: ## remove the virtual environment, caches and the dev data folder
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .data .fuzz
