# webstack: every entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
WEBSTACK := $(BIN)/webstack
PYTEST := $(BIN)/pytest
PYTEST_ARGS ?=
KUBE_VERSIONS ?=
# `make check` runs every check, the server one (a real kube-apiserver, seconds) included; the
# upgrade check needs something to compare with: `make check BASE_REF=origin/main`
CHECKS ?= values kubernetes policy references hooks server
BASE_REF ?=
ARTIFACTS ?= build/reports

.PHONY: help setup test test-unit test-toolchain test-static test-app test-stack test-cluster test-node images test-distribution package lint render check smoke smoke-matrix bench docs clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt app/requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt -e .
	@touch $@

setup: $(VENV)/.installed ## create .venv, build and cache the pinned tools, install apt packages (idempotent)
	@$(WEBSTACK) setup

test: setup ## run every tier: unit, toolchain, static, app, stack, cluster, node, distribution
	$(PYTEST) tests $(PYTEST_ARGS) --junitxml=$(ARTIFACTS)/pytest.xml

test-unit: setup ## pure logic, no servers (seconds)
	$(PYTEST) tests/unit $(PYTEST_ARGS)

test-toolchain: setup ## the set-up and helm layer
	$(PYTEST) tests/toolchain $(PYTEST_ARGS)

test-static: setup ## render, schema, policy and lint checks with the real helm binary
	$(PYTEST) tests/static $(PYTEST_ARGS)

test-app: setup ## the Flask service against a real MariaDB
	$(PYTEST) tests/app $(PYTEST_ARGS)

test-stack: setup ## real nginx -> gunicorn -> MariaDB wired from the rendered chart
	$(PYTEST) tests/stack $(PYTEST_ARGS)

test-cluster: setup ## the release lifecycle on a local kwok cluster
	$(PYTEST) tests/cluster $(PYTEST_ARGS)

test-node: setup ## the real node: containers really run; the chart's whole lifecycle on it
	$(PYTEST) tests/node tests/images $(PYTEST_ARGS)

test-distribution: setup ## package, sign, repository index, OCI push and pull
	$(PYTEST) tests/distribution $(PYTEST_ARGS)

lint: setup ## ruff, then helm lint --strict, yamllint, Chart.yaml rules and README freshness
	$(BIN)/ruff check scripts app tests bench
	$(WEBSTACK) lint

render: setup ## render the chart for every values set into build/render
	$(WEBSTACK) render --matrix --output build/render

check: setup ## the static gate: values schema, Kubernetes schema, policy, references, hooks, real API server
	$(WEBSTACK) check $(foreach c,$(CHECKS),--check $(c)) $(if $(BASE_REF),--check upgrade --base-ref $(BASE_REF)) \
		$(if $(KUBE_VERSIONS),--kube-version $(KUBE_VERSIONS))

images: setup ## build the node's images (app from app/Dockerfile, pause, MySQL/nginx stand-ins); cached
	$(WEBSTACK) images build

smoke: setup ## main job: real local node (NODES=2: two nodes, drain, node loss), install, helm test, HTTP, upgrade, rollback, uninstall, report
	$(WEBSTACK) smoke --report-dir $(ARTIFACTS)/smoke $(if $(NODES),--nodes $(NODES))

smoke-matrix: setup ## every ci/*-values.yaml installed at once on kwok (PROVIDER=node, JOBS=N), one row each
	$(WEBSTACK) smoke --matrix --provider $(or $(PROVIDER),kwok) --report-dir $(ARTIFACTS)/smoke-matrix \
		$(if $(JOBS),--jobs $(JOBS))

package: setup ## helm package (signed when a key is given) and repository index into dist/
	$(WEBSTACK) package --output dist

bench: setup ## benchmarks: tables and ratios (not tests)
	$(BIN)/python -m bench

docs: setup ## regenerate the chart READMEs' values tables and the schemas' shared definitions
	$(WEBSTACK) docs --write

clean: ## remove the virtualenv and build outputs (the tool cache in ~/.cache/webstack stays)
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .hypothesis
