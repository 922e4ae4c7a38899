"""hls_export: refusals, FirmwareSpec round trip and TF-free loading, the csynth parser, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.zoo import ZOO, build
from triginfer.errors import UnsupportedModelError
from triginfer.hls_export import FirmwareSpec, SpecLayer, convert
from triginfer.hls_export.converter import check_model
from triginfer.hls_export.report import parse_csynth_report


def _tiny_spec() -> FirmwareSpec:
    layers = [
        SpecLayer("inputs", "input", (3,), (3,), {"result": "fixed<8,3,RND_CONV,SAT>"}),
        SpecLayer("dense_1", "dense", (3,), (2,),
                  {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<20,8>",
                   "result": "fixed<20,8>"}, {"n_in": 3, "n_out": 2},
                  {"weight": np.array([[1, -2], [3, 4], [-5, 6]]), "bias": np.array([7, -8])}),
    ]
    return FirmwareSpec("tiny", layers, {"io_type": "io_parallel"})


def test_spec_round_trip(tmp_path):
    spec = _tiny_spec()
    spec.save(tmp_path)
    doc = json.loads((tmp_path / "firmware_spec.json").read_text())
    assert doc["schema_version"] == 2
    assert doc["inputs"] == ["inputs"]
    assert doc["outputs"] == ["dense_1"]
    assert doc["layers"][1]["inputs"] == ["inputs"]
    assert doc["layers"][1]["types"]["accum"] == "fixed<20,8>"
    again = FirmwareSpec.load(tmp_path)
    assert again.to_json() == spec.to_json()
    np.testing.assert_array_equal(again.layer("dense_1").arrays["weight"],
                                  spec.layer("dense_1").arrays["weight"])
    assert str(again.input_type) == "fixed<8,3,RND_CONV,SAT>"


def test_schema_v1_loads_as_a_chain(tmp_path):
    spec = _tiny_spec()
    spec.save(tmp_path)
    doc = json.loads((tmp_path / "firmware_spec.json").read_text())
    doc["schema_version"] = 1
    for key in ("inputs", "outputs", "features"):
        del doc[key]
    for layer in doc["layers"]:
        del layer["inputs"]
    (tmp_path / "firmware_spec.json").write_text(json.dumps(doc))
    again = FirmwareSpec.load(tmp_path)
    assert again.inputs == ["inputs"]
    assert again.outputs == ["dense_1"]
    assert again.layer("dense_1").inputs == ["inputs"]
    from triginfer.emulation import Emulator

    x = np.array([[0.5, -1.0, 2.0]])
    np.testing.assert_array_equal(Emulator(again).predict(x), Emulator(spec).predict(x))


def test_spec_load_imports_neither_tensorflow_nor_hls4ml(tmp_path):
    _tiny_spec().save(tmp_path)
    code = (
        "import sys\n"
        "from triginfer.hls_export import FirmwareSpec\n"
        "from triginfer.emulation import Emulator\n"
        f"spec = FirmwareSpec.load({str(tmp_path)!r})\n"
        "import numpy as np\n"
        "print(Emulator(spec).predict(np.ones((2, 3))).tolist())\n"
        "bad = [m for m in ('tensorflow', 'hls4ml', 'keras', 'qkeras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_accepts_models_as_users_have_them():
    from qkeras import QDense, quantized_bits
    from tensorflow import keras

    from triginfer.hls_export.converter import has_input_quantizer

    inputs = keras.Input((4,))
    outputs = QDense(2, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                     bias_quantizer=quantized_bits(8, 0, alpha=1), name="dense_1")(inputs)
    model = keras.Model(inputs, outputs, name="no_input_quantizer")
    check_model(model)  # no input quantizer: accepted (the configuration's input type)
    assert not has_input_quantizer(model)
    float_dense = keras.Model(inputs, keras.layers.Dense(1, name="plain")(inputs))
    check_model(float_dense)


def test_refuses_unsupported_layers_before_hls4ml(tmp_path):
    from qkeras import QActivation, quantized_bits
    from tensorflow import keras

    inputs = keras.Input((4, 3))
    x = QActivation(quantized_bits(8, 2, alpha=1), name="input_quant")(inputs)
    outputs = keras.layers.LSTM(2, name="lstm_1")(x)
    model = keras.Model(inputs, outputs, name="has_lstm")
    with pytest.raises(UnsupportedModelError, match=r"'lstm_1' \(LSTM\) is recurrent"):
        convert(model, tmp_path / "prj")
    assert not (tmp_path / "prj").exists()
    norm = keras.Model(inputs, keras.layers.LayerNormalization(name="ln")(x))
    with pytest.raises(UnsupportedModelError, match=r"'ln' \(LayerNormalization\) is not"):
        check_model(norm)
    swish = keras.Model(inputs, keras.layers.Activation("swish", name="sw")(x))
    with pytest.raises(UnsupportedModelError, match=r"'sw' has activation 'swish'"):
        check_model(swish)


def test_csynth_parser_on_sample():
    report = parse_csynth_report(REPO / "tests" / "data" / "sample_csynth.xml")
    assert report["latency_cycles_worst"] == 9
    assert report["latency_ns_worst"] == pytest.approx(45.0)
    assert report["initiation_interval_max"] == 1
    assert report["resources"] == {"BRAM_18K": 0, "DSP": 412, "FF": 9837, "LUT": 38215,
                                   "URAM": 0}
    assert report["available"]["LUT"] == 1728000
    assert report["utilisation"]["DSP"] == pytest.approx(412 / 12288)
    assert report["part"] == "xcvu13p-flga2577-2-e"


@pytest.mark.slow
def test_export_hls_cli(cli, tmp_path):
    from triginfer.trigger_models.training import save_model

    model = build(ZOO[0])
    path = save_model(model, tmp_path / "zoo.h5")
    out = tmp_path / "fw"
    result = cli("export-hls", "--model", path, "--out", out, "--io-type", "io_stream",
                 "--synth")
    assert result.code == 0, result.err
    assert (out / "build_prj.tcl").exists()
    assert (out / "firmware_spec.json").exists()
    assert "synthesis skipped" in result.err
    spec = FirmwareSpec.load(out)
    assert spec.settings["io_type"] == "io_stream"
    assert [layer.kind for layer in spec.layers][:3] == ["input", "dense", "relu"]
