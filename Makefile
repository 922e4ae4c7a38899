# The two commands: `make run` and `make test` (both set up .venv first).
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/muon_pt_dnn.yaml
RUN_DIR ?= runs/default
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/triginfer run $(CONFIG) --out $(RUN_DIR)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_emulator.py

clean:
	rm -rf $(VENV) runs
