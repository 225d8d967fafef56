# nnscratch — `make demo` trains a network on MNIST; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NNS    := $(VENV)/bin/nnscratch
OUT    ?= runs

PRETRAINED ?= ch3 twolayer mlp simplecnn deepcnn

.PHONY: help venv demo-venv demo shell test test-full accuracy bench experiments pretrained notebooks clean

help:
	@echo "make demo         set up .venv (numpy, matplotlib, tqdm), get MNIST, train a MultiLayerNet, print its test accuracy, write figures"
	@echo "make shell        a shell with .venv/bin (nnscratch) on its PATH"
	@echo "make test         set up .venv and run the whole test suite (no network, a few minutes)"
	@echo "make test-full    the full-size accuracy runs (MLP, TwoLayerNet, SimpleConvNet, DeepConvNet; ~30 min)"
	@echo "make bench        speed against PyTorch CPU (as-is and with OPENBLAS_* unset), peak memory, the GEMM-rate floor of a step, a Winograd probe"
	@echo "make experiments  every book experiment at full size, with an HTML report"
	@echo "make notebooks    run notebooks/ch01-ch08 (quick size; NNSCRATCH_QUICK=0 for full) into build/notebooks/ with HTML"
	@echo "make pretrained   retrain the shipped networks in src/nnscratch/pretrained/ (PRETRAINED='twolayer mlp' for some; ~1 h)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# the demo needs the core (numpy) plus figures and a progress bar, not the test extra (PyTorch, browsers, ...)
$(VENV)/.installed-demo: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[plot,progress]'
	touch $@

demo-venv: $(VENV)/.installed-demo

demo: demo-venv
	$(NNS) data
	$(NNS) train --model mlp --epochs 5 --out $(OUT)/demo
	$(NNS) evaluate $(OUT)/demo/model.npz
	@echo
	@echo "nnscratch is installed in $(VENV): run $(NNS) --help, or 'make shell' (or '. $(VENV)/bin/activate') to have nnscratch on your PATH"

shell: demo-venv
	@echo "a shell with $(VENV)/bin on its PATH: try 'nnscratch --help'; 'exit' leaves it"
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $${SHELL:-/bin/sh} -i

test: venv
	$(PY) -m pytest -q -m "not slow"

test-full: venv
	$(PY) -m pytest -q -m slow -s

bench: venv
	$(PY) bench/run.py --tag as-is
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/run.py --tag unset
	$(PY) bench/memory.py --model deepcnn
	$(PY) bench/book_compare.py --tag as-is
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/book_compare.py --tag unset
	$(PY) bench/gemm_ceiling.py --tag latest
	$(PY) bench/winograd_probe.py --tag latest

experiments: venv
	$(NNS) experiment all --out $(OUT)/experiments

notebooks: venv
	$(PY) tools/make_notebooks.py --check
	$(PY) tools/run_notebooks.py --out build/notebooks $(if $(filter 0,$(NNSCRATCH_QUICK)),--full,)

pretrained: venv
	for name in $(PRETRAINED); do OPENBLAS_NUM_THREADS=1 $(PY) tools/make_pretrained.py $$name || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
