# Quick start:  make demo   (installs what is missing, runs the main study at the screen preset)
#               make test   (installs what is missing, runs the test suite)
VENV := .venv
BIN := $(VENV)/bin
STUDY ?= workflows/ru_tio2_spillover.yaml
PRESET ?= screen
DB ?= spillover-db
PYTEST_ARGS ?=

.PHONY: install demo test bench clean-db

install:
	@bash scripts/bootstrap.sh

demo: install
	$(BIN)/spillover run $(STUDY) --preset $(PRESET) --db $(DB)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run.py

clean-db:
	rm -rf $(DB) spillover-scratch
