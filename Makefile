# netcall — the two commands: `make run` and `make test`. Everything they need is installed on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-postgres bench lint typecheck pytest chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run pip whenever a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## run: serve the embedded default (SQLite, in-memory channel layer, one process) at http://$(HOST):$(PORT)
run: $(VENV)/.runtime-installed
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} NETCALL_PUBLIC_URL=$${NETCALL_PUBLIC_URL:-http://$(HOST):$(PORT)} \
		$(BIN)/python -m netcall_site.serve --host $(HOST) --port $(PORT)

## test: install what is missing (Python packages, Chromium) and run code health checks and every test
test: lint typecheck sdk-types pytest test-js

lint: $(VENV)/.dev-installed lint-js
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	DEBUG=1 $(BIN)/mypy .

pytest: $(VENV)/.dev-installed node_modules/.installed chromium sdk-types
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-postgres: the suite against PostgreSQL (DATABASE_URL, default the local server): every test but the
## browser tests whose server work is the same on either engine (those not marked `engine`; the scale-out
## ones run on PostgreSQL in `make test` already). PYTEST_ARGS= (empty) runs all of them.
POSTGRES_PYTEST_ARGS ?= -m "not e2e or engine"
test-postgres: $(VENV)/.dev-installed node_modules/.installed chromium sdk-types
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/netcall} $(BIN)/python -m pytest $(if $(PYTEST_ARGS),$(PYTEST_ARGS),$(POSTGRES_PYTEST_ARGS))

## bench: every benchmark beside its baseline (long: tens of minutes); figures go to docs/performance.md by hand
bench: $(VENV)/.dev-installed chromium
	@command -v ffmpeg >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq ffmpeg >/dev/null; } || { echo "bench/live_recording.py needs ffmpeg for its baseline"; exit 1; }
	$(BIN)/python -m bench.signalling
	$(BIN)/python -m bench.signalling --scale-out
	$(BIN)/python -m bench.upload --floor
	$(BIN)/python -m bench.live_recording --seconds 60
	$(BIN)/python -m bench.recording_memory

chromium:
	@scripts/ensure-chromium.sh $(BIN)/python

clean:
	rm -rf $(VENV) node_modules var/*.sqlite3 var/*.sqlite3-wal var/*.sqlite3-shm .pytest_cache .mypy_cache .ruff_cache static/netcall/types

# The npm packages of package.json (TypeScript, fake-indexeddb, tus-js-client for the upload tests), exactly
# as package-lock.json pins them. The SDK's checks and node tests use them;
# the served files are native ES modules, nothing is built. Installed again whenever the lock file changes.
.PHONY: lint-js test-js sdk-types
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq nodejs npm >/dev/null; } || { echo "the SDK's checks need Node.js 20+ and npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## lint-js: type-check the SDK's JSDoc (static/jsconfig.json: checkJs, strict) and the event map's uses (tests/js/types/)
lint-js: node_modules/.installed
	node_modules/.bin/tsc --noEmit -p static/jsconfig.json
	node_modules/.bin/tsc --noEmit -p tests/js/jsconfig.json

## test-js: the SDK's unit tests in Node (tests/js/): fixers fed Chromium's own recordings and checked with PyAV,
## SHA-256, file names, the upload loop against a tus server, the journal
test-js: node_modules/.installed $(VENV)/.dev-installed chromium
	NETCALL_TEST_PYTHON=$(BIN)/python node --test tests/js/

## sdk-types: the npm package `netcall` (static/netcall/package.json) ships TypeScript declarations generated from
## the SDK's JSDoc (static/jsconfig.types.json) into static/netcall/types/ (git-ignored); the JavaScript is not built.
## tests/e2e/test_sdk_package.py packs the package, installs, bundles and type-checks it.
SDK_TYPES_STAMP := static/netcall/types/.generated
$(SDK_TYPES_STAMP): $(wildcard static/netcall/*.js) static/jsconfig.json static/jsconfig.types.json node_modules/.installed
	rm -rf static/netcall/types
	node_modules/.bin/tsc -p static/jsconfig.types.json
	touch $@

sdk-types: $(SDK_TYPES_STAMP)
