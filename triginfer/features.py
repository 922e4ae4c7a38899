"""Trigger features from station words, in hardware integer units, and the train/val/test split.

Two representations, both integers exactly as firmware would compute them from
the station words (differences, saturations; no floating point):

* **engineered** (for the DNN, EMTF-like), 21 columns: ``dphi_ij`` for the 6
  station pairs (phi difference wrapped to the half circle and saturated to a
  12-bit signed word), ``dtheta_ij`` for the 6 pairs (saturated to 6 bits), the
  4 bends, the 4 presence bits (the station pattern "mode", one bit per
  column) and the theta of the first station that fired. A difference
  involving a missing station is 0 and the presence bits say so explicitly.
* **stations** (for the CNN), shape ``(4, 5)``: per station, dphi to the first
  present station, dtheta to it, bend, presence bit and theta.

Each column has a power-of-two *shift*: the network sees ``value * 2**-shift``,
a pure wiring change in firmware, which puts every input in ``[-8, 8)`` on an
LSB grid of ``2**-8`` so that a ``quantized_bits(12, 3)`` input quantizer holds
every feature exactly (see :data:`INPUT_BITS`, :data:`INPUT_INTEGER`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from triginfer.quantization.fixed import FixedType
from triginfer.simulation import N_STATIONS, PHI_FULL_CIRCLE, Sample

PAIRS = tuple(combinations(range(N_STATIONS), 2))
DPHI_MAX = 2047  # 12-bit signed
DTHETA_MAX = 31  # 6-bit signed
SHIFT_DPHI, SHIFT_DTHETA, SHIFT_BEND, SHIFT_THETA = 8, 3, 3, 5
#: Input quantizer that represents every scaled feature exactly: quantized_bits(12, 3).
INPUT_BITS, INPUT_INTEGER = 12, 3
#: The type that holds every scaled muon_engineered feature exactly (the DNN's input grid;
#: the BDT firmware's input type).
MUON_INPUT_TYPE = FixedType(INPUT_BITS, INPUT_INTEGER + 1, True, "RND_CONV", "SAT")
#: The muon pT models regress q/pT times this (``triginfer train``'s target, and the default
#: ``--target-scale`` of the export commands).
TARGET_SCALE = 8.0

ENGINEERED_NAMES = (
    tuple(f"dphi_{a + 1}{b + 1}" for a, b in PAIRS)
    + tuple(f"dtheta_{a + 1}{b + 1}" for a, b in PAIRS)
    + tuple(f"bend_st{i + 1}" for i in range(N_STATIONS))
    + tuple(f"present_st{i + 1}" for i in range(N_STATIONS))
    + ("theta",)
)
ENGINEERED_SHIFTS = np.array(
    [SHIFT_DPHI] * len(PAIRS) + [SHIFT_DTHETA] * len(PAIRS) + [SHIFT_BEND] * N_STATIONS
    + [0] * N_STATIONS + [SHIFT_THETA], dtype=np.int32,
)
STATION_CHANNELS = ("dphi", "dtheta", "bend", "present", "theta")
STATION_SHIFTS = np.array([SHIFT_DPHI, SHIFT_DTHETA, SHIFT_BEND, 0, SHIFT_THETA], dtype=np.int32)


@dataclass
class FeatureSet:
    """Integer features plus the per-column power-of-two shift the network input applies.

    ``values`` is int32 of shape ``(n, n_features)`` (engineered) or ``(n, 4, 5)``
    (stations); ``shifts`` broadcasts against its trailing axis.
    """

    names: tuple[str, ...]
    values: np.ndarray
    shifts: np.ndarray

    def scaled(self) -> np.ndarray:
        """Network inputs: ``values * 2**-shifts`` as float32 (exact: small integers, pow-2)."""
        return (self.values.astype(np.float64) * np.exp2(-self.shifts.astype(np.float64))
                ).astype(np.float32)

    @property
    def ranges(self) -> dict[str, tuple[int, int]]:
        """Min and max integer value of each column (over all other axes)."""
        flat = self.values.reshape(-1, self.values.shape[-1])
        if flat.shape[0] == 0:
            return {n: (0, 0) for n in self.names}
        return {n: (int(flat[:, i].min()), int(flat[:, i].max()))
                for i, n in enumerate(self.names)}


def wrap_dphi(dphi: np.ndarray) -> np.ndarray:
    """Wrap a phi difference (1/60 degree units) into ``[-10800, 10800)``."""
    half = PHI_FULL_CIRCLE // 2
    return np.mod(dphi + half, PHI_FULL_CIRCLE) - half


def _first_present(present: np.ndarray) -> np.ndarray:
    """Index of the first station that fired (0 when none)."""
    return np.argmax(present != 0, axis=1)


def engineered_features(sample: Sample) -> FeatureSet:
    """The 21 EMTF-like integer features of :data:`ENGINEERED_NAMES`."""
    n = len(sample)
    phi = sample.phi.astype(np.int64)
    theta = sample.theta.astype(np.int64)
    present = sample.present != 0
    cols = []
    for a, b in PAIRS:
        both = present[:, a] & present[:, b]
        d = np.clip(wrap_dphi(phi[:, b] - phi[:, a]), -DPHI_MAX - 1, DPHI_MAX)
        cols.append(np.where(both, d, 0))
    for a, b in PAIRS:
        both = present[:, a] & present[:, b]
        d = np.clip(theta[:, b] - theta[:, a], -DTHETA_MAX - 1, DTHETA_MAX)
        cols.append(np.where(both, d, 0))
    for i in range(N_STATIONS):
        cols.append(sample.bend[:, i].astype(np.int64))
    for i in range(N_STATIONS):
        cols.append(present[:, i].astype(np.int64))
    first = _first_present(sample.present)
    cols.append(theta[np.arange(n), first])
    values = np.stack(cols, axis=1).astype(np.int32) if n else np.zeros((0, 21), np.int32)
    return FeatureSet(names=ENGINEERED_NAMES, values=values, shifts=ENGINEERED_SHIFTS)


def station_features(sample: Sample) -> FeatureSet:
    """Per-station sequence ``(n, 4, 5)``: dphi and dtheta to the first present station,
    bend, presence bit, theta."""
    n = len(sample)
    present = sample.present != 0
    first = _first_present(sample.present)
    rows = np.arange(n)
    phi = sample.phi.astype(np.int64)
    theta = sample.theta.astype(np.int64)
    dphi = np.clip(wrap_dphi(phi - phi[rows, first][:, None]), -DPHI_MAX - 1, DPHI_MAX)
    dtheta = np.clip(theta - theta[rows, first][:, None], -DTHETA_MAX - 1, DTHETA_MAX)
    channels = [dphi, dtheta, sample.bend.astype(np.int64), present.astype(np.int64), theta]
    values = np.stack([np.where(present, c, 0) for c in channels], axis=2).astype(np.int32)
    return FeatureSet(names=STATION_CHANNELS, values=values, shifts=STATION_SHIFTS)


def has_track(sample: Sample, min_stations: int = 2) -> np.ndarray:
    """Events a track finder can build a track from: at least ``min_stations`` stations."""
    return sample.n_stations >= min_stations


def split_indices(n: int, seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
                  ) -> dict[str, np.ndarray]:
    """Random train/validation/test index split of ``n`` events, deterministic by seed."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        from triginfer.errors import ConfigError

        raise ConfigError(f"split fractions must be 3 non-negative numbers summing to 1: {fractions}")
    perm = np.random.default_rng([seed, 3]).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {
        "train": np.sort(perm[:n_train]),
        "val": np.sort(perm[n_train:n_train + n_val]),
        "test": np.sort(perm[n_train + n_val:]),
    }
