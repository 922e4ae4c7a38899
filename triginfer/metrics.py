"""Trigger physics metrics: pT resolution, charge mis-assignment, efficiency turn-ons, rates.

Conventions:

* The resolution of a pT estimate is the spread of
  ``r = (1/pT_pred - 1/pT_true) * pT_true``, quoted as half the central 68%
  interval (``sigma68``) and as the width of a Gaussian fitted to the core.
* Turn-ons follow the L1 convention: the predicted pT is multiplied by a scale
  chosen so that the efficiency reaches 90% at the threshold; the scale is
  derived per model and per threshold from muons whose true pT lies within
  ``window`` (relative) of the threshold, and stored with the metrics.
* Rates come from the minbias sample: ``rate = n_passing * rate_per_event``
  (see :func:`triginfer.simulation.minbias_rate_per_event`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

PT_CAP = 10_000.0  # GeV: |q/pT| below 1e-4 counts as this pT
DEFAULT_PT_BINS = (2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 100, 1000)

log = logging.getLogger(__name__)
#: small-sample warnings already given (once per threshold and sample, not per model)
_WARNED: set[tuple] = set()


def pt_from_q_over_pt(q_over_pt: np.ndarray) -> np.ndarray:
    """``1/|q/pT|`` capped at :data:`PT_CAP`."""
    return 1.0 / np.maximum(np.abs(np.asarray(q_over_pt, dtype=np.float64)), 1.0 / PT_CAP)


def relative_residual(pred_q_over_pt: np.ndarray, true_pt: np.ndarray) -> np.ndarray:
    """``(1/pT_pred - 1/pT_true) * pT_true`` per event."""
    return np.abs(np.asarray(pred_q_over_pt, np.float64)) * np.asarray(true_pt, np.float64) - 1.0


def sigma68(values: np.ndarray) -> float:
    """Half the width of the central 68.27% interval."""
    if len(values) == 0:
        return float("nan")
    lo, hi = np.percentile(values, [15.865, 84.135])
    return float((hi - lo) / 2.0)


def gaussian_core_sigma(values: np.ndarray, n_sigma: float = 2.0, bins: int = 60) -> float:
    """Width of a Gaussian fitted to the histogram of ``values`` within median ± n_sigma·sigma68.

    Falls back to ``sigma68`` if there are too few values or the fit fails.
    """
    from scipy.optimize import curve_fit

    s68 = sigma68(values)
    if len(values) < 50 or not np.isfinite(s68) or s68 <= 0:
        return s68
    center = float(np.median(values))
    lo, hi = center - n_sigma * s68, center + n_sigma * s68
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    mids = 0.5 * (edges[1:] + edges[:-1])

    def gauss(x, a, mu, sigma):
        return a * np.exp(-0.5 * ((x - mu) / sigma) ** 2)

    try:
        popt, _ = curve_fit(gauss, mids, counts, p0=(counts.max(), center, s68),
                            sigma=np.sqrt(np.maximum(counts, 1)), maxfev=5000)
    except (RuntimeError, ValueError):
        return s68
    sigma = abs(float(popt[2]))
    return sigma if np.isfinite(sigma) and sigma < 10 * s68 else s68


@dataclass
class Resolution:
    """Resolution overall and in bins of true pT."""

    sigma68: float
    gauss_sigma: float
    bin_edges: list[float]
    sigma68_per_bin: list[float]
    gauss_per_bin: list[float]
    counts_per_bin: list[int]

    def as_dict(self) -> dict:
        """JSON-friendly mapping."""
        return self.__dict__.copy()


def resolution(pred_q_over_pt: np.ndarray, true_pt: np.ndarray,
               bins: tuple[float, ...] = DEFAULT_PT_BINS) -> Resolution:
    """pT resolution inclusive and per true-pT bin (see the module docstring)."""
    r = relative_residual(pred_q_over_pt, true_pt)
    per68, perg, counts = [], [], []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        sel = (true_pt >= lo) & (true_pt < hi)
        per68.append(sigma68(r[sel]))
        perg.append(gaussian_core_sigma(r[sel]))
        counts.append(int(sel.sum()))
    return Resolution(sigma68(r), gaussian_core_sigma(r), [float(b) for b in bins],
                      per68, perg, counts)


def charge_misassignment(pred_q_over_pt: np.ndarray, true_q_over_pt: np.ndarray) -> float:
    """Fraction of muons whose predicted charge (sign) differs from the true one."""
    return float(np.mean(np.sign(pred_q_over_pt) != np.sign(true_q_over_pt)))


def derive_scale(true_pt: np.ndarray, pred_pt: np.ndarray, threshold: float,
                 efficiency: float = 0.9, window: float = 0.05) -> float:
    """Scale s such that a fraction ``efficiency`` of muons with true pT within ``window``
    (relative) of ``threshold`` have ``s * pT_pred > threshold``.

    A small sample degrades instead of failing: with fewer than 10 muons in the window it is
    widened (x2, x4, x8) with a warning; with fewer still, the scale is 1 (a warning says so).
    """
    for factor in (1, 2, 4, 8):
        sel = np.abs(true_pt / threshold - 1.0) < window * factor
        if sel.sum() >= 10:
            if factor > 1 and (threshold, factor, len(true_pt)) not in _WARNED:
                _WARNED.add((threshold, factor, len(true_pt)))
                log.warning("only %d muons within %.0f%% of %g GeV: the 90%% scale uses a "
                            "+-%.0f%% window (a larger sample gives a sharper one)",
                            int(np.sum(np.abs(true_pt / threshold - 1.0) < window)),
                            100 * window, threshold, 100 * window * factor)
            quantile = np.quantile(pred_pt[sel], 1.0 - efficiency)
            return float(threshold / max(quantile, 1e-6))
    log.warning("too few muons near %g GeV (%d within +-%.0f%%) to derive a scale: using 1 "
                "(use a larger sample)", threshold, int(sel.sum()), 100 * window * 8)
    return 1.0


def turn_on(true_pt: np.ndarray, pred_pt: np.ndarray, threshold: float, scale: float = 1.0,
            bins: np.ndarray | None = None) -> dict[str, list[float]]:
    """Efficiency of ``scale * pT_pred > threshold`` in bins of true pT, with binomial errors."""
    bins = np.geomspace(2, 200, 41) if bins is None else np.asarray(bins, float)
    passed = scale * pred_pt > threshold
    idx = np.digitize(true_pt, bins) - 1
    ok = (idx >= 0) & (idx < len(bins) - 1)
    n = np.bincount(idx[ok], minlength=len(bins) - 1).astype(float)
    k = np.bincount(idx[ok], weights=passed[ok].astype(float), minlength=len(bins) - 1)
    eff = np.divide(k, n, out=np.full_like(n, np.nan), where=n > 0)
    err = np.sqrt(np.divide(eff * (1 - eff), n, out=np.zeros_like(n), where=n > 0))
    lo, hi = clopper_pearson(k, n)
    return {"bin_edges": bins.tolist(), "efficiency": eff.tolist(), "error": err.tolist(),
            "cp_lo": lo.tolist(), "cp_hi": hi.tolist(), "counts": n.tolist(),
            "passed": k.tolist()}


#: Confidence level of every interval the project quotes (one standard deviation).
CL = 0.6827


def clopper_pearson(k: np.ndarray | int, n: np.ndarray | int, cl: float = CL
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) central interval of a binomial fraction ``k/n``: ``(lo, hi)``;
    ``(0, 1)`` where ``n`` is 0. Arrays broadcast."""
    from scipy.stats import beta

    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1.0 - cl
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    lo = np.where(n > 0, lo, 0.0)
    hi = np.where(n > 0, hi, 1.0)
    return lo, hi


