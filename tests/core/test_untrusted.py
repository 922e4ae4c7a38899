"""Model files are data, not code: every refusal happens before the payload could run.

Each test builds a file whose loading would create a marker file (a Lambda layer's code, a
module named in a Keras 3 config, an ONNX tensor pointing outside its directory), hands it
to the commands that load models, and asserts the one-line error, exit 2, nothing written,
and the marker absent."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from triginfer.errors import InputFileError, UnsupportedModelError
from triginfer.untrusted import check_keras_file, check_model_config


def _one_line_refusal(result, *words: str) -> None:
    assert result.code == 2, (result.code, result.out, result.err)
    lines = [line for line in result.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("triginfer: error:"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def lambda_h5(tmp_path_factory):
    """A Keras 2 ``.h5`` whose Lambda layer touches ``marker`` when it runs."""
    from tensorflow import keras

    base = tmp_path_factory.mktemp("lambda")
    marker = base / "payload_ran"
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]"
    inp = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="d1")(inp)
    out = keras.layers.Lambda(eval(code), name="sneaky")(hidden)   # noqa: S307 (the payload)
    model = keras.Model(inp, out)
    path = base / "lambda.h5"
    model.save(path)
    assert marker.exists()     # the payload works: building the model ran it
    return path, marker


@pytest.mark.parametrize("command", ["export-hls", "export-onnx"])
def test_lambda_h5_is_refused_before_it_runs(cli, tmp_path, lambda_h5, command):
    path, marker = lambda_h5
    marker.unlink(missing_ok=True)
    out = tmp_path / "out"
    argv = {"export-hls": ["export-hls", "--model", path, "--out", out],
            "export-onnx": ["export-onnx", "--model", path, "--out", out / "m.onnx"]}[command]
    result = cli(*argv)
    _one_line_refusal(result, "'sneaky'", "Lambda", "nothing")
    assert not marker.exists(), "the Lambda layer's code ran"
    assert not out.exists()


def test_lambda_h5_is_refused_by_load_model(lambda_h5):
    from triginfer.trigger_models.training import load_model

    path, marker = lambda_h5
    marker.unlink(missing_ok=True)
    with pytest.raises(UnsupportedModelError, match="sneaky"):
        load_model(path)
    assert not marker.exists()


def test_lambda_in_keras_archive_is_refused(cli, tmp_path):
    from tensorflow import keras

    marker = tmp_path / "payload_ran"
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]"
    inp = keras.Input((4,))
    out = keras.layers.Lambda(eval(code), name="sneaky3")(keras.layers.Dense(2)(inp))  # noqa: S307
    path = tmp_path / "m.keras"
    keras.Model(inp, out).save(path)
    marker.unlink()
    result = cli("export-hls", "--model", path, "--out", tmp_path / "out")
    _one_line_refusal(result, "'sneaky3'")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def _keras_archive(path, config: dict) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.11.0"}))


def test_foreign_module_in_keras_config_is_not_imported(cli, tmp_path, monkeypatch):
    """A Keras 3 config may name a module to import; one outside Keras/QKeras/HGQ is refused
    and never imported (the module would create the marker on import)."""
    marker = tmp_path / "payload_ran"
    (tmp_path / "evil_layers.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 4], "name": "in"}},
        {"module": "evil_layers", "class_name": "Boom", "config": {"name": "boom"}}]}}
    path = tmp_path / "m.keras"
    _keras_archive(path, config)
    result = cli("export-hls", "--model", path, "--out", tmp_path / "out")
    _one_line_refusal(result, "'boom'", "evil_layers")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("config", "word"), [
    ({"class_name": "Functional", "config": {"layers": [
        {"class_name": "TFOpLambda", "config": {"name": "tf_op", "function": "io.write_file"}}]}},
     "tf_op"),
    ({"class_name": "Dense", "config": {"name": "d", "activation": {
        "class_name": "__lambda__", "config": {"code": "ZZZ"}}}}, "__lambda__"),
    ({"class_name": "Layer", "config": {"name": "f", "function_type": "lambda",
                                        "function": ["AAAA", None, None]}}, "serialized"),
])
def test_code_carrying_configs_are_refused(config, word):
    with pytest.raises(UnsupportedModelError, match=word):
        check_model_config(config, "model.h5")


def test_plain_configs_pass(tmp_path):
    """A Keras 2 h5 of built-in layers and QKeras layers passes the check unchanged."""
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    inp = keras.Input((4,))
    x = QActivation(quantized_bits(8, 2), name="q_in")(inp)
    x = QDense(3, kernel_quantizer=quantized_bits(6, 0), name="qd")(x)
    model = keras.Model(inp, keras.layers.Activation("relu")(x))
    model.save(tmp_path / "ok.h5")
    config = check_keras_file(tmp_path / "ok.h5")
    assert [layer["class_name"] for layer in config["config"]["layers"]][1:3] == [
        "QActivation", "QDense"]


def test_savedmodel_and_non_model_files_are_refused(tmp_path):
    (tmp_path / "saved").mkdir()
    with pytest.raises(InputFileError, match="SavedModel"):
        check_keras_file(tmp_path / "saved")
    (tmp_path / "x.h5").write_bytes(b"not a model at all")
    with pytest.raises(InputFileError, match="neither"):
        check_keras_file(tmp_path / "x.h5")


def test_onnx_external_data_outside_its_directory_is_refused(cli, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
                              [weight])
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    path = model_dir / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = cli("export-triton", "--onnx", path, "--repo", tmp_path / "repo", "--name", "m")
    _one_line_refusal(result, "'w'", "outside")
    assert not (tmp_path / "repo").exists()
