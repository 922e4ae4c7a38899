"""Toy simulation: determinism, physics sanity, configured efficiencies, minbias spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from triginfer.errors import ConfigError
from triginfer.features import wrap_dphi
from triginfer.simulation import (
    PHI_FULL_CIRCLE,
    SimulationConfig,
    minbias_rate_per_event,
    simulate_minbias,
    simulate_muons,
)


def _same(a, b):
    for name in ("phi", "theta", "bend", "present"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for key in a.truth:
        np.testing.assert_array_equal(a.truth[key], b.truth[key])


def test_deterministic_by_seed():
    _same(simulate_muons(2000, 3), simulate_muons(2000, 3))
    _same(simulate_minbias(2000, 3), simulate_minbias(2000, 3))
    assert not np.array_equal(simulate_muons(2000, 3).phi, simulate_muons(2000, 4).phi)


def test_generator_ranges():
    s = simulate_muons(50_000, 1)
    qpt = s.truth["gen_q_over_pt"]
    assert np.all(np.abs(qpt) <= 0.5)
    assert np.all(np.abs(qpt) >= 1e-3)
    assert np.all(s.truth["gen_pt"] >= 2.0)
    assert abs(np.mean(qpt > 0) - 0.5) < 0.02
    eta = np.abs(s.truth["gen_eta"])
    assert eta.min() >= 1.2
    assert eta.max() <= 2.4
    assert s.phi.min() >= 0
    assert s.phi.max() < PHI_FULL_CIRCLE
    assert s.theta.min() >= 0
    assert s.theta.max() <= 127
    assert s.bend.min() >= -16
    assert s.bend.max() <= 15
    assert set(np.unique(s.mode)) <= set(range(16))


def test_mean_dphi12_falls_monotonically_with_pt():
    s = simulate_muons(200_000, 5)
    both = (s.present[:, 0] == 1) & (s.present[:, 1] == 1)
    dphi = np.abs(wrap_dphi(s.phi[:, 1].astype(np.int64) - s.phi[:, 0]))
    pt = s.truth["gen_pt"]
    edges = [2, 3, 4, 6, 10, 15, 25, 40, 70, 1000]
    means = [dphi[both & (pt >= lo) & (pt < hi)].mean() for lo, hi in zip(edges, edges[1:], strict=False)]
    assert all(a > b for a, b in zip(means, means[1:], strict=False)), means
    assert means[0] > 20 * means[-1]


def test_bending_smaller_at_large_eta():
    s = simulate_muons(200_000, 6)
    both = (s.present[:, 0] == 1) & (s.present[:, 1] == 1)
    dphi = np.abs(wrap_dphi(s.phi[:, 1].astype(np.int64) - s.phi[:, 0]))
    eta = np.abs(s.truth["gen_eta"])
    pt_band = (s.truth["gen_pt"] > 4) & (s.truth["gen_pt"] < 6)
    low = dphi[both & pt_band & (eta < 1.5)].mean()
    high = dphi[both & pt_band & (eta > 2.1)].mean()
    assert high < 0.6 * low


def test_bend_sign_follows_charge():
    s = simulate_muons(100_000, 2)
    low_pt = s.truth["gen_pt"] < 5
    present = s.present[:, 0] == 1
    charge = np.sign(s.truth["gen_q_over_pt"])
    agree = np.sign(s.bend[low_pt & present, 0]) == charge[low_pt & present]
    assert agree.mean() > 0.9


def test_station_pattern_efficiencies_as_configured():
    eff = (0.9, 0.8, 0.7, 0.6)
    n = 200_000
    s = simulate_muons(n, 11, SimulationConfig(station_efficiency=eff))
    measured = s.present.mean(axis=0)
    for e, m in zip(eff, measured, strict=False):
        assert abs(m - e) < 4 * np.sqrt(e * (1 - e) / n)
    # The pattern fractions are products of independent station efficiencies.
    for mode in (0b1111, 0b1010, 0b0111):
        bits = [(mode >> (3 - i)) & 1 for i in range(4)]
        expect = np.prod([e if b else 1 - e for e, b in zip(eff, bits, strict=False)])
        got = np.mean(s.mode == mode)
        assert abs(got - expect) < 5 * np.sqrt(expect * (1 - expect) / n) + 1e-4
    assert (s.phi[s.present == 0] == 0).all()
    assert (s.bend[s.present == 0] == 0).all()


def test_minbias_power_law():
    cfg = SimulationConfig()
    s = simulate_minbias(400_000, 9, cfg)
    pt = s.truth["gen_pt"]
    assert pt.min() >= 2.0
    # For dN/dpT ~ pT^-3.5 the integral above x falls like x^-2.5.
    frac = np.mean(pt > 4.0)
    assert frac == pytest.approx(2.0**-2.5, rel=0.03)
    assert minbias_rate_per_event(cfg, 1000) == pytest.approx(2808 * 11246.0 * 0.05 / 1000)


def test_bad_simulation_parameters():
    with pytest.raises(ConfigError, match="station_efficiency"):
        SimulationConfig(station_efficiency=(1.2, 1, 1, 1))
    with pytest.raises(ConfigError, match="unknown simulation parameter"):
        SimulationConfig.from_dict({"pt_mni": 3})
    with pytest.raises(ConfigError, match="4 values"):
        SimulationConfig(bending_rad_gev=(1.0, 2.0))
