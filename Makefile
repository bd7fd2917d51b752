# Rapport: `make run` serves the app with demo data, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export RAPPORT_DATA_DIR ?= $(CURDIR)/data

.PHONY: run test install install-test assets lint check-migrations typecheck test-fast bench screenshots clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Rapport needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error

src/rapport/static/vendor/.built: node_modules/.package-lock.json scripts/build-assets.mjs
	npm run --silent build
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
assets: src/rapport/static/vendor/.built

# The demo's login file and the start-up banner name the address actually served (HOST, PORT).
run: export RAPPORT_HOST = $(HOST)
run: export RAPPORT_PORT = $(PORT)
run: install assets
	$(BIN)/rapport migrate --noinput -v0
	$(BIN)/rapport demo --if-empty
	$(BIN)/rapport collectstatic --noinput -v0
	$(BIN)/rapport up --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

check-migrations: install-test
	$(BIN)/rapport makemigrations --check --dry-run

test: install-test assets lint check-migrations
	$(BIN)/pytest

test-fast: install-test assets
	$(BIN)/pytest -m "not browser" -x

bench: install-test assets
	$(BIN)/python bench/run.py

# The main pages at 1280 and 390 px on a throwaway demo database, into docs/screenshots/ (docs/screenshots.md).
screenshots: install-test assets
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) node_modules src/rapport/static/vendor
