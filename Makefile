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

# Main job: the product's story on the example workspace, offline, on the embedding
# classifier (eval → serve with feedback → drift alarm → retrain → shadow → canary →
# promotion → rollback), in a fresh copy under runs/demo with a report per step.
demo: $(STAMP)
	$(BIN)/driftgate demo

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
