"""The core runs without TensorFlow: everything from the FirmwareSpec on, in a process where
importing TensorFlow, Keras, QKeras, tf2onnx, tfmot, hls4ml, torch or JAX fails.

Also: TensorFlow is not a core dependency in ``pyproject.toml`` (it is the ``keras2`` extra),
and a command that needs it says which extra to install, in one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib

import pytest

from tests.conftest import REPO

BLOCKED = ("tensorflow", "keras", "qkeras", "tf2onnx", "tensorflow_model_optimization",
           "hls4ml", "torch", "jax", "tf_keras")

_BLOCKER = f"""
import importlib.abc, sys
class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
        return None
sys.meta_path.insert(0, _Blocker())
"""


def _run(script: str, tmp_path) -> subprocess.CompletedProcess:
    code = _BLOCKER + textwrap.dedent(script)
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600,
                          env={"PYTHONPATH": str(REPO), "TRIGINFER_ENGINE_MIN_EVENTS": "1",
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def test_tensorflow_is_not_a_core_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    for name in ("tensorflow", "qkeras", "tf2onnx", "keras", "torch"):
        assert name not in core, name
    assert any(d.startswith("tensorflow==") for d in project["optional-dependencies"]["keras2"])


@pytest.mark.slow
def test_spec_onward_runs_without_tensorflow(tmp_path):
    result = _run(f"""
        import numpy as np, sys
        from pathlib import Path
        from tests.emulation.test_files import _dnn_spec
        from triginfer.cli import main
        from triginfer.emulation import Emulator
        from triginfer.hls_export import FirmwareSpec

        from triginfer.rootio import write_samples
        from triginfer.simulation import simulate_muons

        fw = _dnn_spec().save(Path("fw"))            # reads the 21 engineered muon features
        write_samples("muons.root", {{"muons": simulate_muons(30000, 3)}})
        assert main(["-q", "emulate", "--firmware", "fw", "--input", "muons.root",
                     "--out", "o.npy"]) == 0
        got = np.load("o.npy")
        assert len(got) == 30000 and np.std(got["output_0"]) > 0
        spec = FirmwareSpec.load("fw")
        x = np.random.default_rng(0).normal(0, 4, (30000, 21))
        emulator = Emulator(spec)
        want = emulator.predict(x)
        assert emulator.engine_reason == "", emulator.engine_reason   # the generated engine ran
        reference = Emulator(spec, compiled=False).predict(x)
        assert np.array_equal(want, reference) and np.std(want) > 0
        assert main(["-q", "export-onnx", "--firmware", "fw", "--out", "m.onnx"]) == 0
        from triginfer.gpu_runtime import Session
        assert np.array_equal(Session("m.onnx", device="cpu").run(x), want)
        assert main(["-q", "export-triton", "--onnx", "m.onnx", "--repo", "repo",
                     "--name", "m"]) == 0
        hls = {str(tmp_path / "hlsfw")!r}          # an HLS project a front end wrote elsewhere
        assert main(["-q", "export-cmssw", "--firmware", hls, "--out", "cmssw"]) == 0
        assert main(["-q", "export-onnx", "--firmware", hls, "--out", "g.onnx"]) == 0
        assert main(["-q", "patterns", "--firmware", "fw", "--out", "p.txt"]) == 0
        from triginfer.latency_bench.fpga_estimate import estimate
        assert estimate(spec)["latency_cycles"] >= 1
        code = main(["export-hls", "--model", {str(REPO / "tests" / "data" / "missing.h5")!r},
                     "--out", "hls"])
        assert code == 2
        Path("m.h5").write_bytes(Path({str(tmp_path / "m.h5")!r}).read_bytes())
        assert main(["export-hls", "--model", "m.h5", "--out", "hls"]) == 2
        assert not Path("hls").exists()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})
        assert not loaded, loaded
        print("TF-FREE OK")
    """, _keras_file(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "TF-FREE OK" in result.stdout
    assert "pip install 'triginfer[keras2]'" in result.stderr, result.stderr[-2000:]


def _keras_file(tmp_path):
    """A Keras 2 model file and an hls4ml firmware directory of a graph-zoo model (made here,
    where TensorFlow and hls4ml are installed); returns tmp_path."""
    from tensorflow import keras

    from tests.zoo import GRAPH_ZOO, build_graph, graph_config
    from triginfer.hls_export import convert

    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.h5")
    entry = next(e for e in GRAPH_ZOO if e.name == "two_inputs_two_outputs")
    graph = build_graph(entry)
    convert(graph, tmp_path / "hlsfw", hls_config=graph_config(graph, entry))
    return tmp_path
