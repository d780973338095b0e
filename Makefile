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

# The npm packages of package.json (tus-js-client for the upload tests), exactly as package-lock.json pins them.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: serve the embedded default (SQLite, in-memory channel layer, one process) at http://$(HOST):$(PORT)
run: $(VENV)/.runtime-installed
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(BIN)/python -m netcall_site.serve --host $(HOST) --port $(PORT)

## test: install what is missing (Python packages, Chromium) and run code health checks and every test
test: lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	DEBUG=1 $(BIN)/mypy .

pytest: $(VENV)/.dev-installed node_modules/.installed chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-postgres: the test suite against PostgreSQL (DATABASE_URL, default the local server)
test-postgres: $(VENV)/.dev-installed node_modules/.installed chromium
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/netcall} $(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: every benchmark beside its baseline (long: tens of minutes); figures go to docs/performance.md by hand
bench: $(VENV)/.dev-installed chromium
	@command -v ffmpeg >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq ffmpeg >/dev/null; } || { echo "bench/live_recording.py needs ffmpeg for its baseline"; exit 1; }
	$(BIN)/python -m bench.signalling
	$(BIN)/python -m bench.upload
	$(BIN)/python -m bench.live_recording --seconds 60
	$(BIN)/python -m bench.member_recording
	$(BIN)/python -m bench.recording_memory

chromium:
	@scripts/ensure-chromium.sh $(BIN)/python

clean:
	rm -rf $(VENV) node_modules var/*.sqlite3 .pytest_cache .mypy_cache .ruff_cache
