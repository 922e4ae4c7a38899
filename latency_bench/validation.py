"""Check the FPGA estimator against stored Vivado HLS synthesis reports.

The reference set (``benchmarks/reference/hls4ml_tutorial``) holds the integer
weights that were synthesised and the per-layer numbers of the C-synthesis
report (``synthesis.json``, with the source repository, commit and path of
each report). :func:`validate` rebuilds a FirmwareSpec per reference model,
runs :func:`~triginfer.latency_bench.fpga_estimate.estimate` on it and returns
estimate, synthesis and relative error per layer and for the model (softmax
excluded: triginfer does not estimate it, so the report's softmax instance is
subtracted from the totals).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.errors import InputFileError
from triginfer.firmware.spec import FirmwareSpec, SpecLayer
from triginfer.latency_bench.fpga_estimate import estimate

#: The reference set shipped in the repository.
DEFAULT_REFERENCE = Path(__file__).resolve().parent.parent / "benchmarks" / "reference" / \
    "hls4ml_tutorial"

_DENSE = ("fc1", "fc2", "fc3", "output")


def _spec_for(name: str, model: dict[str, Any], weights: dict[str, np.ndarray]) -> FirmwareSpec:
    """A FirmwareSpec of the dense layers of one reference model whose weights are stored."""
    n_in = weights[f"{name}/fc1"].shape[0]
    layers = [SpecLayer("input", "input", (n_in,), (n_in,),
                        types={"result": model["input_type"]})]
    for i, dense in enumerate(d for d in _DENSE if f"{name}/{d}" in weights):
        w = weights[f"{name}/{dense}"].astype(np.int64)
        layers.append(SpecLayer(
            dense, "dense", (w.shape[0],), (w.shape[1],),
            types={"weight": model["weight_type"], "bias": model["weight_type"],
                   "accum": model["accum_type"], "result": model["accum_type"]},
            arrays={"weight": w, "bias": np.zeros(w.shape[1], dtype=np.int64)}))
        if dense != "output":
            layers.append(SpecLayer(f"relu{i + 1}", "relu", (w.shape[1],), (w.shape[1],),
                                    types={"result": model["activation_type"]}))
    return FirmwareSpec(name=name, layers=layers,
                        settings={"io_type": "io_parallel", "strategy": "Latency",
                                  "reuse_factor": 1, "clock_period_ns": 5.0})


def _error(est: float, syn: float) -> float | None:
    return None if syn == 0 else est / syn - 1.0


def load_reference(directory: str | Path | None = None
                   ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``synthesis.json`` and the weights of a reference directory."""
    directory = Path(directory or DEFAULT_REFERENCE)
    try:
        meta = json.loads((directory / "synthesis.json").read_text())
        with np.load(directory / "weights.npz") as npz:
            weights = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read the estimator reference set in {directory}: {exc}") \
            from exc
    return meta, weights


def validate(directory: str | Path | None = None) -> dict[str, Any]:
    """Estimate vs synthesis for every reference model (see the module docstring)."""
    meta, weights = load_reference(directory)
    out: dict[str, Any] = {"tool": meta["tool"], "part": meta["part"], "models": {}}
    for name, model in meta["models"].items():
        spec = _spec_for(name, model, weights)
        est = estimate(spec)
        by_layer = {e["layer"]: e for e in est["layers"]}
        rows = []
        for layer, syn in model["layers"].items():
            if layer not in by_layer:
                continue
            e = by_layer[layer]
            row = {"layer": layer}
            # FF are compared for whole models only: the report books a layer's registers
            # partly in its instance and partly in the top level's "Register" row.
            for res in ("DSP", "LUT"):
                if res in syn:
                    row[res] = {"estimate": e[res], "synthesis": syn[res],
                                "error": _error(e[res], syn[res])}
            rows.append(row)
        result: dict[str, Any] = {"title": model["title"], "source": model["source"],
                                  "layers": rows}
        complete = all(f"{name}/{d}" in weights for d in _DENSE)
        if complete:
            total, soft = model["total"], model["softmax"]
            result["total"] = {
                "latency_cycles": {"estimate": est["latency_cycles"],
                                   "synthesis": total["latency_cycles"] - soft["latency_cycles"]},
            }
            for res in ("DSP", "LUT", "FF"):
                syn_value = total[res] - soft[res]
                result["total"][res] = {"estimate": est["resources"][res], "synthesis": syn_value,
                                        "error": _error(est["resources"][res], syn_value)}
        out["models"][name] = result
    return out


def summary_table(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`validate`'s result."""
    lines = ["| model | layer | DSP est / syn (err) | LUT est / syn (err) | FF est / syn (err) |",
             "|---|---|---|---|---|"]

    def cell(entry: dict[str, Any] | None) -> str:
        if not entry:
            return ""
        err = entry.get("error")
        text = f"{entry['estimate']:,} / {entry['synthesis']:,}"
        return text + (f" ({err:+.0%})" if err is not None else "")

    for name, model in result["models"].items():
        for row in model["layers"]:
            lines.append(f"| {name} | {row['layer']} | {cell(row.get('DSP'))} | "
                         f"{cell(row.get('LUT'))} | {cell(row.get('FF'))} |")
        if "total" in model:
            t = model["total"]
            lines.append(f"| {name} | **total (no softmax)**, latency "
                         f"{t['latency_cycles']['estimate']} / {t['latency_cycles']['synthesis']}"
                         f" cycles | {cell(t['DSP'])} | {cell(t['LUT'])} | {cell(t['FF'])} |")
    return "\n".join(lines)
