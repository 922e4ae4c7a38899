"""Features: hardware-unit integers, saturation, missing stations, exact input grid, split."""

from __future__ import annotations

import numpy as np

from triginfer.features import (
    DPHI_MAX,
    ENGINEERED_NAMES,
    INPUT_BITS,
    INPUT_INTEGER,
    engineered_features,
    has_track,
    split_indices,
    station_features,
    wrap_dphi,
)
from triginfer.simulation import Sample, simulate_muons


def _sample(phi, present, theta=None, bend=None):
    phi = np.array(phi, dtype=np.int32).reshape(-1, 4)
    present = np.array(present, dtype=np.int32).reshape(-1, 4)
    theta = np.zeros_like(phi) + 40 if theta is None else np.array(theta, np.int32).reshape(-1, 4)
    bend = np.zeros_like(phi) if bend is None else np.array(bend, np.int32).reshape(-1, 4)
    return Sample(phi=phi * present, theta=theta * present, bend=bend * present, present=present)


def test_wrap_dphi():
    np.testing.assert_array_equal(wrap_dphi(np.array([21590 - 10, 10 - 21590, 0, 10800])),
                                  np.array([-20, 20, 0, -10800]))


def test_engineered_features_values():
    s = _sample([[100, 150, 21599, 3000]], [[1, 1, 1, 0]], theta=[[40, 41, 43, 0]])
    f = engineered_features(s)
    row = dict(zip(ENGINEERED_NAMES, f.values[0], strict=False))
    assert row["dphi_12"] == 50
    assert row["dphi_13"] == -101  # wraps through 0
    assert row["dphi_14"] == 0
    assert row["dphi_24"] == 0
    assert row["dtheta_13"] == 3
    assert row["present_st4"] == 0
    assert row["present_st1"] == 1
    assert row["theta"] == 40


def test_saturation_and_first_station_theta():
    s = _sample([[0, 5000, 0, 0]], [[0, 1, 1, 1]], theta=[[0, 33, 34, 35]])
    f = engineered_features(s)
    row = dict(zip(ENGINEERED_NAMES, f.values[0], strict=False))
    assert row["dphi_23"] == -DPHI_MAX - 1
    assert row["theta"] == 33  # first present station is station 2


def test_scaled_inputs_lie_on_the_input_quantizer_grid():
    s = simulate_muons(20_000, 1)
    for feats in (engineered_features(s), station_features(s)):
        x = feats.scaled().astype(np.float64)
        lsb = 2.0 ** -(INPUT_BITS - 1 - INPUT_INTEGER)
        assert np.all(x == np.round(x / lsb) * lsb)
        assert x.min() >= -(2.0**INPUT_INTEGER)
        assert x.max() <= 2.0**INPUT_INTEGER - lsb


def test_station_features_shape_and_missing():
    s = _sample([[100, 150, 0, 90]], [[1, 1, 0, 1]], bend=[[3, -2, 0, 1]])
    f = station_features(s)
    assert f.values.shape == (1, 4, 5)
    np.testing.assert_array_equal(f.values[0, :, 0], [0, 50, 0, -10])
    np.testing.assert_array_equal(f.values[0, 2], [0, 0, 0, 0, 0])


def test_has_track_and_split():
    s = _sample([[1, 2, 3, 4], [1, 2, 3, 4]], [[1, 0, 0, 0], [0, 1, 1, 0]])
    np.testing.assert_array_equal(has_track(s), [False, True])
    parts = split_indices(1000, 5)
    joined = np.sort(np.concatenate(list(parts.values())))
    np.testing.assert_array_equal(joined, np.arange(1000))
    assert len(parts["train"]) == 600
    np.testing.assert_array_equal(split_indices(1000, 5)["test"], parts["test"])
