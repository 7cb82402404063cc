# Every target creates .venv with the machine's python3 on first use and installs what it
# needs, again when pyproject.toml changed (a stamp file is older than it): `make run` the
# server alone (the `server` extra), the other targets the whole dev toolchain (`dev`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-server
DEV_STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench clean

# The dev install holds the server's: a .venv made by `make test` serves without installing.
$(SERVE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test $(DEV_STAMP) -nt pyproject.toml || $(BIN)/python -m pip install --quiet -e '.[server]'
	touch $(SERVE_STAMP)

$(DEV_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

run: $(SERVE_STAMP)
	$(BIN)/ostiary serve --demo --host $(HOST) --port $(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy --strict src tests benchmarks examples

test: lint
	$(BIN)/pytest

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

bench: $(DEV_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
