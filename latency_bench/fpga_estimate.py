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
* **Graphs**: each layer's cost comes from its kind in the layer-kind registry
  (:mod:`triginfer.firmware.kinds`); the latency is the longest path through
  the graph (not a sum), the II the largest of the layers'. A kind without an
  estimate is listed under ``not_estimated`` and its layer marked
  ``"estimated": false`` (never a silent zero).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from triginfer.firmware.spec import FirmwareSpec

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


class EstimateContext:
    """What a kind's ``estimate`` may ask: settings and the widths of its inputs."""

    def __init__(self, spec: FirmwareSpec, reuse: int, io_type: str, clock: float,
                 csd_dsp_min: int, dsp_min_input_width: int) -> None:
        self.spec = spec
        self.reuse = reuse
        self.io_type = io_type
        self.levels_per_cycle = max(1.0, LEVELS_PER_5NS * clock / 5.0)
        self.csd_dsp_min = csd_dsp_min
        self.dsp_min_input_width = dsp_min_input_width

    #: the cost model the kinds' ``estimate`` methods use (handed to them through the context,
    #: so that the IR does not import the estimator)
    csd_digits = staticmethod(csd_digits)

    def product_costs(self, weight: np.ndarray, in_width: int) -> dict[str, int]:
        """:func:`product_costs` with this estimate's DSP thresholds."""
        return product_costs(weight, in_width, self.csd_dsp_min, self.dsp_min_input_width)

    def in_width(self, layer) -> int:
        """Bit width of the layer's (widest) input."""
        widths = [self.spec.layer(n).fixed("result").width for n in layer.inputs]
        return max(widths) if widths else layer.fixed("result").width

    @staticmethod
    def size(layer) -> int:
        """Values per event the layer writes."""
        return int(np.prod(layer.output_shape))

    def elementwise(self, layer) -> dict[str, Any]:
        """An elementwise operation: ~1.75 LUT per input bit per value, one register per value."""
        n = self.size(layer)
        return {"cycles": 0, "LUT": math.ceil(n * 1.75 * self.in_width(layer)),
                "FF": n * layer.fixed("result").width, "DSP": 0, "BRAM_18K": 0}


def estimate(spec: FirmwareSpec, reuse_factor: int | None = None,
             io_type: str | None = None, clock_period_ns: float | None = None,
             csd_dsp_min: int = CSD_DSP_MIN, dsp_min_input_width: int = DSP_MIN_INPUT_WIDTH,
             ) -> dict[str, Any]:
    """Per-layer and total latency (cycles, ns), II and resources of ``spec`` (an estimate).

    The latency is the longest path through the graph; layers whose kind has no
    estimate are listed in ``not_estimated``.
    """
    from triginfer.firmware import kinds

    reuse = int(reuse_factor or spec.settings.get("reuse_factor", 1))
    io_type = io_type or spec.settings.get("io_type", "io_parallel")
    clock = float(clock_period_ns or spec.settings.get("clock_period_ns", 5.0))
    ctx = EstimateContext(spec, reuse, io_type, clock, csd_dsp_min, dsp_min_input_width)
    registry = kinds.registry()
    layers = []
    totals = {"LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0}
    finish: dict[str, int] = {}
    not_estimated = []
    ii = reuse
    for layer in spec.layers:
        got = registry[layer.kind].estimate(layer, ctx)
        entry: dict[str, Any] = {"layer": layer.name, "kind": layer.kind, "cycles": 0,
                                 "multiplications": 0, "dsp_mults": 0, "lut_mults": 0,
                                 "LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0, "estimated": True}
        if got is None:
            entry["estimated"] = False
            not_estimated.append(f"{layer.name} ({layer.kind})")
        else:
            entry.update(got)
        start = max((finish[n] for n in layer.inputs), default=0)
        finish[layer.name] = start + int(entry["cycles"])
        ii = max(ii, int(entry.pop("ii", reuse)))
        for res in totals:
            totals[res] += int(entry[res])
        if layer.kind != "input":
            layers.append(entry)
    cycles_total = max(finish[name] for name in spec.outputs)
    return {"source": "estimate", "io_type": io_type, "reuse_factor": reuse,
            "clock_period_ns": clock, "latency_cycles": cycles_total,
            "latency_ns": cycles_total * clock, "initiation_interval": ii,
            "resources": totals, "layers": layers, "not_estimated": not_estimated,
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
