"""Baselines on the same test set: an analytic Δφ lookup table and a gradient-boosted tree.

* :class:`AnalyticLUT` -- what the forward muon trigger did before machine
  learning: ``q/pT = c[pair, eta_bin] * dphi`` where ``dphi`` is the bending
  between the first two stations that fired, ``pair`` which two stations they
  are, and ``eta_bin`` a bin of the first station's theta word. Each ``c`` is a
  least-squares fit through the origin on the training sample.
* :func:`train_bdt` -- an xgboost regressor on the same engineered features as the DNN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from triginfer.features import wrap_dphi
from triginfer.simulation import N_STATIONS, Sample

PAIRS = tuple(combinations(range(N_STATIONS), 2))


def _first_two(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pair index, dphi, theta of first station, has-two-stations) per event."""
    present = sample.present != 0
    order = np.argsort(~present, axis=1, kind="stable")  # present stations first, in order
    a, b = order[:, 0], order[:, 1]
    rows = np.arange(len(sample))
    ok = present[rows, a] & present[rows, b]
    pair_index = np.zeros(len(sample), dtype=np.int64)
    for k, (i, j) in enumerate(PAIRS):
        pair_index[(a == i) & (b == j)] = k
    dphi = wrap_dphi(sample.phi[rows, b].astype(np.int64) - sample.phi[rows, a])
    return pair_index, dphi.astype(np.float64), sample.theta[rows, a], ok


@dataclass
class AnalyticLUT:
    """Binned-in-eta lookup ``q/pT = c * dphi`` (see the module docstring)."""

    n_eta_bins: int = 8
    theta_max: int = 128
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def _eta_bin(self, theta: np.ndarray) -> np.ndarray:
        return np.clip(theta * self.n_eta_bins // self.theta_max, 0, self.n_eta_bins - 1)

    def fit(self, sample: Sample) -> AnalyticLUT:
        """Fit every (pair, eta bin) coefficient on a sample with truth."""
        pair, dphi, theta, ok = _first_two(sample)
        target = sample.truth["gen_q_over_pt"]
        cells = pair * self.n_eta_bins + self._eta_bin(theta)
        n_cells = len(PAIRS) * self.n_eta_bins
        sxy = np.bincount(cells[ok], weights=(dphi * target)[ok], minlength=n_cells)
        sxx = np.bincount(cells[ok], weights=(dphi * dphi)[ok], minlength=n_cells)
        coef = np.divide(sxy, sxx, out=np.zeros(n_cells), where=sxx > 0)
        # Empty cells borrow the mean coefficient of their station pair.
        coef = coef.reshape(len(PAIRS), self.n_eta_bins)
        for k in range(len(PAIRS)):
            empty = coef[k] == 0
            if empty.any() and (~empty).any():
                coef[k, empty] = coef[k, ~empty].mean()
        self.coefficients = coef
        return self

    def predict(self, sample: Sample) -> np.ndarray:
        """Predicted q/pT, shape ``(n, 1)``; 0 (infinite pT) where fewer than 2 stations fired."""
        pair, dphi, theta, ok = _first_two(sample)
        q_over_pt = self.coefficients[pair, self._eta_bin(theta)] * dphi
        return np.where(ok, q_over_pt, 0.0).reshape(-1, 1)

    def to_dict(self) -> dict:
        """The lookup table as JSON."""
        return {"n_eta_bins": self.n_eta_bins, "pairs": [f"{i + 1}{j + 1}" for i, j in PAIRS],
                "coefficients": self.coefficients.tolist()}


def train_bdt(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
              seed: int, n_estimators: int = 300, max_depth: int = 6,
              w_train: np.ndarray | None = None, w_val: np.ndarray | None = None):
    """An xgboost regressor with early stopping on the validation set (optionally weighted)."""
    import xgboost as xgb

    model = xgb.XGBRegressor(n_estimators=n_estimators, max_depth=max_depth, learning_rate=0.1,
                             tree_method="hist", n_jobs=2, random_state=seed,
                             early_stopping_rounds=20)
    model.fit(x_train, y_train, sample_weight=w_train, eval_set=[(x_val, y_val)],
              sample_weight_eval_set=None if w_val is None else [w_val], verbose=False)
    return model
