# Vårdmöte: `make run` sets up and runs the service in demo mode; `make test`
# sets up and runs every check. Both work on a fresh Debian machine as root.

VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  ?= python3
STAMP   := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

NODE_STAMP := node_modules/.installed-$(shell sha1sum package-lock.json | cut -c1-12)

.PHONY: setup run test lint typecheck jscheck test-sqlite test-postgresql clean

$(STAMP): pyproject.toml
	./scripts/install-system-packages $(if $(filter test,$(MAKECMDGOALS)),--test)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP)
	./scripts/install-system-packages $(if $(filter test,$(MAKECMDGOALS)),--test)

run: setup
	VARDMOTE_DEMO=$${VARDMOTE_DEMO:-1} $(BIN)/vardmote serve

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

jscheck: setup $(NODE_STAMP)
	npx --no-install tsc -p jsconfig.json

test-sqlite: setup
	$(BIN)/pytest

test-postgresql: setup
	VARDMOTE_TEST_DATABASE_URL="$$(./scripts/start-postgresql)" $(BIN)/pytest

test: lint typecheck jscheck test-sqlite test-postgresql

clean:
	rm -rf $(VENV) var test-artifacts
