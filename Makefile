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
MODEL ?= u2net
MODELS_DIR := models

.PHONY: help setup model test test-unit test-integration lint fmt clean build validate run serve bench bench-quality

help:
	@echo "make setup   - create .venv, install the engine, the CLI and dev tools, fetch the models (u2net, u2netp)"
	@echo "make run     - run the whole S3 pipeline locally on an embedded AWS emulator"
	@echo "make chaos [N=1000] [SEED=1] - N uploads through the local pipeline with faults injected; fails if any is lost, duplicated or wrong"
	@echo "make test    - ruff + mypy, unit, functional and integration tests, the page's browser tests, template lint"
	@echo "make test-browser - the try-it page (GET /) in headless Chromium; installs chromium + chromium-driver if missing"
	@echo "make page-screenshots - rerun the browser tests, writing the README's screenshots to docs/img/"
	@echo "make lint    - ruff + mypy"
	@echo "make openapi - write docs/openapi.json, the HTTP API's OpenAPI document (what /docs serves)"
	@echo "make fuzz [MINUTES=10] - fuzz decoder, engine, options, metadata and event parsing for MINUTES minutes"
	@echo "make model [MODEL=u2net|u2netp|isnet|u2net-fp32] - fetch and verify model weights into $(MODELS_DIR)/"
	@echo "make build [ARCH=x86_64|arm64] - sam build (no Docker needed), prints layer sizes"
	@echo "make validate - sam validate --lint, cfn-lint and checkov on template.yaml (offline)"
	@echo "make gpu-model [GPU_MODEL=u2net] - the GPU endpoint's Triton model repository and out/gpu-model/model.tar.gz"
	@echo "make gpu-upload [BUCKET=...] - model.tar.gz to SAM's artifact bucket; prints GpuModelDataUrl for sam deploy"
	@echo "make bench   - speed, memory and quality benchmark against rembg (bench/README.md)"
	@echo "make bench-quality - the quality part of make bench only (mattes, and edges on a new background)"
	@echo "make bench-throughput - the CLI folder throughput part of make bench only (bgremove vs rembg p)"
	@echo "make bench-api [API_BENCH_ARGS=...] - HTTP API overhead vs a direct engine call, requests/s (bench/run_api.py)"
	@echo "make bench-jobs [JOBS_BENCH_ARGS=...] - async dialects vs the S3 path, and a burst of jobs (bench/run_jobs.py)"
	@echo "make bench-remote - the GPU offload on the Triton stand-in: hop cost, JSON vs binary, batching (CPU)"
	@echo "make bench-memory - peak memory of the worst valid inputs and options (MemorySize, docs/decisions/0006)"
	@echo "make capacity [CAPACITY_ARGS=...] - capacity model: time, concurrency, cost, bottleneck of a load (docs/capacity.md)"

$(STAMP): pyproject.toml
	@test -n "$(BOOT_PYTHON)" || { echo "need python3.12 or python3 >= 3.11" >&2; exit 1; }
	@test -x $(PY) || $(BOOT_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)
	@$(MAKE) --no-print-directory model MODEL=u2net
	@$(MAKE) --no-print-directory model MODEL=u2netp
	@echo "setup done: $$($(PY) --version), venv in $(VENV)"

model: $(STAMP)
	$(PY) layers/model/fetch_model.py $(MODEL) --dest $(MODELS_DIR)

# Lint first: it takes seconds, and the code is kept ruff- and mypy-clean (docs/development.md).
test: setup
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest --ignore=tests/browser --durations=15
	$(MAKE) --no-print-directory test-browser
	$(MAKE) --no-print-directory validate

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: setup
	$(PY) -m pytest tests/integration --durations=15

# The try-it page (GET /) walked in headless Chromium (tests/browser/, about 30 s). Debian's chromium and
# chromium-driver are installed when missing (CI machines start without them); Selenium is pointed at them
# and downloads nothing. CHROMIUM= and CHROMEDRIVER= point elsewhere. Screenshots land in out/browser/;
# make page-screenshots writes the README's (docs/img/page-1280.png, page-390.png) instead.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: browser test-browser page-screenshots
browser:
	@test -x $(CHROMIUM) && test -x $(CHROMEDRIVER) || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

test-browser: setup browser
	CHROMIUM=$(CHROMIUM) CHROMEDRIVER=$(CHROMEDRIVER) $(PY) -m pytest tests/browser

