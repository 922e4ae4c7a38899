"""The HGQ1 front end (``HGQ`` 0.2.3, Keras 2): an HGQ1 model, its ranges traced with
``trace_minmax``, saved as ``.h5``; ``export-hls`` converts it through ``HGQ.to_proxy_model``
and hls4ml's Keras 2 flow, and the emulator (the generated engine) == C-sim on full arrays."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("HGQ", reason="needs HGQ1 (the keras2 extra)")


def _models():
    from HGQ.layers import (
        HConv1D,
        HConv2D,
        HDense,
        HDenseBatchNorm,
        HQuantize,
        PAvgPool1D,
        PFlatten,
        PMaxPool2D,
    )
    from tensorflow import keras

    return {
        "hgq1_cnn2d": ((8, 8, 1), lambda: keras.Sequential([
            HQuantize(beta=3e-5, input_shape=(8, 8, 1)),
            HConv2D(4, 3, activation="relu", beta=3e-5), PMaxPool2D(2), PFlatten(),
            HDense(16, activation="relu", beta=3e-5), HDense(3, beta=3e-5)])),
        "hgq1_cnn1d": ((12, 2), lambda: keras.Sequential([
            HQuantize(beta=3e-5, input_shape=(12, 2)),
            HConv1D(4, 3, activation="relu", beta=3e-5), PAvgPool1D(2), PFlatten(),
            HDense(2, beta=3e-5)])),
        "hgq1_mlp_bn": ((10,), lambda: keras.Sequential([
            HQuantize(beta=3e-5, input_shape=(10,)),
            HDenseBatchNorm(16, activation="relu", beta=3e-5),
            HDense(8, activation="relu", beta=3e-5), HDense(1, beta=3e-5)])),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import tensorflow as tf
    from HGQ import to_proxy_model, trace_minmax

    d = tmp_path_factory.mktemp("hgq1")
    out = {}
    for name, (shape, make) in _models().items():
        tf.keras.utils.set_random_seed(0)
        model = make()
        x = np.random.default_rng(0).normal(0, 1, (3000, *shape)).astype("float32")
        model.compile("adam", "mse")
        model.fit(x, np.random.default_rng(1).random((3000, model.output_shape[-1])),
                  epochs=1, verbose=0)
        trace_minmax(model, x, cover_factor=1.0)
        to_proxy_model(model).save(d / f"{name}.h5")       # HGQ1's deployable model
        model.save(d / f"{name}_training.h5")
        out[name] = (d / f"{name}.h5", shape)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hgq1_cnn2d", "hgq1_cnn1d", "hgq1_mlp_bn"])
def test_hgq1_export_compile_emulate(cli, saved, tmp_path, name):
    import triginfer

    path, shape = saved[name]
    fw = tmp_path / "fw"
    result = cli("export-hls", "--model", path, "--out", fw, "--compile",
                 "--check-events", "3000")
    assert result.code == 0, result.err[-3000:]
    assert "emulator == C-sim on 3000" in result.out, result.out
    firmware = triginfer.load(fw)
    assert "fixed_quantizer" in {layer.kind for layer in firmware.spec.layers}
    x = np.random.default_rng(5).normal(0, 1, (8000, *shape))
    np.save(tmp_path / "x.npy", x)
    result = cli("emulate", "--firmware", fw, "--input", tmp_path / "x.npy", "--out",
                 tmp_path / "y.npy")
    assert result.code == 0, result.err[-3000:]
    emulated = np.load(tmp_path / "y.npy")
    got = np.stack([emulated[f"output_{j}"] for j in range(firmware.spec.output_sizes[0])], 1)
    csim = firmware.csim(x)
    bad = np.flatnonzero(np.any(got != csim, axis=1))
    print(f"{name}: emulator vs C-sim: {len(bad)} mismatching events of {len(x)}")
    assert len(bad) == 0
    assert np.std(csim) > 0.01


def test_a_saved_training_model_without_ranges_is_one_line(cli, saved, tmp_path):
    path, _ = saved["hgq1_mlp_bn"]
    result = cli("export-hls", "--model", path.with_name("hgq1_mlp_bn_training.h5"),
                 "--out", tmp_path / "fw")
    lines = result.err.strip().splitlines()
    assert result.code == 2, result.err[-2000:]
    assert len(lines) == 1, result.err[-2000:]
    assert "trace_minmax" in lines[0]
    assert "to_proxy_model" in lines[0]
    assert not (tmp_path / "fw" / "firmware_spec.json").exists()
