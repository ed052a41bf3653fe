# gtpipe developer entry points. Every target installs what it needs on a bare machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1
TASK ?= image-classification
# Who labels in `make demo`: ground-truth (the emulated Ground Truth job), builtin (simulated crowd through
# the builtin labeling service's API), ui (people in a browser: the demo prints the app's URL and a user).
LABELING ?= ground-truth
# KEEP=1: `make demo` keeps the local cloud running after the demo (until Ctrl-C), to try it by hand.
KEEP ?=
# LOOP=1: `make demo` shows the model-lifecycle loop instead (upright digits serve a rotated stream; the
# drift alarm fires; the harvest is relabeled by the simulated workforce; the cumulative retrain must pass
# champion/challenger).
LOOP ?=

.PHONY: install venv node layers python312 lambda-runtime browser faketime test test-fast test-clock-ahead lint typecheck synth demo local-up local-down local-status bench clean

install: venv node layers python312 lambda-runtime browser

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

node: node_modules/.installed

# The functions' layers (the report's matplotlib, predict's Pillow): pip fetches the pinned wheels for Lambda's
# platform (CPython 3.12, manylinux x86_64), no Docker. Synth needs build/layers/report.zip and image.zip as assets.
layers: build/layers/report.zip build/layers/image.zip

build/layers/report.zip: infra/layers/report-requirements.txt infra/layers/__init__.py | $(VENV)/.installed
	$(PY) -m infra.layers build report

build/layers/image.zip: infra/layers/image-requirements.txt infra/layers/__init__.py | $(VENV)/.installed
	$(PY) -m infra.layers build image

# CPython 3.12, the deployed functions' runtime (tests/fidelity/test_function_imports_py312.py imports every
# function with it): $$GTPIPE_PYTHON312, pyenv's ~/.pyenv/versions/3.12*, or python3.12 on PATH. Debian bookworm
# has no python3.12 package and python.org is not reachable here, so this finds one and says how to get one.
python312: | $(VENV)/.installed
	@$(PY) -m infra.layers.runtime312 python

# What a deployed function imports besides its code and the stack's layers: the runtime's boto3 and the public
# Powertools layer's packages, as CPython 3.12 manylinux x86_64 wheels (not deployed; for the import test).
lambda-runtime: build/lambda-runtime-py312/.requirements

build/lambda-runtime-py312/.requirements: infra/layers/runtime-requirements.txt infra/layers/runtime312.py | $(VENV)/.installed
	$(PY) -m infra.layers.runtime312 build

# Headless Chromium for the report's browser test (tests/browser): Debian's package, driven by Playwright
# (pinned in requirements-dev.txt) through executable_path; Playwright never downloads a browser.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser: /usr/bin/chromium

/usr/bin/chromium:
	@command -v apt-get >/dev/null || { echo "no apt-get: install Chromium at /usr/bin/chromium yourself" >&2; exit 1; }
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

synth: install
	npx cdk synth --quiet

# The full suite (what CI runs), then the 30 slowest tests, so a slow one is seen when it appears.
# TEST_WORKERS pytest processes (pytest-xdist) share the cores, each taking a whole test file at a time
# (--dist loadfile: a module's local cloud is started once); TEST_WORKERS=0 runs it in this process. Two
# on 2 cores: a serial run keeps about one core busy (the end-to-end runs wait on their local clouds).
TEST_WORKERS ?= 2
PYTEST_WORKERS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
test: install lint typecheck
	$(VENV)/bin/pytest $(PYTEST_WORKERS) --durations=30

# The whole suite with the wall clock moved CLOCK_AHEAD_DAYS ahead in every process it starts (pytest and
# its moto server, Lambda workers, training and hosting processes, node), as on a machine whose date is
# that far ahead: Debian's libfaketime, preloaded (not into Chromium, which it slows ~25 times: the browser
# tests run it on the real clock, see tests/browser/chromium.py). Its monotonic clock stays the kernel's
# (FAKETIME_DONT_FAKE_MONOTONIC=1), and tests/faketime/monotonic_sleep.so goes first to fix libfaketime
# 0.9.10's sleeps on that clock: why both, in that file. Not part of `make test` (a second full run).
CLOCK_AHEAD_DAYS ?= 60
FAKETIME_SHIM := build/faketime/monotonic_sleep.so

test-clock-ahead: install $(FAKETIME_SHIM)
	LD_PRELOAD="$(CURDIR)/$(FAKETIME_SHIM):$$(dpkg -L libfaketime | grep '/libfaketime\.so\.1$$')" \
	FAKETIME="+$(CLOCK_AHEAD_DAYS)d" FAKETIME_DONT_FAKE_MONOTONIC=1 $(VENV)/bin/pytest --durations=30

$(FAKETIME_SHIM): tests/faketime/monotonic_sleep.c | faketime
	mkdir -p $(@D)
	gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl

# libfaketime and a C compiler for the shim above, from Debian's packages (like `browser`).
faketime: /usr/bin/faketime /usr/bin/gcc /usr/include/dlfcn.h

/usr/bin/faketime /usr/bin/gcc /usr/include/dlfcn.h &:
	@command -v apt-get >/dev/null || { echo "no apt-get: install libfaketime, gcc and libc headers yourself" >&2; exit 1; }
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends faketime gcc libc6-dev

# The edit-test loop: everything but the end-to-end suites marked slow (a few minutes on 2 cores).
test-fast: install lint typecheck
	$(VENV)/bin/pytest $(PYTEST_WORKERS) -m "not slow" --durations=15

demo: install
	$(PY) -m local.demo --task $(TASK) --labeling $(LABELING) $(if $(filter-out 0 no false,$(KEEP)),--keep-running) $(if $(filter-out 0 no false,$(LOOP)),--loop)

# The demo's context sizes training for a laptop; LOCAL_UP_ARGS= deploys cdk.json's context unchanged.
LOCAL_UP_ARGS ?= --demo-context
local-up: install
	$(PY) -m local.cli up $(LOCAL_UP_ARGS)

local-down: venv
	$(PY) -m local.cli down

local-status: venv
	$(PY) -m local.cli status

bench: install
	$(PY) -m bench

clean:
	-test -x $(PY) && $(PY) -m local.cli down
	rm -rf cdk.out .local .gtpipe build .pytest_cache .mypy_cache .ruff_cache
