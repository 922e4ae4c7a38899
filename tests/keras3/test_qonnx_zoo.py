"""The ONNX / QONNX front end: Brevitas QONNX and float PyTorch ONNX models, engine == C-sim
on full arrays; QCDQ and what hls4ml cannot convert refused in one line."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tests.keras3.conftest import build_onnx_models

pytestmark = pytest.mark.slow

_TREE = ast.parse((Path(__file__).parent / "qonnx_zoo.py").read_text())
_MODELS = next(n.value for n in _TREE.body if isinstance(n, ast.Assign)
               and getattr(n.targets[0], "id", None) == "MODELS")
NAMES = sorted(k.value for k in _MODELS.keys)


def test_zoo_size():
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_engine_equals_csim(qonnx_zoo, name):
    model = qonnx_zoo[name]
    fw = model.firmware
    assert fw.spec.settings["front_end"] == ("onnx" if name.startswith("float") else "qonnx")
    assert fw.emulator.generated_engine() is not None, fw.emulator.engine_reason
    emulated = np.asarray(fw.emulate(model.x)).reshape(model.csim.shape)
    bad = int(np.any(emulated != model.csim, axis=1).sum())
    assert bad == 0, f"{name}: emulator != C-sim on {bad} events"
    assert len(np.unique(model.csim)) >= 20, f"{name}: outputs barely vary"
    assert (model.csim.std(axis=0) > 0).all()


def test_input_layouts(qonnx_zoo):
    """qonnx's channels-last pass makes a 2D model's input channels last; a 1D model keeps
    its channels-first input and transposes it in the firmware (hls4ml 1.3, measured)."""
    assert tuple(qonnx_zoo["qconv2d"].firmware.spec.input_shapes[0]) == (8, 8, 1)
    spec = qonnx_zoo["qconv1d"].firmware.spec
    assert tuple(spec.input_shapes[0]) == (2, 12)
    assert spec.layers[1].kind == "transpose"
    assert tuple(spec.layers[1].output_shape) == (12, 2)


@pytest.mark.parametrize(("name", "phrase"), [("qcdq_mlp", "export_qonnx"),
                                              ("qmlp_per_channel", "hls4ml could not convert")])
def test_refused_in_one_line(tmp_path, cli, name, phrase):
    path = build_onnx_models(tmp_path / "m", [name])[name]["path"]
    out = tmp_path / "fw"
    r = cli("export-hls", "--model", path, "--out", out)
    assert r.code == 2
    lines = [line for line in r.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("triginfer: error:")
    assert phrase in lines[0], lines[0]
    assert not out.exists()


def test_emulate_command_on_a_qonnx_firmware(qonnx_zoo, tmp_path, cli):
    model = qonnx_zoo["qconv2d"]
    np.save(tmp_path / "x.npy", model.x)
    r = cli("emulate", "--firmware", model.firmware.directory, "--input", tmp_path / "x.npy",
            "--out", tmp_path / "y.npy")
    assert r.code == 0, r.err
    table = np.load(tmp_path / "y.npy")
    got = np.stack([table[f"output_{j}"] for j in range(model.csim.shape[1])], axis=1)
    assert np.array_equal(got, model.csim)
