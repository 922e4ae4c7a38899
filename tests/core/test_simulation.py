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
    """The bending (the Gaussian detector: background segments would add a flat floor)."""
    from triginfer.simulation import SimulationConfig

    s = simulate_muons(200_000, 5, SimulationConfig(**OFF))
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
    cfg = SimulationConfig(station_efficiency=eff)
    s = simulate_muons(n, 11, cfg)
    # a background segment fires a station the muon missed
    eff = tuple(e + (1 - e) * cfg.noise_segment_probability for e in eff)
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


# --- the non-Gaussian tails (each at its configured strength) ----------------------------------
OFF = {"ms_tail_probability": 0.0, "noise_segment_probability": 0.0,
       "shower_probability_per_tev": 0.0, "ghost_probability": 0.0}


def _diagnosed(n, q_over_pt, seed=5, **kw):
    from triginfer.simulation import SimulationConfig, _generate

    d: dict = {}
    sample = _generate(np.random.default_rng(seed), np.asarray(q_over_pt, float) * np.ones(n),
                       SimulationConfig(**kw), d)
    return sample, d


def _within(observed, expected, n):
    """Observed fraction within 5 binomial standard deviations of the expectation."""
    return abs(observed - expected) <= 5 * np.sqrt(expected * (1 - expected) / n) + 1e-12


def test_wrong_segment_and_noise_fired_fractions():
    n = 200_000
    _, d = _diagnosed(n, 0.1, noise_segment_probability=0.04, wrong_segment_fraction=0.25)
    fired = d["fired"]
    assert _within(d["wrong_segment"][fired].mean(), 0.04 * 0.25, fired.sum())
    assert _within(d["noise_fired"][~fired].mean(), 0.04, (~fired).sum())


def test_background_segments_move_the_station_and_fire_missed_ones():
    from triginfer.features import wrap_dphi

    n = 100_000
    clean, _ = _diagnosed(n, 1 / 50, **OFF)
    noisy, d = _diagnosed(n, 1 / 50, **{**OFF, "noise_segment_probability": 0.2})
    assert noisy.present.sum() > clean.present.sum()            # missed stations fired
    wrong = d["wrong_segment"][:, 1] & d["fired"][:, 0]
    moved = np.abs(wrong_dphi := wrap_dphi(noisy.phi[:, 1].astype(np.int64) - clean.phi[:, 1]))
    assert np.median(moved[wrong]) > 100 > np.median(moved[~d["wrong_segment"][:, 1]])
    assert wrong_dphi.dtype.kind == "i"


def test_multiple_scattering_tail_beyond_five_sigma():
    """The tail fraction of the station-1 to station-2 bending residual beyond 5 sigma of its
    core: ~0 for the Gaussian detector, of the order of the configured probability with it."""
    from triginfer.features import wrap_dphi

    def tail_fraction(**kw):
        s, _ = _diagnosed(200_000, 1 / 4, **{**OFF, "bend_noise_units": 0.0, **kw})
        both = (s.present[:, 0] == 1) & (s.present[:, 1] == 1)
        d = wrap_dphi(s.phi[:, 1].astype(np.int64) - s.phi[:, 0])[both].astype(float)
        eta = np.abs(s.truth["gen_eta"][both])
        res = d / np.exp(-(eta - 1.2))       # remove the lever arm
        res = res - np.median(res)
        core = 0.5 * (np.quantile(res, 0.84) - np.quantile(res, 0.16))
        return np.mean(np.abs(res) > 5 * core)

    gaussian = tail_fraction()
    tails = tail_fraction(ms_tail_probability=0.05)
    assert gaussian < 1e-3
    assert 0.2 * 0.05 < tails < 2 * 0.05


def test_showers_grow_with_momentum_and_are_capped():
    _, low = _diagnosed(100_000, 1 / 5, shower_probability_per_tev=0.1)
    _, high = _diagnosed(100_000, 1 / 900, shower_probability_per_tev=0.1,
                         shower_probability_max=0.05)
    f_low = low["shower"][low["fired"]].mean()
    f_high = high["shower"][high["fired"]].mean()
    assert f_low < 0.005          # p ~ 5-28 GeV: < 0.3%
    assert _within(f_high, 0.05, high["fired"].sum())   # p > 1.6 TeV: at the cap


def test_ghost_fraction_and_offset():
    from triginfer.simulation import PHI_UNITS_PER_DEGREE

    n = 100_000
    clean, _ = _diagnosed(n, 0.02, **OFF, phi_resolution_rad=0.0)
    ghosty, d = _diagnosed(n, 0.02, **{**OFF, "ghost_probability": 0.1}, phi_resolution_rad=0.0)
    fired = d["fired"]
    assert _within(d["ghost"][fired].mean(), 0.1, fired.sum())
    shift = np.abs(ghosty.phi.astype(np.int64) - clean.phi)[d["ghost"]]
    expected = np.degrees(0.005) * PHI_UNITS_PER_DEGREE          # 17.2 phi units
    assert np.all(np.abs(shift - expected) <= 1) or np.all(
        np.abs(np.minimum(shift, 21600 - shift) - expected) <= 1)


def test_switching_one_effect_off_changes_nothing_else():
    _, a = _diagnosed(20_000, 0.1)
    _, b = _diagnosed(20_000, 0.1, noise_segment_probability=0.0)
    assert np.array_equal(a["ms_tail"], b["ms_tail"])
    assert np.array_equal(a["ghost"], b["ghost"])
    assert not b["wrong_segment"].any()
    _, c = _diagnosed(20_000, 0.1, **OFF)
    assert not any(c[k].any() for k in ("ms_tail", "shower", "ghost", "wrong_segment",
                                        "noise_fired"))


@pytest.mark.parametrize(("key", "value"), [("noise_segment_probability", 1.5),
                                            ("ghost_probability", -0.1),
                                            ("noise_window_rad", -1),
                                            ("ms_tail_max_sigma", 1.0)])
def test_bad_tail_parameters(key, value):
    from triginfer.errors import ConfigError
    from triginfer.simulation import SimulationConfig

    with pytest.raises(ConfigError, match=key):
        SimulationConfig(**{key: value})
