# fraudwatch: `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements/dev.txt pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2

.PHONY: venv demo test lint typecheck unit bench requirements clean

$(STAMP): requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/fraudwatch demo

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15

test: lint typecheck unit

bench: venv
	$(BIN)/python bench/run.py

# Re-pin after changing dependencies in pyproject.toml (uv writes no index URLs).
requirements: venv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements/base.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --extra dev -o requirements/dev.txt

clean:
	rm -rf $(VENV) .fraudwatch .pytest_cache .mypy_cache .ruff_cache