def poisson_interval(k: np.ndarray | int, cl: float = CL) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) central interval of a Poisson mean given ``k`` observed counts."""
    from scipy.stats import chi2

    k = np.asarray(k, dtype=float)
    alpha = 1.0 - cl
    lo = np.where(k > 0, chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
    hi = chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2
    return lo, hi


def rate_with_uncertainty(pred_pt_minbias: np.ndarray, threshold: float, scale: float,
                          rate_per_event: float) -> dict[str, float]:
    """The rate (Hz) of ``scale * pT_pred > threshold`` with its statistical interval: the
    passing count ``k`` of ``N`` minbias events is binomial, so the interval is Clopper-Pearson
    on ``k/N`` times ``N * rate_per_event`` (Poisson-like for ``k << N``)."""
    n = len(pred_pt_minbias)
    k = int(np.count_nonzero(scale * pred_pt_minbias > threshold))
    lo, hi = clopper_pearson(k, n)
    total = n * rate_per_event
    return {"rate_hz": k * rate_per_event, "err_lo_hz": float(k * rate_per_event - lo * total),
            "err_hi_hz": float(hi * total - k * rate_per_event), "passing": k, "minbias": n}


def ratio_with_uncertainty(k_num: int, k_den: int) -> dict[str, float]:
    """Ratio of two rates measured on the same minbias events, ``k_num / k_den``, with the
    uncertainty of independent Poisson counts (conservative: the two counts share events,
    which makes the true uncertainty of the ratio smaller)."""
    if k_den == 0:
        return {"ratio": float("nan"), "error": float("nan")}
    ratio = k_num / k_den
    rel = np.sqrt((1.0 / k_num if k_num else 1.0) + 1.0 / k_den)
    return {"ratio": float(ratio), "error": float(ratio * rel)}


def bootstrap_sigma68(pred_q_over_pt: np.ndarray, true_pt: np.ndarray, n_boot: int = 100,
                      seed: int = 0) -> float:
    """Statistical uncertainty of the inclusive ``sigma68`` from ``n_boot`` bootstrap
    resamples of the test muons (standard deviation of the resampled values)."""
    r = relative_residual(pred_q_over_pt, true_pt)
    if len(r) < 20:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = [sigma68(r[rng.integers(0, len(r), len(r))]) for _ in range(n_boot)]
    return float(np.std(values, ddof=1))


def rate(pred_pt_minbias: np.ndarray, threshold: float, scale: float,
         rate_per_event: float) -> float:
    """Trigger rate (Hz) of ``scale * pT_pred > threshold`` on the minbias sample."""
    return float(np.count_nonzero(scale * pred_pt_minbias > threshold) * rate_per_event)
