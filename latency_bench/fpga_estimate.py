"""FPGA latency and resource *estimates* from a FirmwareSpec, without vendor tools.

For hls4ml ``io_parallel`` with the Latency strategy and reuse factor R (and a
rough ``io_stream`` variant). Everything here is an estimate; synthesis
reports (``export-hls --synth``) replace it and are labelled as such.

The rules were fitted to, and are checked against, real Vivado HLS 2019.2
synthesis reports of the hls4ml tutorial jet tagger (16-64-32-32-5) that are
stored with their weights in ``benchmarks/reference/hls4ml_tutorial``; run
``benchmarks/validate_fpga_estimate.py`` for the per-layer comparison (results
in BENCHMARKS.md). Rules:

* **Products.** With R = 1 every weight is a constant, and Vivado HLS builds
  ``x * w`` from the weight's bits. A weight is reduced to its canonical
  signed-digit (CSD) form; its number of non-zero digits ``d`` decides:
  ``d = 0`` (pruned) costs nothing, ``d = 1`` (±2^k) is a free shift,
  ``d >= csd_dsp_min`` (3) goes to one DSP48 when the input operand is at
  least ``dsp_min_input_width`` (10) bits wide, anything else is built from
  ``d - 1`` LUT adders. Products of one input with weights of equal magnitude
  are shared (Vivado's common-subexpression elimination), so DSPs and LUT
  multipliers are counted per distinct (input, |weight|) pair. Checked: DSPs per
  layer within 2% on 8 of the 9 reference layers (11% on the 6-bit one). The
  input-width gate is only known to lie between 7 bits (6-bit inputs used no
  DSP) and 16 bits (used DSPs); 10 is a guess in between.
  With R > 1 the weights are multiplexed, the products are real multipliers:
  ``ceil(n_products / R)`` DSPs (LUT multipliers of ``a * b / 2`` LUTs under the
  width gate). Not checked against synthesis.
* **LUTs.** One LUT per accumulator bit per addition (one addition per
  non-zero weight, bias included), two LUTs per bit of each shift-add adder
  of a LUT multiplier (its operand is ``input width + weight bits`` wide); a ReLU
  costs ``1.75 * input width`` LUTs per output, plus ``6 * output width`` when it
  requantizes (QKeras ``quantized_relu``). Checked: within ~15% per dense layer.
* **Latency.** A dense/conv layer takes ``1 + ceil(levels / 5)`` cycles, with
  ``levels = ceil(log2(terms + 1))`` the adder-tree depth of its widest
  output (a DSP product and about five adder levels fit a 5 ns cycle at the
  accumulator widths seen); activations, pooling and flatten add none; with
  R > 1 add ``R - 1``. Scaled by ``5 ns / clock`` for other clocks. Checked:
  9 vs 9 and 8 vs 7 cycles on the two complete reference models.
* **FF.** Each dense/conv output register (accumulator width) once per cycle of
  the layer, plus each activation output and the input register. Rough: -34%
  and +19% on the reference models.
* **Convolutions, io_parallel** (from hls4ml's ``conv_1d/2d_latency_cl``
  templates, not checked against synthesis): the output positions are split
  into ``n_partitions`` (hls4ml's default: one per position, i.e.
  ParallelizationFactor 1) processed one per R cycles by a pipelined loop that
  shares one set of multipliers, so resources are those of
  ``positions / n_partitions`` positions, the layer takes ``n_partitions * R - 1``
  cycles more than a dense layer, and the top level (DATAFLOW) accepts a new
  event every ``n_partitions * R`` cycles.
* **Initiation interval**: R for io_parallel dense models; the largest
  ``n_partitions * R`` of the convolutions; for io_stream, the number of
  output positions times R of the slowest layer (not checked).
* Sigmoid/tanh/softmax tables: one BRAM_18K each (not checked).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from triginfer.hls_export.spec import FirmwareSpec

#: Constant multiplications with at least this many non-zero CSD digits use a DSP.
CSD_DSP_MIN = 3
#: ... provided the input operand is at least this wide (bits).
DSP_MIN_INPUT_WIDTH = 10
#: Adder-tree levels that fit one 5 ns cycle.
LEVELS_PER_5NS = 5


def csd_digits(values: np.ndarray) -> np.ndarray:
    """Non-zero digits of each integer's canonical signed-digit (NAF) form.

    Uses the identity ``weight(NAF(x)) = popcount(x XOR 3x)`` for ``x >= 0``.
    """
    a = np.abs(np.asarray(values, dtype=np.int64))
    x = a ^ (3 * a)
    count = np.zeros_like(x)
    while np.any(x):
        count += x & 1
        x >>= 1
    return count


def _significant_bits(values: np.ndarray) -> np.ndarray:
    """Bits of |v| once trailing zeros are dropped (0 for 0)."""
    a = np.abs(np.asarray(values, dtype=np.int64))
    out = np.zeros_like(a)
    nz = a > 0
    v = a[nz]
    v = v // (v & -v)                      # drop trailing zeros
    out[nz] = np.floor(np.log2(v)).astype(np.int64) + 1
    return out


def product_costs(weight: np.ndarray, in_width: int, csd_dsp_min: int = CSD_DSP_MIN,
                  dsp_min_input_width: int = DSP_MIN_INPUT_WIDTH) -> dict[str, int]:
    """DSP products, LUT-adder bits and shifts of ``x @ weight`` with constant weights.

    ``weight`` is (n_inputs, n_outputs) of integer mantissas; products of one input
    with equal |weight| are counted once.
    """
    dsp = lut_adder_bits = shifts = lut_products = 0
    for row in np.asarray(weight, dtype=np.int64):
        distinct = np.unique(np.abs(row[row != 0]))
        if distinct.size == 0:
            continue
        digits = csd_digits(distinct)
        sig = _significant_bits(distinct)
        shifts += int((digits == 1).sum())
        to_dsp = (digits >= csd_dsp_min) & (in_width >= dsp_min_input_width)
        dsp += int(to_dsp.sum())
        lut = (digits >= 2) & ~to_dsp
        lut_products += int(lut.sum())
        lut_adder_bits += int(((digits[lut] - 1) * (in_width + sig[lut])).sum())
    return {"dsp": dsp, "lut_products": lut_products, "lut_adder_bits": lut_adder_bits,
            "shifts": shifts}


def estimate(spec: FirmwareSpec, reuse_factor: int | None = None,
             io_type: str | None = None, clock_period_ns: float | None = None,
             csd_dsp_min: int = CSD_DSP_MIN, dsp_min_input_width: int = DSP_MIN_INPUT_WIDTH,
             ) -> dict[str, Any]:
    """Per-layer and total latency (cycles, ns), II and resources of ``spec`` (an estimate)."""
    reuse = int(reuse_factor or spec.settings.get("reuse_factor", 1))
    io_type = io_type or spec.settings.get("io_type", "io_parallel")
    clock = float(clock_period_ns or spec.settings.get("clock_period_ns", 5.0))
    levels_per_cycle = max(1.0, LEVELS_PER_5NS * clock / 5.0)
    layers = []
    in_width = spec.input_type.width
    totals = {"LUT": 0, "FF": in_width * int(np.prod(spec.input_shape)), "DSP": 0,
              "BRAM_18K": 0}
    cycles_total = 0
    ii = reuse
    for layer in spec.layers[1:] if spec.layers and spec.layers[0].kind == "input" else spec.layers:
        result = layer.fixed("result") if "result" in layer.types else None
        entry: dict[str, Any] = {"layer": layer.name, "kind": layer.kind, "cycles": 0,
                                 "multiplications": 0, "dsp_mults": 0, "lut_mults": 0,
                                 "LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0}
        n_out = int(np.prod(layer.output_shape))
        if layer.kind in ("dense", "conv1d", "conv2d"):
            w = layer.arrays["weight"].reshape(-1, layer.arrays["weight"].shape[-1])
            positions = layer.output_positions
            partitions = 1
            if positions > 1 and io_type != "io_stream":
                partitions = int(layer.params.get("n_partitions", positions))
                positions = max(1, positions // partitions)   # pixels computed in parallel
            acc_width = layer.fixed("accum").width
            w_width = layer.fixed("weight").width
            nonzero = int(np.count_nonzero(w))
            digits = csd_digits(w)
            entry["zero_weights"] = int((w == 0).sum())
            entry["power_of_two_weights"] = int((digits == 1).sum())
            entry["multiplications"] = int((digits >= 2).sum()) * positions
            if reuse == 1:
                costs = product_costs(w, in_width, csd_dsp_min, dsp_min_input_width)
                entry["dsp_mults"] = costs["dsp"] * positions
                entry["lut_mults"] = costs["lut_products"] * positions
                entry["DSP"] = entry["dsp_mults"]
                entry["LUT"] += 2 * costs["lut_adder_bits"] * positions
            else:
                n_mult = entry["multiplications"]
                if in_width >= dsp_min_input_width:
                    entry["dsp_mults"] = n_mult
                    entry["DSP"] = math.ceil(n_mult / reuse)
                else:
                    entry["lut_mults"] = n_mult
                    entry["LUT"] += math.ceil(n_mult / reuse) * math.ceil(in_width * w_width / 2)
            # one addition per non-zero weight (the bias add included) per output position
            entry["LUT"] += nonzero * positions * acc_width
            terms = int(np.count_nonzero(w, axis=0).max(initial=0))
            levels = math.ceil(math.log2(terms + 1))
            entry["adder_levels"] = levels
            entry["cycles"] = 1 + math.ceil(levels / levels_per_cycle) + (partitions * reuse - 1)
            entry["FF"] = n_out * acc_width * entry["cycles"] // partitions
            if partitions > 1:
                entry["partitions"] = partitions
                ii = max(ii, partitions * reuse)
            if io_type == "io_stream" and positions > 1:
                entry["cycles"] += positions * reuse
                ii = max(ii, positions * reuse)
        elif layer.kind == "relu":
            width = result.width if result else in_width
            requantizes = result is not None and result.width != in_width
            entry["LUT"] = math.ceil(n_out * (1.75 * in_width + (6 * width if requantizes else 0)))
            entry["FF"] = n_out * width
        elif layer.kind in ("linear", "batchnorm", "maxpool1d", "maxpool2d"):
            width = result.width if result else in_width
            entry["LUT"] = math.ceil(n_out * 1.75 * in_width)
            entry["FF"] = n_out * width
        elif layer.kind in ("sigmoid", "tanh", "softmax"):
            width = result.width if result else in_width
            entry["cycles"] = 1
            entry["LUT"] = n_out * width
            entry["FF"] = n_out * width
            entry["BRAM_18K"] = 1
        if result is not None:
            in_width = result.width
        for res in ("LUT", "FF", "DSP", "BRAM_18K"):
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
