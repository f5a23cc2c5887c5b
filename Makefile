# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-dates chaos unit integration firestore-test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

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
