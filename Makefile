# Everything a fresh machine needs comes from these targets; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12 (the Lambda runtime) when the machine has it, else python3 >= 3.11.
PYTHON_CANDIDATES := python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.11 python3
BOOT_PYTHON ?= $(shell for p in $(PYTHON_CANDIDATES); do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?= u2netp
MODELS_DIR := models

.PHONY: help setup model test test-unit test-integration lint fmt clean build validate run serve bench bench-quality

help:
	@echo "make setup   - create .venv, install the engine, the CLI and dev tools, fetch the default model"
	@echo "make run     - run the whole S3 pipeline locally on an embedded AWS emulator"
	@echo "make test    - unit, functional and integration tests, template lint"
	@echo "make lint    - ruff + mypy"
	@echo "make model [MODEL=u2netp|isnet] - fetch and verify model weights into $(MODELS_DIR)/"
	@echo "make build   - sam build (no Docker needed)"
	@echo "make bench   - speed, memory and quality benchmark against rembg"

$(STAMP): pyproject.toml
	@test -n "$(BOOT_PYTHON)" || { echo "need python3.12 or python3 >= 3.11" >&2; exit 1; }
	@test -x $(PY) || $(BOOT_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)
	@$(MAKE) --no-print-directory model MODEL=u2netp
	@echo "setup done: $$($(PY) --version), venv in $(VENV)"

model: $(STAMP)
	$(PY) layers/model/fetch_model.py $(MODEL) --dest $(MODELS_DIR)

test: setup
	$(PY) -m pytest
	$(MAKE) --no-print-directory validate

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: setup
	$(PY) -m pytest tests/integration

# The local runner: template.yaml's stack on an embedded moto server, the real handler behind an SQS poller.
run: setup
	PYTHONPATH=local $(PY) -m bgremove_local run --out out

serve: setup
	PYTHONPATH=local $(PY) -m bgremove_local serve $(if $(WATCH),--watch $(WATCH))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf .aws-sam out .pytest_cache .mypy_cache .ruff_cache
