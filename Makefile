# Two entry points: `make demo` (set up, train, evaluate, export, predict) and `make test`.
# Both create .venv with the project and its extras from pyproject.toml. `make test-base` runs
# the tests on what a Raspberry Pi has: the base install plus [dev], no TensorFlow (.venv-base).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BASE_VENV ?= .venv-base
BASE_BIN := $(BASE_VENV)/bin
BASE_STAMP := $(BASE_VENV)/.installed
# Local MNIST for machines without internet: $CNNEDGE_MNIST, else ../shared if present;
# empty means Keras downloads it.
CNNEDGE_MNIST ?= $(abspath $(wildcard ../shared/datasets/mnist.npz))
export CNNEDGE_MNIST

.PHONY: setup demo test test-base lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,bench,scale,mqtt,dev]"
	touch $@

setup: $(STAMP)

$(BASE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BASE_VENV)
	$(BASE_BIN)/python -m pip install --quiet --upgrade pip
	$(BASE_BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/cnnedge train --seed 0 --out runs/demo
	$(BIN)/cnnedge evaluate --model runs/demo/model.keras --out runs/demo/evaluation
	$(BIN)/cnnedge export runs/demo/model.onnx --model runs/demo/model.keras --int8
	$(BIN)/cnnedge predict tests/data/seven.png --model runs/demo/model.onnx

# mypy checks the package's types ([tool.mypy] in pyproject.toml): about 15 s from scratch
# on 2 cores, under a second with its cache.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The tests that need [train] skip, saying so; the check first makes sure that no extra
# pulled TensorFlow into this venv, which would make it stop being the Pi's configuration.
test-base: $(BASE_STAMP)
	$(BASE_BIN)/python -c "import importlib.util as u, sys; \
	sys.exit('test-base: TensorFlow is installed in $(BASE_VENV)' if u.find_spec('tensorflow') else 0)"
	$(BASE_BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(BASE_VENV) .pytest_cache .ruff_cache .mypy_cache
