"""Activations computed with hls4ml's lookup tables: sigmoid, tanh, softplus, softsign, elu, selu.

The tables are filled as the generated C++ fills them at start-up (float and
double arithmetic in the same order, ``std::exp(float)`` from the C library),
then converted to the table type; they are stored in the spec (``table``).
The index is ``int(x * N / range) + N / 2`` (C truncation toward zero),
clipped to the table; elu and selu index ``int(x * N / -8)`` for negative x.
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.activations import ElementwiseKind, ParamKind
from triginfer.firmware.kinds.base import EmuTensor, LayerKind, expf, max_abs, shl, tanhf
from triginfer.quantization.fixed import FixedType

#: Input range covered by each table (sigmoid: [-8, 8), tanh: [-4, 4), elu/selu: [-8, 0]).
TABLE_RANGE = {"sigmoid": 16, "tanh": 8, "softplus": 16, "softsign": 16, "elu": 8, "selu": 8}
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def table_values(kind: str, size: int) -> np.ndarray:
    """The real values hls4ml's C++ initialiser computes for each entry (before ``table_t``)."""
    index = np.arange(size, dtype=np.float64)
    if kind in ("elu", "selu"):
        in_val = (-8.0 * index / np.float64(np.float32(size))).astype(np.float32)
    else:
        half = TABLE_RANGE[kind] / 2.0
        in_val = (2 * half * (index - size / 2.0) / size).astype(np.float32)
    x64 = in_val.astype(np.float64)
    if kind == "sigmoid":   # 1.0 / (1 + std::exp(-input)): float sum, double division -> float
        denom = (np.float32(1.0) + expf(-in_val)).astype(np.float64)
        return (1.0 / denom).astype(np.float32).astype(np.float64)
    if kind == "tanh":      # tanh(in_val): the float overload under C++ (tanhf), into table_t
        return tanhf(in_val).astype(np.float64)
    if kind == "softplus":  # std::log(std::exp(input) + 1.) in double, returned as float
        return np.log(expf(in_val).astype(np.float64) + 1.0).astype(np.float32).astype(np.float64)
    if kind == "softsign":  # input / (std::abs(input) + 1.)
        return (x64 / (np.abs(x64) + 1.0)).astype(np.float32).astype(np.float64)
    if kind == "elu":       # std::exp(input) - 1.
        return (expf(in_val).astype(np.float64) - 1.0).astype(np.float32).astype(np.float64)
    if kind == "selu":
        e = expf(in_val).astype(np.float64)
        return (SELU_LAMBDA * (SELU_ALPHA * (e - 1.0))).astype(np.float32).astype(np.float64)
    raise ValueError(kind)


def activation_table(kind: str, size: int, table_type: FixedType) -> np.ndarray:
    """Mantissas of hls4ml's lookup table for ``kind``, in ``table_type``."""
    return table_type.quantize(table_values(kind, size))


def _index(m: np.ndarray, frac: int, size: int, span: float, offset: int) -> np.ndarray:
    """``int(x * size / span) + offset`` clipped to the table (x = m * 2**-frac)."""
    scaled = np.ldexp(np.asarray(m, np.float64), -frac) / span * size
    return np.clip(np.trunc(scaled) + offset, 0, size - 1).astype(np.int64)


def _onnx_index(g, m: str, frac: int, size: int, span: float, offset: int) -> str:
    from onnx import TensorProto

    v = g.op("Mul", [m, g.const(2.0 ** -frac / span * size)])
    nonneg = g.op("GreaterOrEqual", [v, g.const(0.0)])
    v = g.op("Where", [nonneg, g.op("Floor", [v]), g.op("Ceil", [v])])  # C truncation
    v = g.op("Clip", [g.op("Add", [v, g.const(float(offset))]), g.const(0.0),
                      g.const(float(size - 1))])
    return g.op("Cast", [v], to=TensorProto.INT64)


