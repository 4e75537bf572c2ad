# etl-orchestrator: `make run` starts everything on this machine, `make test` checks everything.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# Installed by the last successful `pip install`; re-made whenever pyproject.toml changes.
STAMP := $(VENV)/.installed
# bench/_*.py and noop_jobs.py are what the benchmarks import, not benchmarks.
BENCHES := $(filter-out bench/_% bench/noop_jobs.py,$(wildcard bench/*.py))
MYPY_PATHS := etl_orchestrator tests rxconfig.py $(if $(wildcard bench/*.py),bench)

# Reflex must use the bun that npm installed (it cannot download its own here), and stay quiet.
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false

.PHONY: help run test lint bench clean deps .venv bun services chromium axe prometheus

help:
	@echo "make run    set up (first time only) and run the product: scheduler, worker, web, demo jobs"
	@echo "make test   set up, start PostgreSQL and Redis if needed, lint, then run the tests"
	@echo "make lint   ruff check, ruff format --check, mypy --strict"
	@echo "make bench  run every bench/*.py"
	@echo "make clean  remove the virtualenv, the built web app and caches (keeps ./data)"

run: deps
	$(BIN)/etl-orchestrator dev

test: deps services chromium axe prometheus lint
	@rc=0; $(BIN)/pytest --durations=15 || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests: check testpaths in pyproject.toml" >&2; fi; \
	exit $$rc

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PATHS)

bench: deps
	@if [ -z "$(BENCHES)" ]; then echo "no benchmarks in bench/ yet"; fi
	@for script in $(BENCHES); do echo "== $$script"; $(BIN)/python "$$script"; done

deps: .venv bun

.venv: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

bun:
	@command -v bun >/dev/null 2>&1 || npm install -g --no-audit --no-fund bun@1
	@bun --version >/dev/null || { echo "error: bun does not run: npm install -g bun@1" >&2; exit 1; }

services:
	@bash scripts/services.sh

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update -q && $$sudo apt-get install -y -q chromium; \
	fi

# The metrics tests start a private Prometheus (Debian's package; its service is not used).
prometheus:
	@if ! command -v prometheus >/dev/null 2>&1; then \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update -q && $$sudo apt-get install -y -q --no-install-recommends prometheus; \
	fi

# axe-core audits the pages' accessibility in the browser tests (node_modules/ is git-ignored).
AXE := node_modules/axe-core/axe.min.js
axe: $(AXE)

$(AXE):
	npm install --no-save --no-package-lock --no-audit --no-fund --prefix . axe-core@4

clean:
	rm -rf $(VENV) .web .states node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
	find etl_orchestrator tests bench alembic -name __pycache__ -type d -prune -exec rm -rf {} +
