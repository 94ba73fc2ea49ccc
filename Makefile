# The two commands: `make serve` runs Glimpse with embedded defaults, `make test`
# runs the whole suite. Both bootstrap .venv on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint types unit clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) sh scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

# No flags: the built-in defaults are 127.0.0.1:9292 and ./data, and flags would
# override what the settings file (GLIMPSE_CONFIG) and GLIMPSE_* variables say.
serve: $(STAMP)
	$(BIN)/glimpse serve

test: $(STAMP) lint types
	$(BIN)/pytest -p no:cacheprovider -n auto

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks

types: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
