# Two entry points do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean install vendor

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@# compile the numba kernels once (~20 s of CPU), so no run or test pays for it later
	$(BIN)/python -m spark.service.warmup
	touch $(STAMP)

## Serves the API and dashboard on http://127.0.0.1:4001 with mutations on. Without ADMIN_TOKEN in the environment,
## a generated token is kept in .spark/admin-token (mode 0600, reused on later runs) and printed beside the URL.
run: $(STAMP)
	@if [ -z "$$ADMIN_TOKEN" ] && [ ! -s .spark/admin-token ]; then \
		mkdir -p .spark && (umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > .spark/admin-token); \
	fi
	@[ -n "$$ADMIN_TOKEN" ] || chmod 600 .spark/admin-token
	ADMIN_ENABLED=true ADMIN_TOKEN="$${ADMIN_TOKEN:-$$(cat .spark/admin-token)}" $(BIN)/spark serve --show-token

## The whole test suite: lint (ruff check, ruff format --check, the import-linter contracts), then the tests.
test: lint
	$(BIN)/pytest

## Lint alone: what `make test` runs before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# import-linter finds packages on disk: show it plugins/ under its installed name.
	@mkdir -p $(VENV)/lintpath && ln -sfn "$(CURDIR)/plugins" $(VENV)/lintpath/spark_plugins
	PYTHONPATH=$(VENV)/lintpath $(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/dashboard.py

## Fetch the dashboard's charting library (lightweight-charts, pinned in scripts/vendor.py) from the npm registry,
## check its hashes and write it to spark/api/static/vendor/. Not part of `make test`: the committed file is what runs.
vendor:
	$(PYTHON) scripts/vendor.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
