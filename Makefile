# fraudwatch: `make demo` and `make test` work on a fresh machine (they create .venv first).
# The interpreter of .venv: Debian's python3.11 where there is one (a statically linked
# interpreter, built with profile-guided and link-time optimisation), else python3.11 on the PATH.
# A plain source build (pyenv's: libpython as a shared library, no PGO) spent 6-12 % more CPU
# per scored transaction (docs/benchmarks.md). `make venv PYTHON=...` picks another; an existing
# .venv is kept (`make clean` first to change it).
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3.11)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements/dev.txt pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2
NPM    := npm --prefix dashboard
# npm ci again whenever package-lock.json is newer than the installed modules
DASHBOARD_DEPS := dashboard/node_modules/.installed

.PHONY: venv demo test lint typecheck unit bench requirements clean dashboard dashboard-test

$(STAMP): requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

$(DASHBOARD_DEPS): dashboard/package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $(DASHBOARD_DEPS)

# The investigator dashboard, built into dashboard/dist (served by `fraudwatch serve`).
dashboard: $(DASHBOARD_DEPS)
	$(NPM) run build

demo: venv dashboard
	$(BIN)/fraudwatch demo

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv $(DASHBOARD_DEPS)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15

# Type-check the app and run its component tests (the browser test is part of `unit`).
dashboard-test: $(DASHBOARD_DEPS)
	$(NPM) run typecheck
	$(NPM) test

test: lint typecheck dashboard-test unit

bench: venv
	$(BIN)/python bench/run.py

# Re-pin after changing dependencies in pyproject.toml (uv writes no index URLs).
requirements: venv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements/base.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --extra dev -o requirements/dev.txt

clean:
	rm -rf $(VENV) .fraudwatch .pytest_cache .mypy_cache .ruff_cache dashboard/node_modules dashboard/dist
