# Two commands do everything on a fresh machine:
#   make serve   create .venv, install modelport, serve the demo repository on 127.0.0.1
#   make test    create .venv, install modelport with its test extras, run lint, types and tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: serve test lint typecheck unit integration bench-serving clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[test,dev,bench,remote,peers,litert,deploy]'
	touch $@ $(VENV)/.base

serve: $(VENV)/.base
	$(VENV)/bin/modelport serve

lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy

test: $(VENV)/.test lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(VENV)/.test
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.test
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

bench-serving: $(VENV)/.test
	$(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
