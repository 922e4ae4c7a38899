"""The Keras 3 front end's refusals and plumbing: one ``triginfer: error:`` line naming
what to do, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import zipfile

import pytest

from tests.keras3.conftest import build_models, keras3_python


def _only_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("triginfer: error:"), err
    return lines[0]


@pytest.mark.slow
def test_a_layer_hls4ml_cannot_convert_is_named(tmp_path, cli):
    model = build_models(tmp_path / "m", ["global_maxpool2d"])["global_maxpool2d"]
    out = tmp_path / "fw"
    r = cli("export-hls", "--model", model, "--out", out)
    assert r.code == 2
    line = _only_error_line(r.err)
    assert "q_global_max_pooling2d" in line, line
    assert "GlobalPooling2D" in line, line
    assert "replace that layer" in line
    assert not out.exists()


def test_code_in_a_keras3_file_is_refused_before_keras_runs(tmp_path, cli):
    python = keras3_python()
    path = tmp_path / "lambda.keras"
    marker = tmp_path / "ran"
    script = f"""
import os; os.environ["KERAS_BACKEND"] = "numpy"
import keras
inp = keras.Input((4,))
out = keras.layers.Lambda(lambda x: x * 2)(inp)
keras.Model(inp, out).save({str(path)!r})
"""
    subprocess.run([str(python), "-c", script], check=True, capture_output=True, timeout=300)
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("metadata.json"))["keras_version"].startswith("3.")
    r = cli("export-hls", "--model", path, "--out", tmp_path / "fw")
    assert r.code == 2
    line = _only_error_line(r.err)
    assert "Lambda" in line, line
    assert not (tmp_path / "fw").exists()
    assert not marker.exists()


def test_missing_environment_names_the_make_target(tmp_path, cli, monkeypatch):
    from triginfer.hls_export import keras3

    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(
            {"module": "keras", "class_name": "Functional", "config": {"layers": []}}))
    monkeypatch.setattr(keras3, "_candidates", lambda: [tmp_path / "no-venv"])
    assert keras3.is_keras3_file(path)
    r = cli("export-hls", "--model", path, "--out", tmp_path / "fw")
    assert r.code == 2
    line = _only_error_line(r.err)
    assert "make keras3-env" in line, line
    assert not (tmp_path / "fw").exists()


@pytest.mark.slow
def test_python_api_converts_a_keras3_file(tmp_path):
    import numpy as np

    import triginfer

    model = build_models(tmp_path / "m", ["einsum_3d"])["einsum_3d"]
    fw = triginfer.convert(model, tmp_path / "fw")
    assert fw.spec.settings["front_end"] == "keras3"
    x = np.random.default_rng(0).uniform(-4, 4, (500, 4, 6))
    result = triginfer.compare(fw, x)
    assert result.exact
    assert result.events == 500
