"""Bit-exact numpy emulator of a FirmwareSpec: the firmware's integer arithmetic, vectorised.

Every tensor is held as int64 mantissas of its fixed-point type
(:class:`~triginfer.quantization.fixed.FixedType`, the project's one
fixed-point implementation). Per layer, the emulator does what the hls4ml
templates do:

* **input**: the float input converted to the input type (its rounding and saturation).
* **dense / conv** (conv as dense over im2col patches): each product
  ``x * w`` is exact, then converted to the accumulator type; the bias is
  converted to the accumulator type; the sum wraps in the accumulator (two's
  complement, so wrapping each partial sum equals wrapping the total); the
  accumulator is converted to the result type. When the accumulator keeps
  every product bit, the sum is one matrix product: in float64 BLAS when
  the bound ``max|x| * max_j sum_i |w_ij|`` proves every partial sum is below 2**53 (exact), else in
  int64. Otherwise each product is rounded separately (int64 path).
* **relu**: ``max(x, 0)`` then the result conversion; **linear**: the conversion.
* **sigmoid / tanh**: hls4ml's lookup table (stored in the spec) indexed by
  ``int(x * table_size / range) + table_size / 2``, clipped, then the conversion.
* **batchnorm**: ``x * scale + bias`` exact, then the result conversion.
* **max pooling**: the maximum over each window, then the result conversion.
* **flatten**: a reshape (channels-last order, as hls4ml).

With ``monitor=True`` the emulator also counts, per layer and stage, the values
that fell outside the type's range (and were saturated or wrapped) and the
minimum and maximum reached, against the representable range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triginfer.errors import ShapeError, UnsupportedModelError
from triginfer.hls_export.spec import FirmwareSpec, SpecLayer
from triginfer.quantization.fixed import FixedType

SUPPORTED = ("input", "dense", "conv1d", "conv2d", "relu", "linear", "sigmoid", "tanh",
             "batchnorm", "maxpool1d", "maxpool2d", "flatten")


@dataclass
class OverflowStat:
    """Overflow count and range seen for one tensor of one layer."""

    layer: str
    stage: str
    type: str
    mode: str
    count: int = 0
    total: int = 0
    min_seen: float = float("inf")
    max_seen: float = float("-inf")
    min_allowed: float = 0.0
    max_allowed: float = 0.0

    def update(self, pre_overflow: np.ndarray, ftype: FixedType) -> None:
        """Fold in mantissas before the overflow step (already rounded to ``ftype``)."""
        if pre_overflow.size == 0:
            return
        self.count += int(np.count_nonzero(ftype.overflows(pre_overflow)))
        self.total += int(pre_overflow.size)
        self.min_seen = min(self.min_seen, float(ftype.to_float(pre_overflow.min())))
        self.max_seen = max(self.max_seen, float(ftype.to_float(pre_overflow.max())))

    @property
    def fraction(self) -> float:
        """Fraction of values that overflowed."""
        return self.count / self.total if self.total else 0.0


@dataclass
class OverflowReport:
    """Per-layer overflow statistics of an emulation run."""

    stats: list[OverflowStat] = field(default_factory=list)

    def table(self) -> str:
        """A fixed-width text table for the terminal."""
        head = (f"{'layer':<16s} {'stage':<7s} {'type':<26s} {'mode':<8s} {'overflows':>10s} "
                f"{'fraction':>9s} {'min seen':>11s} {'max seen':>11s} {'range':>23s}")
        lines = [head, "-" * len(head)]
        for s in self.stats:
            lines.append(
                f"{s.layer:<16s} {s.stage:<7s} {s.type:<26s} {s.mode:<8s} {s.count:>10d} "
                f"{s.fraction:>9.2e} {s.min_seen:>11.4g} {s.max_seen:>11.4g} "
                f"[{s.min_allowed:.4g}, {s.max_allowed:.4g}]")
        return "\n".join(lines)

    def as_dict(self) -> list[dict]:
        """JSON-friendly list."""
        return [s.__dict__.copy() for s in self.stats]


def _shl(m: np.ndarray, bits: int) -> np.ndarray:
    """Multiply mantissas by 2**bits (bits >= 0), int64 or float64."""
    return np.ldexp(m, bits) if m.dtype.kind == "f" else m << np.int64(bits)


class Emulator:
    """Bit-exact emulation of a :class:`FirmwareSpec` (see the module docstring)."""

    def __init__(self, spec: FirmwareSpec, chunk_size: int = 16_384) -> None:
        self.spec = spec
        self.chunk_size = int(chunk_size)
        for layer in spec.layers:
            if layer.kind not in SUPPORTED:
                raise UnsupportedModelError(
                    f"firmware {spec.name!r}: layer {layer.name!r} of kind {layer.kind!r} is not "
                    f"supported by the emulator (supported: {', '.join(SUPPORTED)})")
            if layer.kind in ("dense", "conv1d", "conv2d") and layer.fixed("accum").overflow != "WRAP":
                raise UnsupportedModelError(
                    f"layer {layer.name!r}: accumulator {layer.types['accum']} does not wrap; "
                    "only WRAP accumulators (hls4ml's default) are emulated")
        self._plans = {layer.name: self._plan(layer) for layer in spec.layers}
        self.float_mode = self._float64_is_exact()

    def _float64_is_exact(self) -> bool:
        """Can every tensor be held as integer-valued float64 below 2**52 (the fast path)?

        True when every type is at most 50 bits wide and, for each dense/conv layer,
        ``max|x| * max_j sum_i |w_ij| * 2**shift + max|b|`` stays below 2**51 with
        ``max|x|`` the input type's largest mantissa: then each matrix product in
        float64 BLAS is exact whatever the summation order.
        """
        frac = 0
        x_bound = 0
        for layer in self.spec.layers:
            types = [layer.fixed(t) for t in layer.types]
            if any(t.width > 50 for t in types):
                return False
            if layer.kind in ("dense", "conv1d", "conv2d"):
                plan = self._plans[layer.name]
                shift = plan["accum"].frac - (frac + plan["w_type"].frac)
                column = float(np.abs(plan["wf"]).sum(axis=0).max(initial=0.0))
                bias = float(np.abs(plan["bf"]).max(initial=0.0))
                bound = x_bound * column * 2.0 ** max(shift, 0) + bias
                if bound >= 2.0**51:
                    return False
                plan["wf_shifted"] = np.ldexp(plan["wf"], max(shift, 0))
                # No partial sum can leave the accumulator's range: skip its wrap step.
                plan["accum_safe"] = bound <= plan["accum"].max_mantissa
            if layer.kind == "batchnorm":
                plan = self._plans[layer.name]
                top = max(frac + plan["scale_type"].frac, plan["bias_type"].frac)
                bound = (x_bound * float(np.abs(plan["scale"]).max(initial=0))
                         * 2.0 ** (top - frac - plan["scale_type"].frac)
                         + float(np.abs(plan["bias"]).max(initial=0))
                         * 2.0 ** (top - plan["bias_type"].frac))
                if bound >= 2.0**51:
                    return False
            result = layer.fixed("result")
            x_bound, frac = max(abs(result.min_mantissa), abs(result.max_mantissa)), result.frac
        return True

    # --- public API --------------------------------------------------------------------------
    def predict_mantissa(self, x: np.ndarray, monitor: bool = False):
        """Output mantissas (int64, ``(n_events, n_outputs)``) in the output type.

        With ``monitor`` returns ``(mantissas, OverflowReport)``.
        """
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[1:] != self.spec.input_shape:
            raise ShapeError(f"firmware {self.spec.name!r} expects input shape (n, "
                             f"{', '.join(map(str, self.spec.input_shape))}), got {x.shape}")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            from triginfer.errors import BadValueError

            raise BadValueError(f"firmware {self.spec.name!r}: input holds NaN/inf values")
        report = OverflowReport() if monitor else None
        stats: dict[tuple[str, str], OverflowStat] = {}
        out = np.empty((len(x), self.spec.n_outputs), dtype=np.int64)
        for start in range(0, len(x), self.chunk_size):
            block = x[start:start + self.chunk_size]
            out[start:start + len(block)] = self._run(block, stats if monitor else None)
        if report is not None:
            report.stats = list(stats.values())
            return out, report
        return out

    def predict(self, x: np.ndarray, monitor: bool = False):
        """Output values (float64, ``(n_events, n_outputs)``); with ``monitor`` also the report."""
        result = self.predict_mantissa(x, monitor)
        mantissa, report = result if monitor else (result, None)
        values = self.spec.output_type.to_float(mantissa)
        return (values, report) if monitor else values

    # --- internals ---------------------------------------------------------------------------
    def _plan(self, layer: SpecLayer) -> dict:
        plan: dict = {"result": layer.fixed("result")}
        if layer.kind in ("dense", "conv1d", "conv2d"):
            weight = layer.arrays["weight"]
            n_out = weight.shape[-1]
            plan["w"] = weight.reshape(-1, n_out).astype(np.int64)
            plan["wf"] = plan["w"].astype(np.float64)
            plan["w_type"] = layer.fixed("weight")
            plan["accum"] = layer.fixed("accum")
            plan["bf"] = None
            if "bias" in layer.arrays:
                plan["b"] = plan["accum"].requantize(layer.arrays["bias"].astype(np.int64),
                                                     layer.fixed("bias").frac)
            else:
                plan["b"] = np.zeros(n_out, dtype=np.int64)
            plan["bf"] = plan["b"].astype(np.float64)
        if layer.kind == "batchnorm":
            plan["scale"], plan["scale_type"] = layer.arrays["scale"], layer.fixed("scale")
            plan["bias"], plan["bias_type"] = layer.arrays["bias"], layer.fixed("bias")
        return plan

    def _stat(self, stats, layer: SpecLayer, stage: str, ftype: FixedType) -> OverflowStat:
        key = (layer.name, stage)
        if key not in stats:
            stats[key] = OverflowStat(layer.name, stage, str(ftype), ftype.overflow,
                                      min_allowed=ftype.min_value, max_allowed=ftype.max_value)
        return stats[key]

    def _convert(self, stats, layer, stage, ftype: FixedType, m: np.ndarray, frac: int,
                 owned: bool = False):
        """Convert mantissas with ``frac`` fractional bits to ``ftype`` (``owned``: may overwrite)."""
        inplace = owned and m.dtype.kind == "f"
        rounded = ftype.round_only(m, frac, inplace=inplace)
        if stats is not None:
            self._stat(stats, layer, stage, ftype).update(rounded, ftype)
        return ftype.apply_overflow(rounded, inplace=inplace or rounded is not m)

    def _run(self, x: np.ndarray, stats) -> np.ndarray:
        m = None
        frac = 0
        n = len(x)
        for layer in self.spec.layers:
            plan = self._plans[layer.name]
            result: FixedType = plan["result"]
            kind = layer.kind
            if kind == "input":
                rounded = result.round_float(x)
                if stats is not None:
                    self._stat(stats, layer, "result", result).update(rounded, result)
                m = result.apply_overflow(rounded)
                if self.float_mode:  # in range now: exact as float64
                    m = m.astype(np.float64)
                frac = result.frac
            elif kind in ("dense", "conv1d", "conv2d"):
                patches = self._patches(layer, m)  # (n, positions, k)
                acc = self._accumulate(layer, plan, patches, frac, stats)
                m = self._convert(stats, layer, "result", result, acc, plan["accum"].frac,
                                  owned=True)
                frac = result.frac
                m = m.reshape((n, *layer.output_shape))
            elif kind == "relu":
                # For an unsigned saturating result, rounding then clipping at 0 is the relu.
                if not (result.overflow == "SAT" and not result.signed and stats is None):
                    m = np.maximum(m, 0)
                m = self._convert(stats, layer, "result", result, m, frac, owned=False)
                frac = result.frac
            elif kind == "linear":
                m = self._convert(stats, layer, "result", result, m, frac)
                frac = result.frac
            elif kind == "batchnorm":
                sf, bf = plan["scale_type"].frac, plan["bias_type"].frac
                prod = m * plan["scale"].astype(m.dtype)
                pf = frac + sf
                top = max(pf, bf)
                total = _shl(prod, top - pf) + _shl(plan["bias"].astype(m.dtype), top - bf)
                m = self._convert(stats, layer, "result", result, total, top)
                frac = result.frac
            elif kind in ("sigmoid", "tanh"):
                # hls4ml: index = int(x * N / range) + N / 2 (C truncation), clipped to the
                # table; the result is the table entry converted to the result type.
                size, span = layer.params["table_size"], layer.params["table_range"]
                index = np.trunc(np.asarray(m, np.float64) * (size / span) * 2.0**-frac)
                index = np.clip(index + size // 2, 0, size - 1).astype(np.int64)
                table = layer.arrays["table"].astype(m.dtype)[index]
                m = self._convert(stats, layer, "result", result, table, layer.fixed("table").frac)
                frac = result.frac
            elif kind in ("maxpool1d", "maxpool2d"):
                m = self._maxpool(layer, m)
                m = self._convert(stats, layer, "result", result, m, frac)
                frac = result.frac
            elif kind == "flatten":
                m = m.reshape((n, *layer.output_shape))
        return m.reshape(n, -1).astype(np.int64)

    def _patches(self, layer: SpecLayer, m: np.ndarray) -> np.ndarray:
        n = m.shape[0]
        p = layer.params
        if layer.kind == "dense":
            return m.reshape(n, 1, -1)
        if layer.kind == "conv1d":
            padded = (np.pad(m, ((0, 0), (p["pad_left"], p["pad_right"]), (0, 0)))
                      if p["pad_left"] or p["pad_right"] else m)
            cols = [padded[:, o * p["stride_width"]:o * p["stride_width"] + p["filt_width"], :]
                    .reshape(n, -1) for o in range(p["out_width"])]
            return np.stack(cols, axis=1)
        padded = np.pad(m, ((0, 0), (p["pad_top"], p["pad_bottom"]),
                            (p["pad_left"], p["pad_right"]), (0, 0)))
        cols = []
        for oh in range(p["out_height"]):
            for ow in range(p["out_width"]):
                h0, w0 = oh * p["stride_height"], ow * p["stride_width"]
                cols.append(padded[:, h0:h0 + p["filt_height"], w0:w0 + p["filt_width"], :]
                            .reshape(n, -1))
        return np.stack(cols, axis=1)

    def _accumulate(self, layer: SpecLayer, plan: dict, patches: np.ndarray, frac: int,
                    stats) -> np.ndarray:
        """Accumulator mantissas (after wrapping), shape ``(n * positions, n_out)``."""
        accum: FixedType = plan["accum"]
        x = patches.reshape(-1, patches.shape[-1])
        prod_frac = frac + plan["w_type"].frac
        shift = accum.frac - prod_frac
        if shift >= 0 and self.float_mode:
            exact = x @ plan["wf_shifted"]  # 2**shift folded into the weights; exact (see init)
            exact += plan["bf"]
            if stats is None and plan["accum_safe"]:
                return exact
        elif shift >= 0:
            exact = ((x @ plan["w"]) << np.int64(shift)) + plan["b"]
        else:
            # Each product is rounded to the accumulator separately, as mult[] = x*w does.
            w = plan["wf"] if self.float_mode else plan["w"]
            exact = np.zeros((x.shape[0], w.shape[1]), dtype=w.dtype) + (
                plan["bf"] if self.float_mode else plan["b"])
            for i in range(x.shape[1]):
                exact += accum.round_only(x[:, i:i + 1] * w[i:i + 1, :], prod_frac)
        if stats is not None:
            self._stat(stats, layer, "accum", accum).update(exact, accum)
        return accum.apply_overflow(exact)

    def _maxpool(self, layer: SpecLayer, m: np.ndarray) -> np.ndarray:
        p = layer.params
        n = m.shape[0]
        if layer.kind == "maxpool1d":
            width, stride = p.get("pool_width", 2), p.get("stride_width", p.get("pool_width", 2))
            out_w = layer.output_shape[0]
            cols = [m[:, o * stride:o * stride + width, :].max(axis=1) for o in range(out_w)]
            return np.stack(cols, axis=1)
        ph, pw = p.get("pool_height", 2), p.get("pool_width", 2)
        sh, sw = p.get("stride_height", ph), p.get("stride_width", pw)
        out_h, out_w = layer.output_shape[0], layer.output_shape[1]
        out = np.empty((n, out_h, out_w, m.shape[-1]), dtype=np.int64)
        for i in range(out_h):
            for j in range(out_w):
                out[:, i, j, :] = m[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
        return out
