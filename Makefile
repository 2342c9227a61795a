# `make demo` and `make test` set everything up on a fresh machine: a virtualenv in .venv
# (unless one is active), CPU torch pinned to 2.13.0, and this package with its dev, hf and ray extras.
# The viewer's browser test uses Debian's chromium when it is installed (.ci/run installs it).

ifdef VIRTUAL_ENV
PYTHON := python
ENV_DIR := $(VIRTUAL_ENV)
else
PYTHON := .venv/bin/python
ENV_DIR := .venv
endif
STAMP := $(ENV_DIR)/.aotd-installed
TORCH := torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$$VIRTUAL_ENV" ] && [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
	$(PYTHON) -m pip install -q "$(TORCH)"
	$(PYTHON) -m pip install -q -e ".[dev,hf,ray]"
	@touch $@

demo: install
	$(PYTHON) -m aotd.cli demo --out $(DEMO_OUT)

test: install
	$(PYTHON) -m pytest

bench: install
	$(PYTHON) benchmarks/world_generation.py
	$(PYTHON) benchmarks/video_sampling.py

clean:
	rm -rf runs build *.egg-info
