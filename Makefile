# Fresh machine: `make test` and `make demo` create .venv, install, and run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECK_DIRS := modeling_msqnet examples benchmarks tests setup.py

.PHONY: install test demo style quality clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,text,quality,explain,onnx,app,browser-test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) -m modeling_msqnet.demo

# Rewrites the code: lint fixes, then formatting.
style: $(STAMP)
	$(PY) -m ruff check --fix $(CHECK_DIRS)
	$(PY) -m ruff format $(CHECK_DIRS)

# Checks without writing: what CI runs before the tests.
quality: $(STAMP)
	$(PY) -m ruff check $(CHECK_DIRS)
	$(PY) -m ruff format --check $(CHECK_DIRS)

clean:
	rm -rf $(VENV) demo_output
