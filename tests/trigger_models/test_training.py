"""Training helpers: pruning reaches its sparsity, save/load is identical, baselines work."""

from __future__ import annotations

import numpy as np
import pytest

from triginfer.features import has_track
from triginfer.quantization.pruning import apply_pruning, pruning_callbacks, sparsity_report, strip
from triginfer.simulation import simulate_muons
from triginfer.trigger_models.baselines import AnalyticLUT
from triginfer.trigger_models.builders import ModelConfig, build_float, build_quantized
from triginfer.trigger_models.training import (
    TrainingConfig,
    copy_weights_by_name,
    fit,
    load_model,
    predict,
    save_model,
    set_seeds,
)
from triginfer.trigger_models.workflow import model_inputs, target


@pytest.fixture(scope="module")
def small_data():
    s = simulate_muons(6000, 1)
    s = s.select(has_track(s))
    return model_inputs("dnn", s), target(s), s


@pytest.mark.slow
def test_pruning_reaches_target_sparsity(small_data):
    x, y, _ = small_data
    set_seeds(0)
    mc = ModelConfig(hidden=[32, 16], pruning={"target_sparsity": 0.7})
    model = build_quantized(mc, x.shape[1:])
    pruned = apply_pruning(model, 0.7, 0, 20)
    cfg = TrainingConfig(epochs=4, batch_size=256, patience=10)
    fit(pruned, x, y, x[:500], y[:500], epochs=4, learning_rate=1e-3, cfg=cfg,
        extra_callbacks=pruning_callbacks(), quiet=True)
    report = sparsity_report(strip(pruned))
    assert report["dense_1"] == pytest.approx(0.7, abs=0.01)
    assert report["dense_2"] == pytest.approx(0.7, abs=0.01)
    assert report["output"] == 0.0  # the output layer is never pruned


@pytest.mark.slow
@pytest.mark.parametrize("quantized", [False, True])
def test_save_load_gives_identical_predictions(small_data, tmp_path, quantized):
    x, y, _ = small_data
    set_seeds(0)
    mc = ModelConfig(hidden=[16, 8])
    model = build_quantized(mc, x.shape[1:]) if quantized else build_float(mc, x.shape[1:])
    fit(model, x, y, x[:300], y[:300], epochs=2, learning_rate=1e-3,
        cfg=TrainingConfig(epochs=2, batch_size=256), quiet=True)
    path = save_model(model, tmp_path / "m.h5")
    again = load_model(path)
    np.testing.assert_array_equal(predict(model, x), predict(again, x))
    assert np.std(predict(model, x)) > 0


def test_copy_weights_float_to_quantized(small_data):
    x, _, _ = small_data
    mc = ModelConfig(hidden=[8])
    f = build_float(mc, x.shape[1:])
    q = build_quantized(mc, x.shape[1:])
    assert copy_weights_by_name(f, q) == 2
    np.testing.assert_array_equal(q.get_layer("dense_1").get_weights()[0],
                                  f.get_layer("dense_1").get_weights()[0])


def test_analytic_lut_recovers_bending():
    """On the Gaussian detector (the toy's tails off) the lookup recovers q/pT; the tails
    (wrong segments) are what spoil it."""
    from triginfer.features import has_track
    from triginfer.simulation import SimulationConfig, simulate_muons

    cfg = SimulationConfig(ms_tail_probability=0, noise_segment_probability=0,
                           shower_probability_per_tev=0, ghost_probability=0)
    sample = simulate_muons(20_000, 3, cfg)
    sample = sample.select(has_track(sample))
    lut = AnalyticLUT().fit(sample)
    pred = lut.predict(sample)[:, 0]
    true = sample.truth["gen_q_over_pt"]
    assert np.corrcoef(pred, true)[0, 1] > 0.95
    assert np.mean(np.sign(pred) == np.sign(true)) > 0.98
