"""Physics metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from triginfer import metrics as m


def test_perfect_predictor_gives_step_turn_on():
    rng = np.random.default_rng(0)
    true_pt = rng.uniform(2, 100, 200_000)
    bins = np.array([2, 10, 20, 30, 100])
    curve = m.turn_on(true_pt, true_pt.copy(), threshold=20.0, scale=1.0, bins=bins)
    np.testing.assert_array_equal(curve["efficiency"], [0.0, 0.0, 1.0, 1.0])
    # The derived 90% scale of a perfect predictor is close to 1 (window +-5%).
    scale = m.derive_scale(true_pt, true_pt, 20.0)
    assert 1.0 < scale < 1.06


def test_derived_scale_reaches_90_percent_at_threshold():
    rng = np.random.default_rng(1)
    true_pt = rng.uniform(5, 60, 400_000)
    pred_pt = true_pt * 0.8 * (1 + 0.1 * rng.standard_normal(true_pt.size))
    scale = m.derive_scale(true_pt, pred_pt, 20.0, window=0.01)
    near = np.abs(true_pt / 20 - 1) < 0.01
    assert np.mean(scale * pred_pt[near] > 20) == pytest.approx(0.9, abs=0.01)


def test_known_gaussian_smearing_gives_known_sigma():
    rng = np.random.default_rng(2)
    true_pt = rng.uniform(2, 100, 500_000)
    sigma = 0.07
    inv_pred = (1 + sigma * rng.standard_normal(true_pt.size)) / true_pt
    res = m.resolution(inv_pred, true_pt, bins=(2, 5, 10, 20, 50, 100))
    assert res.sigma68 == pytest.approx(sigma, rel=0.01)
    assert res.gauss_sigma == pytest.approx(sigma, rel=0.02)
    for s in res.sigma68_per_bin:
        assert s == pytest.approx(sigma, rel=0.05)


def test_charge_misassignment_and_rate():
    true = np.array([0.1, -0.2, 0.3, -0.4])
    pred = np.array([0.1, 0.2, 0.3, -0.1])
    assert m.charge_misassignment(pred, true) == 0.25
    pt = np.array([5.0, 25.0, 30.0, 0.0])
    assert m.rate(pt, 20.0, 1.0, 100.0) == 200.0
    assert m.rate(pt, 20.0, 5.0, 100.0) == 300.0


def test_pt_cap():
    assert m.pt_from_q_over_pt(np.array([0.0]))[0] == m.PT_CAP
    assert m.pt_from_q_over_pt(np.array([-0.25]))[0] == 4.0


def test_small_sample_scale_degrades_with_a_warning(caplog):
    rng = np.random.default_rng(0)
    true_pt = np.concatenate([rng.uniform(2, 10, 500), [19.0, 21.5, 18.5, 23.0] * 4])
    with caplog.at_level("WARNING"):
        scale = m.derive_scale(true_pt, true_pt, 20.0)
    assert 0.5 < scale < 2.0
    assert "window" in caplog.text
    with caplog.at_level("WARNING"):
        assert m.derive_scale(true_pt[:500], true_pt[:500], 80.0) == 1.0
    assert "too few muons" in caplog.text
