"""Plots (matplotlib with an mplhep style): resolution, turn-ons, rates, loss curves, scans."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

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
        plt.rcParams.update({"font.size": 14, "figure.figsize": (8, 6)})
        _STYLE_SET = True
    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    os.replace(tmp, path)
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


def turn_ons(curves: Mapping[float, Mapping[str, dict]], path: Path) -> Path:
    """Efficiency vs true pT, one panel per threshold, one line per model."""
    plt = _plt()
    thresholds = list(curves)
    fig, axes = plt.subplots(1, len(thresholds), figsize=(6 * len(thresholds), 5.5), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, thr in zip(axes, thresholds, strict=True):
        for name, c in curves[thr].items():
            edges = np.asarray(c["bin_edges"])
            centers = np.sqrt(edges[1:] * edges[:-1])
            ax.errorbar(centers, c["efficiency"], yerr=c["error"], marker=".", lw=1,
                        label=name)
        ax.axvline(thr, color="gray", ls="--", lw=1)
        ax.axhline(0.9, color="gray", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(r"true $p_T$ [GeV]")
        ax.set_title(f"threshold {thr:g} GeV", fontsize=14)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("efficiency")
    axes[0].legend(fontsize=10, loc="lower right")
    return _save(fig, path)


def rates(curves: Mapping[str, dict], path: Path) -> Path:
    """Trigger rate vs threshold (90% convention), one line per model."""
    plt = _plt()
    fig, ax = plt.subplots()
    for name, c in curves.items():
        ax.plot(c["thresholds"], np.asarray(c["rate_hz"]) / 1e3, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel(r"$p_T$ threshold (90% efficiency point) [GeV]")
    ax.set_ylabel("rate [kHz]")
    ax.legend(fontsize=11)
    ax.grid(alpha=0.3, which="both")
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
             chosen: int | None, path: Path) -> Path:
    """Resolution vs uniform bit width, with the float reference and its tolerance band."""
    plt = _plt()
    fig, ax = plt.subplots()
    ax.plot(bits, sigmas, marker="o", label="quantized")
    ax.axhline(float_sigma, color="k", ls="--", label="float")
    ax.axhspan(float_sigma, float_sigma * (1 + tolerance), color="green", alpha=0.15,
               label=f"float + {tolerance:.0%}")
    if chosen is not None:
        ax.axvline(chosen, color="green", ls=":", label=f"chosen: {chosen} bits")
    ax.set_xlabel("bit width (weights, biases, activations)")
    ax.set_ylabel(r"$\sigma_{68}$ resolution")
    ax.set_yscale("log")
    ax.legend(fontsize=11)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
