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
	@echo "make bench    every benchmark at full size, beside same-run baselines (bench-quick: small)"
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
	$(BIN)/mypy contracts pls services bench

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Each benchmark prints its figures beside a baseline measured in the same run, and the ratio;
# JSON copies go to var/bench/; `make bench BENCHES="hub relay"` runs some. See docs/benchmarks.md.
BENCHES := relay hub node freshness queries directory

bench: $(STAMP)
	@mkdir -p var/bench
	@for b in $(BENCHES); do \
	  echo "== bench/$$b.py"; \
	  $(BIN)/python -m bench.$$b --json var/bench/$$b.json || exit 1; \
	done

bench-quick: $(STAMP)
	@mkdir -p var/bench
	@for b in $(BENCHES); do \
	  echo "== bench/$$b.py --quick"; \
	  $(BIN)/python -m bench.$$b --quick --json var/bench/$$b-quick.json || exit 1; \
	done

contracts: $(STAMP)
	$(BIN)/python -m contracts.generate

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
