# Two entry points do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Runs a backtest of the embedded default data set and prints its report.
run: $(STAMP)
	$(BIN)/spark backtest --data default --strategy sma_cross

## The whole test suite: lint, layering contracts, tests.
test: $(STAMP)
	$(BIN)/ruff check .
	@# import-linter finds packages on disk: show it plugins/ under its installed name.
	@mkdir -p $(VENV)/lintpath && ln -sfn "$(CURDIR)/plugins" $(VENV)/lintpath/spark_plugins
	PYTHONPATH=$(VENV)/lintpath $(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
