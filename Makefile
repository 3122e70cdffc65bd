# The two commands a new user needs: `make run` and `make test`. Both set up .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test chaos lint format bench bench-quick contracts clean help

help:
	@echo "make run      start the local federation (pls up)"
	@echo "make test     run the whole test suite (with the short fault-injection suite)"
	@echo "make chaos    the full fault-injection suite against real processes (~16 min)"
	@echo "make lint     ruff and mypy"
	@echo "make bench    directory benchmark at one million organizations (bench-quick: 50k)"
	@echo "make contracts  regenerate JSON Schemas and the AsyncAPI document"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/pls up $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every scenario prints one line of figures: accepted, applied, lost, counted twice, seconds.
chaos: $(STAMP)
	PLS_CHAOS=full $(BIN)/python -m pytest tests/chaos -p no:cacheprovider -s -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts pls services

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/directory.py $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python bench/directory.py --organizations 50000 --questions 150 --hub-events 50000 $(ARGS)

contracts: $(STAMP)
	$(BIN)/python -m contracts.generate

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
