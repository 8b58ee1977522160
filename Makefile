# Everything goes through .venv, which `make venv` creates from the host's Python (3.10+).
HOST_PYTHON ?= python3
VENV ?= .venv
ifeq ($(OS),Windows_NT)
  BIN := $(VENV)/Scripts
else
  BIN := $(VENV)/bin
endif
PY := $(BIN)/python

# The target: `make layer ARCH=arm64 PYTHON=3.13`.
ARCH ?= x86_64
PYTHON ?= 3.13
OUT ?= dist
REQUIREMENTS ?= requirements.txt
BASE_IMAGE ?=
ARTIFACT ?=

SRC ?= examples/orders
EXTRA ?=

.PHONY: docs venv lock lock-layer lock-dev lock-check lock-sam lock-cdk lint test test-unit test-setup check layer function image matrix bench bench-standins clean

venv: $(VENV)/.installed

# The toolchain is installed from its hash-locked pins only (requirements-dev.txt, made by
# `make lock`); then this project, editable, with the pinned setuptools and no isolation.
$(VENV)/.installed: requirements-dev.txt pyproject.toml
	@echo "==> $(VENV): the pinned toolchain (requirements-dev.txt, hashes checked), a minute or two"
	$(HOST_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# requirements.txt: what goes INTO the layer, resolved once for every supported Python and both
# architectures, with the hash of every file of every pinned distribution; the same for uv (the
# optional installer in the image), the tool's own dependencies (requirements-tool.txt, what the
# GitHub Action installs) and the development toolchain (requirements-dev.txt, what `make venv`
# installs). LOCK_DATE keeps files uploaded later out: move it forward to upgrade, then run
# `make lock-check` to see what is newer on the index.
LOCK_DATE ?= 2026-11-25T00:00:00Z
LOCK_OUTPUT ?= requirements.txt
UV_LOCK_OUTPUT ?= lambdazip/inside/uv-requirements.txt
DEV_LOCK_OUTPUT ?= requirements-dev.txt
TOOL_LOCK_OUTPUT ?= requirements-tool.txt
LOCK_ARGS = --universal --python-version 3.10 --generate-hashes --exclude-newer $(LOCK_DATE) \
	--custom-compile-command "make lock" --quiet
# LOCK_FIND_LINKS=DIR resolves from the files in DIR alone, whatever the environment says about
# indexes: the tests lock against such a frozen copy of what requirements.txt pins.
LOCK_FIND_LINKS ?=
ifneq ($(LOCK_FIND_LINKS),)
  LOCK_ENV = env -u UV_FIND_LINKS -u UV_INDEX_URL -u UV_EXTRA_INDEX_URL -u UV_DEFAULT_INDEX \
	-u UV_INDEX -u UV_NO_INDEX -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL
  LOCK_SOURCE = --no-index --find-links $(LOCK_FIND_LINKS)
endif

lock: lock-layer lock-dev

lock-layer: venv
	$(LOCK_ENV) $(BIN)/uv pip compile requirements.in $(LOCK_ARGS) $(LOCK_SOURCE) \
		--output-file $(LOCK_OUTPUT)
	$(LOCK_ENV) $(BIN)/uv pip compile lambdazip/inside/uv-requirements.in $(LOCK_ARGS) \
		$(LOCK_SOURCE) --output-file $(UV_LOCK_OUTPUT)

# The toolchain and the tool's own dependencies; the second is held to the versions of the first.
lock-dev: venv
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) --output-file $(DEV_LOCK_OUTPUT)
	$(BIN)/uv pip compile pyproject.toml --constraint $(DEV_LOCK_OUTPUT) $(LOCK_ARGS) \
		--output-file $(TOOL_LOCK_OUTPUT)
	$(BIN)/uv pip compile tests/standin-runtime.in $(LOCK_ARGS) --output-file tests/standin-runtime.txt

# What the index serves today that the locks do not pin (never fails: information only).
lock-check: venv
	$(PY) -m tests.lockfile newer

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# `make test` on a fresh machine does all the set-up: the venv, then debootstrap/qemu/binfmt and
# the stand-in images of the Lambda runtime (tests/setup.sh), then lint, types and every test.
test: lint test-setup
	$(PY) -m pytest

# the venv, the stand-ins and what the tests drive: SAM CLI and AWS CDK, each in a venv of its own
# (defined before the rules that name them: make reads a rule's prerequisites as it meets them)
SAM_VENV ?= .venv-sam
CDK_VENV ?= .venv-cdk
test-setup: venv $(SAM_VENV)/.installed $(CDK_VENV)/.installed
	tests/setup.sh $(PY)

test-unit: venv
	$(PY) -m pytest -m "not integration and not network"

# The docs site (MkDocs, Material theme) into site/, warnings as errors (tests/test_docs.py builds
# it the same way in the test command).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# `make check ARTIFACT=dist/layer.zip ARCH=arm64 PYTHON=3.13`
check: venv
	@if [ -z "$(ARTIFACT)" ]; then \
	  echo "error: make check needs ARTIFACT; e.g. make check ARTIFACT=dist/layer-python3.13-arm64.zip ARCH=arm64 PYTHON=3.13" >&2; \
	  exit 2; fi
	$(PY) build.py check $(ARTIFACT) --arch $(ARCH) --python $(PYTHON)

