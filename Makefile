# The two set-up commands of the README, and the helpers behind them.
# Everything installs from this repository's own files into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast browser lint bench clean

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

# Headless Chromium for the HTML reports' browser tests, and its WebDriver for the web UI's
# (Debian's packages). Installed when missing and this is root with apt-get (CI, the
# project's machines); otherwise it says how.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver (apt-get) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
	  echo "warning: chromium or chromedriver is missing and cannot be installed here (needs root and apt-get):"; \
	  echo "  sudo apt-get install chromium chromium-driver   (else the browser tests of make test fail)"; \
	fi

# Every test, the slow ones (real local model) and the browser tests included: exactly what
# CI runs (.ci/run is `make test`). The browser tests require chromium here; bare pytest
# skips them without it.
test: $(STAMP) browser
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	DRIFTGATE_REQUIRE_BROWSER=1 $(BIN)/pytest -q -m "slow or not slow"

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
