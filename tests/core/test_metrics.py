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


# --- statistical uncertainties (hand-computed cases) --------------------------------------------
def test_clopper_pearson_hand_cases():
    from triginfer.metrics import clopper_pearson

    a = (1 - 0.6827) / 2
    lo, hi = clopper_pearson(0, 10)              # upper edge: 1 - a^(1/n)
    assert lo == 0
    assert hi == pytest.approx(1 - a ** 0.1, rel=1e-6)
    lo, hi = clopper_pearson(10, 10)             # lower edge: a^(1/n)
    assert hi == 1
    assert lo == pytest.approx(a ** 0.1, rel=1e-6)
    lo, hi = clopper_pearson(1, 1)
    assert lo == pytest.approx(a)
    assert hi == 1
    lo, hi = clopper_pearson(5, 10)              # symmetric
    assert lo == pytest.approx(1 - hi)
    assert lo == pytest.approx(0.3048, abs=1e-4)
    lo, hi = clopper_pearson(np.array([0, 3]), np.array([0, 3]))
    assert list(lo) == [0.0, pytest.approx(a ** (1 / 3))]
    assert hi[0] == 1


def test_poisson_interval_hand_cases():
    from triginfer.metrics import poisson_interval

    a = (1 - 0.6827) / 2
    lo, hi = poisson_interval(0)
    assert lo == 0
    assert hi == pytest.approx(-np.log(a), rel=1e-6)
    lo, hi = poisson_interval(4)                                          # Garwood table
    assert lo == pytest.approx(2.086, abs=2e-3)
    assert hi == pytest.approx(7.163, abs=2e-3)


def test_rate_and_ratio_uncertainties():
    from triginfer.metrics import clopper_pearson, rate_with_uncertainty, ratio_with_uncertainty

    pt = np.array([5.0] * 990 + [30.0] * 10)
    r = rate_with_uncertainty(pt, 20.0, 1.0, rate_per_event=100.0)
    assert r["passing"] == 10
    assert r["rate_hz"] == 1000.0
    lo, hi = clopper_pearson(10, 1000)
    assert r["err_lo_hz"] == pytest.approx(1000 - lo * 1e5)
    assert r["err_hi_hz"] == pytest.approx(hi * 1e5 - 1000)
    assert 250 < r["err_lo_hz"] < r["err_hi_hz"] < 450      # ~sqrt(10) counts, asymmetric
    q = ratio_with_uncertainty(100, 50)
    assert q["ratio"] == 2
    assert q["error"] == pytest.approx(2 * np.sqrt(1 / 100 + 1 / 50))


def test_bootstrap_sigma68_matches_the_asymptotic_error():
    from scipy.stats import norm

    from triginfer.metrics import bootstrap_sigma68

    rng = np.random.default_rng(1)
    n, sigma = 20_000, 0.1
    true_pt = np.full(n, 10.0)
    qpt = (1 + rng.normal(0, sigma, n)) / true_pt
    err = bootstrap_sigma68(qpt, true_pt, n_boot=200)
    # each quantile: sqrt(p(1-p)/n) / pdf; half-width of two nearly independent quantiles
    one = np.sqrt(0.1587 * 0.8413 / n) / (norm.pdf(1.0) / sigma)
    assert 0.5 * one < err < 1.5 * one