class TableKind(ElementwiseKind):
    """A symmetric-range table activation (sigmoid, tanh, softplus, softsign)."""

    def read(self, hls_layer, layer, cpp):
        size = int(hls_layer.attributes.get("table_size", 1024))
        layer.params["table_size"] = size
        layer.params["table_range"] = TABLE_RANGE[self.kind]
        layer.arrays["table"] = activation_table(self.kind, size, FixedType.parse(
            layer.types["table"]))

    def required_arrays(self, layer):
        return ("table",)

    def required_types(self, layer):
        return ("table",)

    def bound(self, layer, plan, in_types):
        return max_abs(layer.fixed("table"))

    def value_range(self, layer, plan, in_types):
        t = layer.fixed("table")
        table = layer.arrays["table"]
        return float(t.to_float(table.min())), float(t.to_float(table.max())), t.frac

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        size, span = layer.params["table_size"], layer.params["table_range"]
        index = _index(x.m, x.frac, size, span, size // 2)
        return EmuTensor(layer.arrays["table"].astype(x.m.dtype)[index],
                         layer.fixed("table").frac)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        size, span = layer.params["table_size"], layer.params["table_range"]
        index = _onnx_index(g, m, frac, size, span, size // 2)
        table = g.op("Gather", [g.const(layer.arrays["table"].astype(np.float64)), index],
                     axis=0)
        return table, layer.fixed("table").frac

    def estimate(self, layer, ctx):
        width = layer.fixed("result").width
        n = ctx.size(layer)
        return {"cycles": 1, "LUT": n * width, "FF": n * width, "DSP": 0, "BRAM_18K": 1}


@register
class Sigmoid(TableKind):
    """``sigmoid`` from a table over [-8, 8)."""

    kind = "sigmoid"
    activations = ("sigmoid",)
    summary = "sigmoid (table)"


@register
class Tanh(TableKind):
    """``tanh`` from a table over [-4, 4)."""

    kind = "tanh"
    activations = ("tanh",)
    summary = "tanh (table)"


@register
class Softplus(TableKind):
    """``softplus`` from a table over [-8, 8)."""

    kind = "softplus"
    activations = ("softplus",)
    summary = "softplus (table)"


@register
class Softsign(TableKind):
    """``softsign`` from a table over [-8, 8)."""

    kind = "softsign"
    activations = ("softsign",)
    summary = "softsign (table)"


@register
class ELU(ParamKind):
    """``elu``: ``x`` for ``x >= 0``, else ``alpha * table[int(x * N / -8)]``."""

    kind = "elu"
    activations = ("elu",)
    summary = "elu with alpha (table)"

    def read(self, hls_layer, layer, cpp):
        super().read(hls_layer, layer, cpp)
        size = int(hls_layer.attributes.get("table_size", 1024))
        layer.params["table_size"] = size
        layer.arrays["table"] = activation_table("elu", size, FixedType.parse(
            layer.types["table"]))

    def required_arrays(self, layer):
        return ("param", "table")

    def required_types(self, layer):
        return ("param", "table")

    def _fracs(self, layer, frac):
        neg = layer.fixed("table").frac + layer.fixed("param").frac
        return neg, max(frac, neg)

    def bound(self, layer, plan, in_types):
        neg, top = self._fracs(layer, in_types[0].frac)
        t = max_abs(layer.fixed("table")) * float(abs(layer.arrays["param"][0]))
        return max(max_abs(in_types[0]) * 2.0 ** (top - in_types[0].frac), t * 2.0 ** (top - neg))

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        size = layer.params["table_size"]
        neg, top = self._fracs(layer, x.frac)
        index = np.minimum(np.trunc(np.ldexp(np.asarray(x.m, np.float64), -x.frac) / -8.0 * size),
                           size - 1)
        index = np.maximum(index, 0).astype(np.int64)
        alpha = layer.arrays["param"].astype(x.m.dtype)[0]
        table = layer.arrays["table"].astype(x.m.dtype)[index] * alpha
        return EmuTensor(np.where(x.m >= 0, shl(x.m, top - x.frac), shl(table, top - neg)), top)

    def onnx(self, g, layer, plan, xs):
        from onnx import TensorProto

        m, frac = xs[0]
        size = layer.params["table_size"]
        neg, top = self._fracs(layer, frac)
        v = g.op("Floor", [g.op("Mul", [m, g.const(2.0 ** -frac / -8.0 * size)])])
        v = g.op("Clip", [v, g.const(0.0), g.const(float(size - 1))])
        index = g.op("Cast", [v], to=TensorProto.INT64)
        table = g.op("Gather", [g.const(layer.arrays["table"].astype(np.float64)), index], axis=0)
        table = g.op("Mul", [table, g.const(float(layer.arrays["param"][0]) * 2.0 ** (top - neg))])
        pos = g.op("GreaterOrEqual", [m, g.const(0.0)])
        return g.op("Where", [pos, g.scale(m, top - frac), table]), top

    def estimate(self, layer, ctx):
        return TableKind.estimate(self, layer, ctx)


LAMBDA_TYPE = FixedType(16, 1, signed=False)


@register
class SELU(ElementwiseKind):
    """``selu``: ``lambda * x`` (lambda in ``ap_ufixed<16,1>``) for ``x >= 0``, else a table."""

    kind = "selu"
    activations = ("selu",)
    summary = "selu (table)"

    def read(self, hls_layer, layer, cpp):
        size = int(hls_layer.attributes.get("table_size", 1024))
        layer.params["table_size"] = size
        layer.arrays["table"] = activation_table("selu", size, FixedType.parse(
            layer.types["table"]))

    def required_arrays(self, layer):
        return ("table",)

    def required_types(self, layer):
        return ("table",)

    def _fracs(self, layer, frac):
        pos = frac + LAMBDA_TYPE.frac
        return pos, max(pos, layer.fixed("table").frac)

    def bound(self, layer, plan, in_types):
        pos, top = self._fracs(layer, in_types[0].frac)
        return max(max_abs(in_types[0]) * 2.0**16 * 2.0 ** (top - pos),
                   max_abs(layer.fixed("table")) * 2.0 ** (top - layer.fixed("table").frac))

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        size = layer.params["table_size"]
        pos, top = self._fracs(layer, x.frac)
        lam = LAMBDA_TYPE.quantize(np.array([SELU_LAMBDA]))[0]
        index = np.clip(np.trunc(np.ldexp(np.asarray(x.m, np.float64), -x.frac) / -8.0 * size),
                        0, size - 1).astype(np.int64)
        table = layer.arrays["table"].astype(x.m.dtype)[index]
        tf = layer.fixed("table").frac
        return EmuTensor(np.where(x.m >= 0, shl(x.m * x.m.dtype.type(lam), top - pos),
                                  shl(table, top - tf)), top)

    def onnx(self, g, layer, plan, xs):
        from onnx import TensorProto

        m, frac = xs[0]
        size = layer.params["table_size"]
        pos, top = self._fracs(layer, frac)
        lam = float(LAMBDA_TYPE.quantize(np.array([SELU_LAMBDA]))[0])
        tf = layer.fixed("table").frac
        v = g.op("Clip", [g.op("Floor", [g.op("Mul", [m, g.const(2.0 ** -frac / -8.0 * size)])]),
                          g.const(0.0), g.const(float(size - 1))])
        index = g.op("Cast", [v], to=TensorProto.INT64)
        table = g.op("Gather", [g.const(np.ldexp(layer.arrays["table"].astype(np.float64),
                                                 top - tf)), index], axis=0)
        positive = g.op("Mul", [m, g.const(lam * 2.0 ** (top - pos))])
        return g.op("Where", [g.op("GreaterOrEqual", [m, g.const(0.0)]), positive, table]), top

    def estimate(self, layer, ctx):
        return TableKind.estimate(self, layer, ctx)


__all__ = ["TABLE_RANGE", "LayerKind", "activation_table", "table_values"]
