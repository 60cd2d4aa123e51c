# bitrag — `make run` sets everything up and starts the local chat; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/bitrag ingest examples/docs
	$(BIN)/bitrag run

test: install
	scripts/install-system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.quality
	$(BIN)/python -m benchmarks.ask_latency
	$(BIN)/python -m benchmarks.slack_ack
	$(BIN)/python -m benchmarks.scale --binary-sizes 10000000
	$(BIN)/python -m benchmarks.server_ivf
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.ingest --layout files
	$(BIN)/python -m benchmarks.encoders --part speed
	$(BIN)/python -m benchmarks.encoders --part quality
	$(BIN)/python -m benchmarks.formats
	$(BIN)/python -m benchmarks.e2e --retrieval dense
	$(BIN)/python -m benchmarks.e2e --retrieval hybrid
	$(BIN)/python -m benchmarks.e2e --retrieval dense --runtimes torch,onnx,onnx-int8 --concurrency 1,50 --waits 0 --out e2e-encoders
	$(BIN)/python -m benchmarks.memory
	$(BIN)/python -m benchmarks.generalization
	$(BIN)/python -m benchmarks.fusion
	$(BIN)/python -m benchmarks.extractive
	$(BIN)/python -m benchmarks.abstention
	$(BIN)/python -m benchmarks.report

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) data .pytest_cache
