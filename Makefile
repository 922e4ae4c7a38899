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
	$(VENV)/bin/python -m pip install --quiet -e '.[dev,dask,serve]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/triginfer run $(CONFIG) --out $(RUN_DIR)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# After `make run`: emulator vs C simulation vs QKeras, and ONNX exactness, on 1M events.
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_emulator.py --model $(RUN_DIR)/train/dnn_quantized.h5 \
		--events 1000000 --out $(RUN_DIR)/bench/emulator.json
	$(VENV)/bin/python benchmarks/check_onnx.py --run $(RUN_DIR) --model dnn --events 1000000 \
		--out $(RUN_DIR)/bench/onnx_check.json
	$(VENV)/bin/python benchmarks/bench_engine.py --firmware $(RUN_DIR)/firmware/dnn \
		--onnx $(RUN_DIR)/onnx/dnn_float.onnx --events 1000000 --out $(RUN_DIR)/bench/engine.json
	$(VENV)/bin/python benchmarks/bench_emulator.py --zoo --events 20000 \
		--out $(RUN_DIR)/bench/emulator_zoo.json
	$(VENV)/bin/python benchmarks/bench_bdt.py --events 1000000 --conifer-events 20000 \
		--out $(RUN_DIR)/bench/bdt.json
	$(VENV)/bin/python benchmarks/validate_fpga_estimate.py

clean:
	rm -rf $(VENV) runs
