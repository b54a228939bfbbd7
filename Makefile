# Two commands do everything on a fresh machine:
#   make serve   create .venv, install modelport, serve the demo repository on 127.0.0.1
#   make test    create .venv, install modelport with its test extras, run lint, types and tests
# Release artifacts and deployment (docs/deploy.md):
#   make dist          sdist, wheel (twine-checked) and modelport.pyz in dist/
#   make image         the container image with podman (BASE=... to change the base image)
#   make image-cuda    the CUDA image (where nvidia/cuda can be pulled)
#   make check-deploy  promtool on the rules, manifests against their schemas, dashboard queries
#   make test-deploy   every deploy test: wheel, zipapp, container (podman), Prometheus
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
PYTEST_ARGS ?=
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' src/modelport/__init__.py)
PYZ_PYTHONS ?= 3.10 3.11 3.12 3.13
PODMAN ?= podman
IMAGE ?= modelport
BASE ?= python:3.12-slim
CUDA_BASE ?= nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
# e.g. IMAGE_BUILD_ARGS='--secret id=pip-cert,src=/etc/ssl/certs/ca-certificates.crt'
IMAGE_BUILD_ARGS ?=
# HEALTHCHECK is part of docker's image format; podman drops it from OCI images
IMAGE_FORMAT := $(if $(findstring podman,$(PODMAN)),--format docker)

.PHONY: serve test lint typecheck unit integration bench-serving clean dist image image-cuda \
	check-deploy test-deploy

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[test,dev,bench,remote,peers,litert,train,deploy]'
	touch $@ $(VENV)/.base $(VENV)/.deploy

$(VENV)/.deploy: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[deploy]'
	touch $@ $(VENV)/.base

serve: $(VENV)/.base
	$(VENV)/bin/modelport serve

lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy

# the suite runs the command line's default (--http-fronts auto: one front process that relays
# requests as they came, on 2+ cores); then the HTTP suites again with HTTP in the model process
# (--http-fronts 0: one core, servers embedded in Python) and through fronts that decode
FRONTS_TESTS := $(addprefix tests/integration/serve/,test_triton_qa.py test_triton_parity.py \
	test_bad_input.py test_shared_memory.py test_restricted_api.py test_tls.py \
	test_datatypes.py test_isolation.py test_routes.py test_readiness.py)

test: $(VENV)/.test lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)
	MODELPORT_TEST_HTTP_FRONTS=0 $(PY) -m pytest $(FRONTS_TESTS) $(PYTEST_ARGS)
	MODELPORT_TEST_HTTP_FRONTS=1 MODELPORT_TEST_HTTP_FRONTS_DECODE=1 \
		$(PY) -m pytest $(FRONTS_TESTS) $(PYTEST_ARGS)

unit: $(VENV)/.test
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.test
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

bench-serving: $(VENV)/.test
	$(PY) benchmarks/serving.py

dist: $(VENV)/.deploy
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*.whl dist/*.tar.gz
	$(PY) deploy/zipapp/build.py dist/modelport-$(VERSION)-py3-none-any.whl dist/modelport.pyz \
		--python $(PYZ_PYTHONS)

image:
	$(PODMAN) build $(IMAGE_FORMAT) --build-arg BASE=$(BASE) $(IMAGE_BUILD_ARGS) \
		-f Containerfile -t $(IMAGE):$(VERSION) .

image-cuda:
	$(PODMAN) build $(IMAGE_FORMAT) --build-arg BASE=$(CUDA_BASE) $(IMAGE_BUILD_ARGS) \
		-f Containerfile.cuda -t $(IMAGE):$(VERSION)-cuda .

check-deploy: $(VENV)/.test
	promtool check rules deploy/prometheus/rules.yaml
	promtool test rules deploy/prometheus/rules.test.yaml
	$(PY) -m pytest tests/deploy -m "not dist and not container" $(PYTEST_ARGS)

test-deploy: $(VENV)/.test
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
