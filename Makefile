# Vårdmöte: `make run` sets up and runs the service in demo mode; `make test`
# sets up and runs every check. Both work on a fresh Debian machine as root.

VENV       := .venv
BIN        := $(VENV)/bin
PYTHON     ?= python3
HASH       := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP  := $(VENV)/.run-$(HASH)
TEST_STAMP := $(VENV)/.test-$(HASH)
LOCK_HASH  := $(shell sha1sum package-lock.json | cut -c1-12)
NODE_RUN_STAMP := node_modules/.run-$(LOCK_HASH)
NODE_STAMP := node_modules/.installed-$(LOCK_HASH)

.PHONY: run test lint typecheck jscheck test-sqlite test-postgresql clean

# The service's own packages (what `make run` needs).
$(RUN_STAMP): pyproject.toml
	./scripts/install-system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.run-*
	touch $@

# The test tools too, and Debian's Chromium, PostgreSQL and Node.js.
$(TEST_STAMP): $(RUN_STAMP)
	./scripts/install-system-packages --test
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.test-*
	touch $@

# The browser packages the pages use (mediapipe for the background effects), which
# vardmote serves itself; Node.js and npm from Debian.
$(NODE_RUN_STAMP): package-lock.json | $(RUN_STAMP)
	./scripts/install-system-packages
	npm ci --omit=dev --no-audit --no-fund --loglevel=error
	touch $@

# Everything, dev tools too (TypeScript, axe-core); it serves `make run` as well.
$(NODE_STAMP): package-lock.json $(TEST_STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@ $(NODE_RUN_STAMP)

run: $(RUN_STAMP) $(NODE_RUN_STAMP)
	VARDMOTE_DEMO=$${VARDMOTE_DEMO:-1} $(BIN)/vardmote serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

jscheck: $(NODE_STAMP)
	npx --no-install tsc -p jsconfig.json

test-sqlite: $(TEST_STAMP) $(NODE_STAMP)
	$(BIN)/pytest

test-postgresql: $(TEST_STAMP) $(NODE_STAMP)
	VARDMOTE_TEST_DATABASE_URL="$$(./scripts/start-postgresql)" $(BIN)/pytest

test: lint typecheck jscheck test-sqlite test-postgresql

clean:
	rm -rf $(VENV) node_modules var test-artifacts
