# Two entry points: `make demo` (set up, train, evaluate, export, predict) and `make test`.
# Both create .venv with the project and its extras from pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Local MNIST for machines without internet: $CNNEDGE_MNIST, else ../shared if present;
# empty means Keras downloads it.
CNNEDGE_MNIST ?= $(abspath $(wildcard ../shared/datasets/mnist.npz))
export CNNEDGE_MNIST

.PHONY: setup demo test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,bench,dev]"
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/cnnedge train --seed 0 --out runs/demo
	$(BIN)/cnnedge evaluate --model runs/demo/model.keras --out runs/demo/evaluation
	$(BIN)/cnnedge export runs/demo/model.onnx --model runs/demo/model.keras --int8
	$(BIN)/cnnedge predict tests/data/seven.png --model runs/demo/model.onnx

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
