"""Plots (matplotlib with an mplhep style): resolution, turn-ons, rates, loss curves, scans."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from triginfer.atomic import atomic_path

_STYLE_SET = False


def _plt():
    global _STYLE_SET
    import matplotlib

    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not _STYLE_SET:
        import mplhep

        plt.style.use(mplhep.style.CMS)
        from cycler import cycler

        # ten distinct colours: a run compares up to ~10 models
        plt.rcParams.update({"font.size": 14, "figure.figsize": (8, 6),
                             "axes.prop_cycle": cycler(color=plt.cm.tab10.colors)})
        _STYLE_SET = True
    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return path


def resolution_vs_pt(resolutions: Mapping[str, dict], path: Path) -> Path:
    """sigma68 of the pT residual per true-pT bin, one line per model."""
    plt = _plt()
    fig, ax = plt.subplots()
    for name, res in resolutions.items():
        edges = np.asarray(res["bin_edges"])
        centers = np.sqrt(edges[1:] * edges[:-1])
        ax.plot(centers, res["sigma68_per_bin"], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel(r"true $p_T$ [GeV]")
    ax.set_ylabel(r"$\sigma_{68}$ of $(1/p_T^{pred} - 1/p_T^{true})\,p_T^{true}$")
    ax.legend(fontsize=11)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def turn_ons(curves: Mapping[float, Mapping[str, dict]], path: Path,
             reference: str | None = "analytic") -> Path:
    """Efficiency vs true pT on a linear axis around each threshold (0.25x to 2.5x), one
    column per threshold, Clopper-Pearson bands, and a ratio panel to ``reference``."""
    plt = _plt()
    thresholds = list(curves)
    fig, axes = plt.subplots(2, len(thresholds), figsize=(6 * len(thresholds), 7.5),
                             sharex="col", gridspec_kw={"height_ratios": [3, 1]}, squeeze=False)
    for col, thr in enumerate(thresholds):
        ax, rax = axes[0, col], axes[1, col]
        ref = curves[thr].get(reference) if reference else None
        for name, c in curves[thr].items():
            edges = np.asarray(c["bin_edges"])
            centers = 0.5 * (edges[1:] + edges[:-1])
            eff = np.asarray(c["efficiency"], dtype=float)
            line, = ax.plot(centers, eff, marker=".", lw=1, label=name)
            if "cp_lo" in c:
                ax.fill_between(centers, c["cp_lo"], c["cp_hi"], color=line.get_color(),
                                alpha=0.2, lw=0)
            if ref is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = eff / np.asarray(ref["efficiency"], dtype=float)
                rax.plot(centers, ratio, marker=".", lw=1, color=line.get_color())
        ax.axvline(thr, color="gray", ls="--", lw=1)
        ax.axhline(0.9, color="gray", ls=":", lw=1)
        ax.set_xlim(0.25 * thr, 2.5 * thr)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"threshold {thr:g} GeV (90% of muons at {thr:g} GeV pass)", fontsize=12)
        ax.grid(alpha=0.3)
        rax.axhline(1.0, color="gray", lw=1)
        rax.axvline(thr, color="gray", ls="--", lw=1)
        rax.set_ylim(0.5, 1.5)
        rax.set_xlabel(r"true muon $p_T$ [GeV]")
        rax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("efficiency (fraction of muons passing)")
    axes[1, 0].set_ylabel(f"ratio to {reference}" if reference else "")
    axes[0, 0].legend(fontsize=9, loc="lower right")
    return _save(fig, path)


def rates(curves: Mapping[str, dict], path: Path, reference: str | None = "analytic") -> Path:
    """Trigger rate vs threshold (90% convention), one line per model with its statistical
    band, and a ratio panel to ``reference``."""
    plt = _plt()
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ref = curves.get(reference) if reference else None
    for name, c in curves.items():
        thr = np.asarray(c["thresholds"], dtype=float)
        r = np.asarray(c["rate_hz"], dtype=float) / 1e3
        line, = ax.plot(thr, r, marker="o", ms=4, label=name)
        if "err_lo_hz" in c:
            ax.fill_between(thr, r - np.asarray(c["err_lo_hz"]) / 1e3,
                            r + np.asarray(c["err_hi_hz"]) / 1e3, color=line.get_color(),
                            alpha=0.2, lw=0)
        if ref is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.asarray(c["rate_hz"], float) / np.asarray(ref["rate_hz"], float)
            rax.plot(thr, ratio, marker="o", ms=4, color=line.get_color())
    ax.set_yscale("log")
    ax.set_ylabel("L1 rate [kHz]")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, which="both")
    rax.axhline(1.0, color="gray", lw=1)
    rax.set_xlabel(r"$p_T$ threshold (90% efficiency point) [GeV]")
    rax.set_ylabel(f"ratio to {reference}" if reference else "")
    rax.grid(alpha=0.3)
    return _save(fig, path)


def loss_curves(histories: Mapping[str, Mapping[str, list[float]]], path: Path) -> Path:
    """Training and validation loss per epoch for each training phase."""
    plt = _plt()
    fig, ax = plt.subplots()
    for name, hist in histories.items():
        line, = ax.plot(hist.get("loss", []), label=f"{name} train")
        ax.plot(hist.get("val_loss", []), ls="--", color=line.get_color(), label=f"{name} val")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bit_scan(bits: list[int], sigmas: list[float], float_sigma: float, tolerance: float,
             chosen: int | None, path: Path, float_label: str = "float",
             unpruned_sigma: float | None = None) -> Path:
    """Resolution vs uniform bit width, with the float reference (and, for a pruned model,
    the unpruned float model too) and the tolerance band."""
    plt = _plt()
    fig, ax = plt.subplots()
    ax.plot(bits, sigmas, marker="o", label="quantized (QAT from the reference)")
    ax.axhline(float_sigma, color="k", ls="--", label=float_label)
    if unpruned_sigma is not None:
        ax.axhline(unpruned_sigma, color="purple", ls="-.", label="float, unpruned")
    ax.axhspan(float_sigma, float_sigma * (1 + tolerance), color="green", alpha=0.15,
               label=f"float + {tolerance:.0%}")
    if chosen is not None:
        ax.axvline(chosen, color="green", ls=":", label=f"chosen: {chosen} bits")
    ax.set_xlabel("bit width (weights, biases, activations)")
    ax.set_ylabel(r"$\sigma_{68}$ of $(1/p_T^{pred} - 1/p_T^{true})\,p_T^{true}$ (relative)")
    ax.set_yscale("log")
    ax.legend(fontsize=11)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