# `make layer ARCH=arm64 PYTHON=3.13` -> dist/layer-python3.13-arm64.zip (+ .manifest.json)
layer: venv
	$(PY) build.py layer --arch $(ARCH) --python $(PYTHON) -r $(REQUIREMENTS) -o $(OUT) \
		$(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(EXTRA)

# `make function SRC=path/to/code ARCH=x86_64 PYTHON=3.12`
function: venv
	$(PY) build.py function --arch $(ARCH) --python $(PYTHON) --src $(SRC) -r $(REQUIREMENTS) \
		-o $(OUT) $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(EXTRA)

# `make image SRC=path/to/code HANDLER=app.handler ARCH=arm64 PYTHON=3.13 [TAG=name:tag]`
HANDLER ?= app.handler
TAG ?=
image: venv
	$(PY) build.py image --arch $(ARCH) --python $(PYTHON) --src $(SRC) --handler $(HANDLER) \
		-r $(REQUIREMENTS) -o $(OUT) $(if $(TAG),--tag $(TAG)) \
		$(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(EXTRA)

# every supported (python x arch) layer in parallel; a summary table; non-zero if any failed
matrix: venv
	$(PY) build.py matrix -r $(REQUIREMENTS) -o $(OUT) $(EXTRA)

# ratios against the naive one-liner and SAM CLI, measured here and now (see BENCHMARKS.md); the
# official images by default, or BENCH_X86_IMAGE / BENCH_ARM64_IMAGE (`make bench-standins` runs
# it on every stand-in of the tests). SAM CLI goes into its own venv, from its hash-locked pins.
BENCH_PYTHON ?= 3.11
BENCH_X86_IMAGE ?= public.ecr.aws/lambda/python:$(BENCH_PYTHON)-x86_64
BENCH_ARM64_IMAGE ?= public.ecr.aws/lambda/python:$(BENCH_PYTHON)-arm64
BENCH_ARGS ?=
bench: venv $(SAM_VENV)/.installed
	$(PY) bench/bench.py --python $(BENCH_PYTHON) --x86-image $(BENCH_X86_IMAGE) \
		--arm64-image $(BENCH_ARM64_IMAGE) --sam $(SAM_VENV)/bin/sam $(BENCH_ARGS)

# a tool's own venv ($(dir $@)), from its hash-locked pins (the rule's first prerequisite)
define tool_venv
	$(HOST_PYTHON) -m venv $(dir $@)
	$(dir $@)bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--require-hashes -r $<
	@touch $@
endef

$(SAM_VENV)/.installed: bench/requirements-sam.txt
	$(tool_venv)

lock-sam: venv
	$(LOCK_ENV) $(BIN)/uv pip compile bench/requirements-sam.in --universal --python-version 3.11 \
		--generate-hashes --exclude-newer $(LOCK_DATE) --custom-compile-command "make lock-sam" \
		--quiet $(LOCK_SOURCE) --output-file bench/requirements-sam.txt

# AWS CDK (Python; it runs Node.js) for the CDK recipe's test, in its own venv from its pins
$(CDK_VENV)/.installed: tests/requirements-cdk.txt
	$(tool_venv)

lock-cdk: venv
	$(LOCK_ENV) $(BIN)/uv pip compile tests/requirements-cdk.in --universal --python-version 3.11 \
		--generate-hashes --exclude-newer $(LOCK_DATE) --custom-compile-command "make lock-cdk" \
		--quiet $(LOCK_SOURCE) --output-file tests/requirements-cdk.txt

# every stand-in: python3.11 with SAM CLI, the 4-target matrix and the cold-start table; the
# others without the cold-start table (and without arm64 where there is no arm64 stand-in)
STANDIN = $$($(PY) -m tests.standin --tag $(1) $(2))
bench-standins: test-setup
	$(MAKE) bench BENCH_PYTHON=3.11 BENCH_X86_IMAGE=$(call STANDIN,3.11,x86_64) \
		BENCH_ARM64_IMAGE=$(call STANDIN,3.11,arm64) BENCH_ARGS="\
		--matrix-image 3.11/x86_64=$(call STANDIN,3.11,x86_64) \
		--matrix-image 3.11/arm64=$(call STANDIN,3.11,arm64) \
		--matrix-image 3.13/x86_64=$(call STANDIN,3.13,x86_64) \
		--matrix-image 3.13/arm64=$(call STANDIN,3.13,arm64)"
	$(MAKE) bench BENCH_PYTHON=3.13 BENCH_X86_IMAGE=$(call STANDIN,3.13,x86_64) \
		BENCH_ARM64_IMAGE=$(call STANDIN,3.13,arm64) BENCH_ARGS=--skip-cold
	$(MAKE) bench BENCH_PYTHON=3.14 BENCH_X86_IMAGE=$(call STANDIN,3.14,x86_64) \
		BENCH_ARM64_IMAGE=none BENCH_ARGS="--skip-arm64 --skip-cold"

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
