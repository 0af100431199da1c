# modelops developer entry points. `make test` and `make demo` bootstrap everything they need
# on a fresh Debian machine: a virtualenv, Debian's prometheus, and the control plane built from
# the Go module proxy (cached in ~/.cache/modelops, keyed by version).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_ARGS ?=
LINT_PATHS := operator devcluster tests $(wildcard bench)
# every test run prints a coverage table (files not fully covered) and the total; no threshold yet.
# [tool.coverage.*] in pyproject.toml: branch coverage, the operator subprocesses measured too.
COV_ARGS ?= --cov=modelops --cov=modelops_devcluster --cov-report=term:skip-covered

.PHONY: help deps venv prometheus cluster-binaries fmt lint crds check-crds dashboards check-dashboards unit integration test demo cluster clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# setup.py and the C source too: an edited _bucketing.c is rebuilt (pip install -e builds it in place).
# The dev stack (devcluster/) is its own distribution, installed next to the operator in one resolution.
$(VENV)/.installed: pyproject.toml setup.py operator/modelops/runtime/_bucketing.c devcluster/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -e ./devcluster
	touch $@

venv: $(VENV)/.installed ## python virtualenv with the project, its dev tools and the dev stack

prometheus: ## Debian's prometheus + promtool (tests start their own servers)
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  echo "installing Debian's prometheus"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

cluster-binaries: venv ## etcd, kube-*, kubectl, kwok, helm from the Go module proxy (cached)
	$(PY) -m modelops_devcluster build

deps: venv prometheus cluster-binaries ## everything tests and the demo need

crds: venv ## regenerate crds/ and the chart's CRDs from the API models
	$(PY) -m modelops.cli.main crds --out crds --out charts/modelops-operator/files/crds

check-crds: venv
	$(PY) -m modelops.cli.main crds --check crds --check charts/modelops-operator/files/crds

dashboards: venv ## regenerate the chart's Grafana dashboards (charts/modelops-operator/files/dashboards) from code
	$(PY) -m modelops_devcluster dashboards --out charts/modelops-operator/files/dashboards

check-dashboards: venv
	$(PY) -m modelops_devcluster dashboards --check charts/modelops-operator/files/dashboards

fmt: venv ## fix what ruff can fix, then format (what the pre-commit hooks do)
	ruff check --fix $(LINT_PATHS)
	ruff format $(LINT_PATHS)

lint: venv check-crds check-dashboards ## ruff, mypy --strict, import-linter layer contracts
	ruff check $(LINT_PATHS)
	ruff format --check $(LINT_PATHS)
	mypy
	lint-imports

unit: venv ## fast tier: no cluster, no Prometheus
	$(PY) -m pytest -m "not integration" $(COV_ARGS) $(PYTEST_ARGS)

integration: deps ## real control plane and real Prometheus
	$(PY) -m pytest -m integration $(COV_ARGS) $(PYTEST_ARGS)

test: deps lint ## everything: lint, unit, integration (what CI runs)
	$(PY) -m pytest $(COV_ARGS) $(PYTEST_ARGS)

demo: deps ## local control plane + operator: apply the examples, show what kubectl shows
	$(PY) -m modelops_devcluster demo

cluster: deps ## a dev control plane on loopback until Ctrl-C (prints the KUBECONFIG)
	$(PY) -m modelops_devcluster up

clean: ## remove the virtualenv and caches (the control-plane cache stays in ~/.cache/modelops)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache .coverage .coverage.*
