"""FPGA latency and resource *estimates* from a FirmwareSpec, without vendor tools.

For hls4ml ``io_parallel`` with the Latency strategy and reuse factor R (and a
rough ``io_stream`` variant). Everything here is an estimate; synthesis
reports (``export-hls --synth``) replace it and are labelled as such.

Rules (documented so a user can judge them):

* **Multiplications** of a dense/conv layer: one per weight that is neither
  zero (pruned) nor ±2^k (a shift, free in hardware), times the number of
  output positions for io_parallel convolutions.
* **DSP vs LUT**: a multiplication goes to a DSP48E2 when both operands are at
  least ``dsp_min_width`` (10) bits wide; otherwise Vivado builds it from LUTs,
  costing about ``a * b / 2`` LUTs for an a-by-b-bit product. With reuse R each
  DSP serves R multiplications (``ceil(n / R)`` DSPs).
* **Adder tree**: ``n_terms - 1`` additions per output at the accumulator
  width, one LUT per bit; ``ceil(log2 n_in)`` levels, ``adder_levels_per_cycle``
  of them per clock cycle (2 at 5 ns).
* **Latency per dense/conv layer**: 1 cycle of multiplication (3 when DSPs are
  used, their pipeline registers), the adder-tree levels, 1 output register,
  plus ``R - 1`` cycles of reuse; activations and pooling 1 cycle; flatten 0.
* **Initiation interval**: R for io_parallel; for io_stream, the number of
  output positions times R of the slowest layer.
* **FF**: one register per product bit and per accumulator bit of each output
  (a rough upper bound of hls4ml's pipelining).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from triginfer.hls_export.spec import FirmwareSpec, SpecLayer


def _is_power_of_two(values: np.ndarray) -> np.ndarray:
    a = np.abs(values.astype(np.int64))
    return (a > 0) & ((a & (a - 1)) == 0)


def _positions(layer: SpecLayer) -> int:
    if layer.kind == "conv1d":
        return int(layer.params["out_width"])
    if layer.kind == "conv2d":
        return int(layer.params["out_height"] * layer.params["out_width"])
    return 1


def estimate(spec: FirmwareSpec, reuse_factor: int | None = None,
             io_type: str | None = None, clock_period_ns: float | None = None,
             dsp_min_width: int = 10, adder_levels_per_cycle: int | None = None
             ) -> dict[str, Any]:
    """Per-layer and total latency (cycles, ns), II and resources of ``spec`` (an estimate)."""
    reuse = int(reuse_factor or spec.settings.get("reuse_factor", 1))
    io_type = io_type or spec.settings.get("io_type", "io_parallel")
    clock = float(clock_period_ns or spec.settings.get("clock_period_ns", 5.0))
    levels_per_cycle = adder_levels_per_cycle or max(1, int(clock // 2.5))
    layers = []
    in_width = spec.input_type.width
    totals = {"LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0}
    cycles_total = 0
    ii = reuse
    for layer in spec.layers:
        result = layer.fixed("result")
        entry: dict[str, Any] = {"layer": layer.name, "kind": layer.kind, "cycles": 0,
                                 "multiplications": 0, "dsp_mults": 0, "lut_mults": 0,
                                 "LUT": 0, "FF": 0, "DSP": 0}
        n_out = int(np.prod(layer.output_shape))
        if layer.kind in ("dense", "conv1d", "conv2d"):
            w = layer.arrays["weight"].reshape(-1, layer.arrays["weight"].shape[-1])
            positions = _positions(layer)
            real = (w != 0) & ~_is_power_of_two(w)
            n_mult = int(real.sum()) * positions
            w_width = layer.fixed("weight").width
            acc_width = layer.fixed("accum").width
            use_dsp = min(in_width, w_width) >= dsp_min_width
            terms = int((w != 0).sum(axis=0).max(initial=0))
            adds = int(max((w != 0).sum(axis=0).sum() - w.shape[1], 0)) * positions
            entry["multiplications"] = n_mult
            entry["zero_weights"] = int((w == 0).sum())
            entry["power_of_two_weights"] = int(_is_power_of_two(w).sum())
            if use_dsp:
                entry["dsp_mults"] = n_mult
                entry["DSP"] = math.ceil(n_mult / reuse)
            else:
                entry["lut_mults"] = n_mult
                entry["LUT"] += math.ceil(n_mult / reuse) * math.ceil(in_width * w_width / 2)
            entry["LUT"] += adds * acc_width
            entry["FF"] = n_mult * (in_width + w_width) // max(reuse, 1) + n_out * acc_width
            tree = math.ceil(math.log2(max(terms, 1) + 1))
            entry["adder_levels"] = tree
            entry["cycles"] = (3 if use_dsp else 1) + math.ceil(tree / levels_per_cycle) + 1 \
                + (reuse - 1)
            if io_type == "io_stream" and positions > 1:
                entry["cycles"] += positions * reuse
                ii = max(ii, positions * reuse)
        elif layer.kind in ("relu", "linear", "sigmoid", "tanh", "softmax", "batchnorm",
                            "maxpool1d", "maxpool2d"):
            entry["cycles"] = 1
            entry["LUT"] = n_out * max(result.width // 2, 1)
            entry["FF"] = n_out * result.width
            if layer.kind in ("sigmoid", "tanh", "softmax"):
                entry["BRAM_18K"] = 1
                totals["BRAM_18K"] += 1
        in_width = result.width
        for res in ("LUT", "FF", "DSP"):
            totals[res] += entry[res]
        cycles_total += entry["cycles"]
        layers.append(entry)
    return {"source": "estimate", "io_type": io_type, "reuse_factor": reuse,
            "clock_period_ns": clock, "latency_cycles": cycles_total,
            "latency_ns": cycles_total * clock, "initiation_interval": ii,
            "resources": totals, "layers": layers,
            "multiplications": sum(e["multiplications"] for e in layers)}


def with_synthesis(estimated: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """The synthesis report's numbers where one exists (labelled), else the estimate."""
    if not report:
        return estimated
    clock = report.get("clock_period_ns") or estimated["clock_period_ns"]
    cycles = report["latency_cycles_worst"]
    return {**estimated, "source": "synthesis", "latency_cycles": cycles,
            "latency_ns": cycles * clock, "clock_period_ns": clock,
            "initiation_interval": report["initiation_interval_max"],
            "resources": {k: v for k, v in report["resources"].items()},
            "estimate": {k: estimated[k] for k in ("latency_cycles", "latency_ns",
                                                   "initiation_interval", "resources")}}
