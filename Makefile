# The two set-up commands of the README, and the helpers behind them.
# Everything installs from this repository's own files into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $(STAMP)

# Main job: the example suite on the embedded local model, offline, with a report.
demo: $(STAMP)
	$(BIN)/driftgate models pull
	$(BIN)/driftgate run -c evalsets/quickstart.suite.yaml --output runs/quickstart-report.md || test $$? -eq 1

# Every test, the slow ones (real local model) included: what CI runs.
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -m "slow or not slow"

test-fast: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .driftgate .pytest_cache
