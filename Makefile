# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.txt

.PHONY: install lock lock-upgrade demo test test-dates chaos unit integration firestore-test lint typecheck bench clean

# Installs exactly the lock (requirements/dev.txt: every runtime, dev, ses and infra package, pinned with hashes),
# then the project itself without dependencies; rebuilt whenever the lock or pyproject.toml changes.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# pip-tools, not uv: uv.lock records the registry's and every wheel's URL, and no file here names a registry.
# `make lock` keeps every pin that still satisfies pyproject.toml; `make lock-upgrade` moves all to the newest.
# The function locks are resolved under the dev lock, so each of their pins is the dev lock's.
LOCK_FLAGS := --quiet --resolver=backtracking --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-trusted-host --no-emit-find-links
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS)

lock: $(STAMP)
	$(PIP_COMPILE) $(UPGRADE) --all-extras -o $(LOCK) pyproject.toml
	$(PIP_COMPILE) --upgrade -c $(LOCK) -o requirements/functions.txt pyproject.toml
	$(PIP_COMPILE) --upgrade -c $(LOCK) --extra ses -o requirements/functions-ses.txt pyproject.toml
	@! grep -n '://' requirements/*.txt || { echo "a lock names a URL: it must not" >&2; exit 1; }

lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/flywheel demo

lint: $(STAMP)
	$(BIN)/ruff check shared functions sandbox tests infra bench
	$(BIN)/ruff format --check shared functions sandbox tests infra bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite: lint, strict typing of shared/, unit, integration (sandbox over HTTP, Firestore emulator), e2e.
test: $(STAMP) lint typecheck
	bash tests/run_pytest.sh tests

# The tests that depend on the date, moved to a month end, a leap day and 4 October (a holiday again from 2026).
test-dates: $(STAMP)
	bash tests/run_pytest.sh -m dates --today 2027-02-28,2028-02-29,2027-10-04 tests

unit: $(STAMP)
	bash tests/run_pytest.sh tests/unit

integration: $(STAMP)
	bash tests/run_pytest.sh tests/integration

# The Firestore-emulator suite alone (starts the emulator itself when FIRESTORE_EMULATOR_HOST is unset).
firestore-test: $(STAMP)
	bash tests/run_pytest.sh -m firestore tests

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .flywheel .pytest_cache .mypy_cache .ruff_cache

# 30 simulated days of every function on a faulty portal, triggers delivered twice, 20+ kill -9: exactly once?
chaos: $(STAMP)
	$(BIN)/python -m sandbox.chaos --days 30 --companies 150 --kills 20