page-screenshots: setup browser
	CHROMIUM=$(CHROMIUM) CHROMEDRIVER=$(CHROMEDRIVER) BGREMOVE_SCREENSHOTS=docs/img $(PY) -m pytest tests/browser -q

# Property-based fuzzing (tests/fuzz/): `make test` runs a short, derandomized pass of every target; this runs
# them for MINUTES minutes with a random seed, prints the examples run per target and every finding with its
# reproducer (inputs kept in out/fuzz/), and fails if there was any.
MINUTES ?= 10
.PHONY: fuzz
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.run --minutes $(MINUTES) --workdir out/fuzz

# The local runner: template.yaml's stack on an embedded moto server, the real handler behind an SQS poller.
# INFERENCE=sagemaker: the default model runs in the Triton stand-in (containers/inference), on CPU and loopback
# here, serving the model's Triton repository (built into models/.triton-cpu), reached through a stand-in for
# SageMaker's runtime API (local/bgremove_local/inference.py).
run: setup
	PYTHONPATH=local:containers/inference $(PY) -m bgremove_local run --out out $(if $(INFERENCE),--inference $(INFERENCE))

serve: setup
	PYTHONPATH=local $(PY) -m bgremove_local serve $(if $(WATCH),--watch $(WATCH)) $(if $(ALLOW_LOOPBACK),--allow-loopback)

# N uploads through the local pipeline with AWS errors, crashes, a model outage, duplicate and late
# notifications and overwrites (local/bgremove_local/chaos/); the last line counts lost/duplicated/wrong.
.PHONY: chaos
chaos: setup
	PYTHONPATH=local $(PY) -m bgremove_local chaos --uploads $(or $(N),1000) --seed $(or $(SEED),1)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# docs/openapi.json: the OpenAPI document the API serves at /docs (bgremove_api.app.openapi_document), keys
# sorted, regenerated from the routes and their schemas; tests/unit/api/test_openapi_document.py fails when stale.
.PHONY: openapi
openapi: $(STAMP)
	$(PY) -m bgremove_api.openapi_file docs/openapi.json

clean:
	rm -rf .aws-sam out .pytest_cache .mypy_cache .ruff_cache

# ---- template checks and sam build (no Docker) -------------------------------------------------------
# sam and cfn-lint run fully offline: `sam validate --lint` is cfn-lint alone (no AWS call, no credentials),
# the region is given on the command line and telemetry is off. AWS_EC2_METADATA_DISABLED stops botocore
# from probing the instance metadata service if anything looks for credentials.
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
ARCH ?= x86_64
# Lambda's limit on a function plus all its layers, unzipped, is 250 MiB = 262.1 MB; the build fails over
# 90% of it (layers/sizes.py), so a dependency that grows does not break the next deploy.
LAMBDA_BUDGET_MB := 236

# checkov scans template.yaml for insecure settings. It has a venv of its own inside .venv: it pins boto3,
# packaging and networkx to old releases, and installed into .venv it would downgrade aws-sam-cli, cfn-lint,
# boto3 and boto3-stubs there. Offline: --skip-download and BC_SKIP_MAPPING=TRUE stop its downloads from the
# Prisma Cloud platform, CKV_SKIP_PACKAGE_UPDATE_CHECK its look-up of newer releases on PyPI.
# Every finding is fixed or skipped in its resource's Metadata with a comment (checkov: skip: id, comment);
# CHECKOV_REPORT fails on a failed check, a skip without a comment, or a resource that was not scanned.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
CHECKOV_ENV := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true

define CHECKOV_REPORT
import json, sys
from cfnlint.decode import decode
output = json.load(sys.stdin)
scan = next(r for r in (output if isinstance(output, list) else [output]) if r["check_type"] == "cloudformation")
summary, failed, skipped = scan["summary"], scan["results"]["failed_checks"], scan["results"]["skipped_checks"]
template, _ = decode("template.yaml")
resources = len(template["Resources"])
print(f"checkov {summary['checkov_version']}: {summary['resource_count']} of {resources} resources scanned, "
      f"{summary['passed']} checks passed, {summary['failed']} failed, {summary['skipped']} skipped (reasons in "
      "template.yaml)")
# checkov's comment for a skip that has none
unexplained = [c for c in skipped if c["check_result"].get("suppress_comment", "") in ("", "No comment provided")]
for check in failed + unexplained:
    print(f"  {check['check_id']} {check['check_result']['result']} on {check['resource']}: {check['check_name']}")
sys.exit(1 if failed or unexplained or summary["parsing_errors"] or summary["resource_count"] != resources else 0)
endef
export CHECKOV_REPORT

$(CHECKOV_STAMP):
	@test -n "$(BOOT_PYTHON)" || { echo "need python3.12 or python3 >= 3.11" >&2; exit 1; }
	rm -rf $(CHECKOV_VENV)
	$(BOOT_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $@

validate: $(STAMP) $(CHECKOV_STAMP)
	$(SAM_ENV) $(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(SAM_ENV) $(VENV)/bin/cfn-lint template.yaml
	set -o pipefail; $(CHECKOV_ENV) $(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation \
		--skip-download --output json | $(PY) -c "$$CHECKOV_REPORT"

# sam builds each layer with its own Makefile (layers/*/Makefile) and the function with the python3.12
# builder (no requirements.txt: every dependency comes from the layers). MAKEFLAGS is dropped so this make's
# flags and variables do not leak into the layer builds; the architecture reaches them as LAMBDA_ARCH, and
# the venv's python 3.12 is first on PATH for sam's python builder.
build: $(STAMP)
	@case "$(ARCH)" in x86_64|arm64) ;; *) echo "ARCH must be x86_64 or arm64, got '$(ARCH)'" >&2; exit 1;; esac
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(SAM_ENV) PATH="$(abspath $(VENV))/bin:$$PATH" \
		LAMBDA_ARCH=$(ARCH) BUILD_PYTHON="$(abspath $(PY))" \
		$(VENV)/bin/sam build --template template.yaml --region us-east-1 \
		--parameter-overrides Architecture=$(ARCH)
	@echo "unzipped sizes ($(ARCH)):"
	$(PY) layers/sizes.py .aws-sam/build --budget-mb $(LAMBDA_BUDGET_MB)

# ---- the GPU endpoint's model data (docs/gpu.md) ------------------------------------------------------
# A Triton model repository for AWS's Triton image on SageMaker: out/gpu-model/repository/<model>/config.pbtxt
# and <model>/1/model.onnx (dynamic batch dimension, the engine's pre- and post-processing in the graph,
# dynamic batching), packed reproducibly as out/gpu-model/model.tar.gz. layers/model/triton_repo.py runs in the
# models' pinned tool venv (onnx). GPU_MODEL must be the stack's DefaultModel; u2net is built from its fp32
# original (fetched here, 176 MB: CUDA has no 8-bit convolution). GPU_MAX_BATCH, GPU_QUEUE_DELAY_US and
# GPU_TENSORRT=1 change config.pbtxt. gpu-upload puts the archive in SAM's artifact bucket (or BUCKET=...) under
# its sha256 and prints the GpuModelDataUrl to deploy with.
GPU_MODEL ?= u2net
.PHONY: gpu-model gpu-upload
gpu-model: setup
	@$(MAKE) --no-print-directory model MODEL=$(if $(filter u2net,$(GPU_MODEL)),u2net-fp32,$(GPU_MODEL))
	$(PY) layers/model/triton_repo.py $(GPU_MODEL) --device gpu $(if $(GPU_MAX_BATCH),--max-batch $(GPU_MAX_BATCH)) \
		$(if $(GPU_QUEUE_DELAY_US),--queue-delay-us $(GPU_QUEUE_DELAY_US)) $(if $(GPU_TENSORRT),--tensorrt)

gpu-upload: $(STAMP)
	$(PY) layers/model/upload_model_data.py $(if $(BUCKET),--bucket $(BUCKET))

# ---- benchmark (bench/README.md): its own venv, so rembg never reaches .venv or the Lambda layers ----------
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_START := $(if $(filter bench,$(MAKECMDGOALS)),$(shell date +%s))
# Run the measurements in an empty network namespace where the machine allows it (the scripts also refuse
# and count any network access themselves). Recursive (=): only evaluated by the bench recipes.
BENCH_NONET = $(shell unshare -n true >/dev/null 2>&1 && echo unshare -n)

$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	@test -n "$(BOOT_PYTHON)" || { echo "need python3.12 or python3 >= 3.11" >&2; exit 1; }
	@test -x $(BENCH_PY) || $(BOOT_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -r bench/requirements.txt -e .
	@# pymatting (a rembg dependency) compiles its numba cache on first import: do it now, not while timing
	$(BENCH_PY) -c "import rembg"
	@touch $(BENCH_STAMP)

# rembg's u2net is the fp32 original (models/u2net-fp32.onnx, the md5 rembg checks); the engine ships u2net
# quantised to 8 bits (models/u2net.onnx, fetched by setup; docs/decisions/0009).
.PHONY: bench-models bench-throughput
bench-models: setup
	@$(MAKE) --no-print-directory model MODEL=u2net-fp32

# The function runs with template.yaml's MALLOC_MMAP_THRESHOLD_ (docs/decisions/0005-malloc-mmap-threshold.md);
# measure memory under the same setting.
bench: bench-models $(BENCH_STAMP)
	MALLOC_MMAP_THRESHOLD_=1048576 $(BENCH_NONET) $(BENCH_PY) bench/run_speed.py
	MALLOC_MMAP_THRESHOLD_=1048576 $(BENCH_NONET) $(BENCH_PY) bench/run_throughput.py
	$(BENCH_NONET) $(BENCH_PY) bench/run_quality.py
	$(BENCH_NONET) $(BENCH_PY) bench/run_edges.py
	$(MAKE) --no-print-directory bench-api
	$(MAKE) --no-print-directory bench-jobs
	$(MAKE) --no-print-directory bench-remote
	$(BENCH_PY) bench/report.py $(if $(BENCH_START),--total-since $(BENCH_START))

bench-quality: bench-models $(BENCH_STAMP)
	$(BENCH_NONET) $(BENCH_PY) bench/run_quality.py
	$(BENCH_NONET) $(BENCH_PY) bench/run_edges.py
	$(BENCH_PY) bench/report.py

# The command-line tools on a folder of large photos (bgremove DIR -o OUT vs rembg p -m u2net), ~5 min.
bench-throughput: bench-models $(BENCH_STAMP)
	MALLOC_MMAP_THRESHOLD_=1048576 $(BENCH_NONET) $(BENCH_PY) bench/run_throughput.py
	$(BENCH_PY) bench/report.py

# HTTP API overhead over a direct engine call (0.4 MP JPEG, p50/p95) and requests/s of one local instance.
# The project's .venv (moto, powertools, the API function); loopback only, so outside BENCH_NONET (whose
# namespace has no loopback up). bench/results/api.json. Shorter: make bench-api API_BENCH_ARGS="--reps 5".
.PHONY: bench-api
bench-api: setup
	$(PY) bench/run_api.py $(API_BENCH_ARGS)

# Asynchronous jobs (bench/run_jobs.py): submit-to-COMPLETED of a 0.4 MP JPEG through each async dialect
# against the S3 path (p50 added, target < 150 ms), then 200 jobs at once with webhooks (none lost, one
# terminal webhook each). Loopback only, the project's .venv. bench/results/jobs.json.
# Shorter: make bench-jobs JOBS_BENCH_ARGS="--reps 6 --jobs 40".
.PHONY: bench-jobs
bench-jobs: setup
	$(PY) bench/run_jobs.py $(JOBS_BENCH_ARGS)

# The offload on CPU (bench/run_remote.py), through the Triton stand-in: KServe v2 and the HTTP hop against local
# inference at 0.4 MP, JSON against binary tensors, the batches formed under concurrent clients, accuracy;
# bench/results/remote.json. The project's .venv (boto3, the stand-in); loopback only, so outside BENCH_NONET.
# Fewer repetitions: make bench-remote REMOTE_BENCH_ARGS="--repetitions 3 --clients 1,4".
# The GPU side: bench/gpu/README.md.
.PHONY: bench-remote
bench-remote: setup
	$(PY) bench/run_remote.py $(REMOTE_BENCH_ARGS)

# The table template.yaml's MemorySize is chosen from (docs/decisions/0006-memory-size.md), 3-7 min on 2 CPUs.
# Only the engine runs, so the project's .venv does; the script sets MALLOC_MMAP_THRESHOLD_ for its children.
.PHONY: bench-memory
bench-memory: setup
	$(BENCH_NONET) $(PY) bench/run_memory.py

# Capacity model of the S3 pipeline (docs/capacity.md): time, concurrency, cost and the binding limit of a load.
# CAPACITY_ARGS="--images 500000 --hours 4 --megapixels 12"; defaults from template.yaml's parameters.
.PHONY: capacity
capacity: $(STAMP)
	PYTHONPATH=local $(PY) bench/capacity.py $(CAPACITY_ARGS)
