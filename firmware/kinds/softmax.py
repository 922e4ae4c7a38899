"""Softmax in each of hls4ml's implementations: latency, stable, argmax, legacy.

From ``nnet_activation.h`` (io_parallel):

* **latency**: ``exp_res[i] = exp_table[top N bits of x_i]`` (converted to
  ``accum_t``), their sum by hls4ml's balanced adder tree in ``accum_t``
  (each addition converted), converted to ``inv_inp_t``; ``inv = inv_table[top
  N bits of the sum]``; ``res_i = exp_res[i] * inv``.
* **stable**: the same on ``x_max - x_i`` (converted to ``inp_norm_t``), with a
  table of ``exp(-x)``; ``x_max`` by a balanced tree of comparisons.
* **argmax**: a one-hot of the first maximum.
* **legacy**: ``sum_j exp_table[int((x_j - x_i) * N / 16) + N / 2]`` in
  ``table_t`` (1 for j = i, summed in order), then ``inv_table[int(s * N / 64)]``.

Tables are filled as the C++ initialisers fill them (float arithmetic, the C
library's ``expf``) and stored in the spec. The softmax runs over the last axis
(hls4ml's ``n_outer``/``n_slice``/``n_inner`` layout for other axes).
"""

from __future__ import annotations

import logging
import math
import re

import numpy as np

from triginfer.errors import UnsupportedModelError
from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import (
    EmuTensor,
    LayerKind,
    cpp_const,
    cpp_typedef,
    expf,
    max_abs,
    shl,
    tree_reduce,
)
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

IMPLEMENTATIONS = ("latency", "stable", "argmax", "legacy")


def _bits(size: int) -> int:
    return max(1, math.ceil(math.log2(size)))


def real_from_index(t: FixedType, index: np.ndarray, n_bits: int) -> np.ndarray:
    """``softmax_real_val_from_idx``: a value of type ``t`` whose top ``n_bits`` are ``index``."""
    pattern = np.asarray(index, np.int64) << np.int64(t.width - n_bits)
    if t.signed:
        pattern = np.where(pattern >= (1 << (t.width - 1)), pattern - (1 << t.width), pattern)
    return np.ldexp(pattern.astype(np.float64), -t.frac)


def index_from_value(m: np.ndarray, t: FixedType, n_bits: int) -> np.ndarray:
    """``softmax_idx_from_real_val``: the top ``n_bits`` of a ``t`` value's bit pattern."""
    pattern = np.mod(np.asarray(m, np.float64), 2.0**t.width)
    return np.floor(np.ldexp(pattern, -(t.width - n_bits))).astype(np.int64)


def exp_table(t: FixedType, size: int, scale: float, negative: bool, table_t: FixedType
              ) -> np.ndarray:
    """``init_exp_table``: mantissas of exp(+-x * exp_scale) at each index's value of ``t``."""
    x = real_from_index(t, np.arange(size), _bits(size)).astype(np.float32) * np.float32(scale)
    if negative:
        x = -x
    return table_t.quantize(expf(x).astype(np.float64))


def invert_table(t: FixedType, size: int, table_t: FixedType) -> np.ndarray:
    """``init_invert_table``: mantissas of 1/x (float division) at each index's value of ``t``."""
    x = real_from_index(t, np.arange(size), _bits(size)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = (np.float32(1.0) / x).astype(np.float64)
    inv = np.where(np.isinf(inv), np.sign(inv) * 2.0**70, inv)   # 1/0 saturates
    return table_t.quantize(inv)


def legacy_tables(size_exp: int, size_inv: int, table_t: FixedType):
    """``init_exp_table_legacy`` and ``init_invert_table_legacy`` mantissas."""
    i = np.arange(size_exp, dtype=np.float64)
    in_val = (2 * 8.0 * (i - size_exp / 2.0) / size_exp).astype(np.float32)
    exp_t = table_t.quantize(expf(in_val).astype(np.float64))
    j = np.arange(size_inv, dtype=np.float64)
    x = (64.0 * j / size_inv).astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(x > 0, 1.0 / np.where(x > 0, x, 1.0), 0.0)
    return exp_t, table_t.quantize(inv)


@register
class Softmax(LayerKind):
    """Softmax over the last axis (see the module docstring)."""

    kind = "softmax"
    hls_classes = ("Softmax",)
    summary = "softmax: latency, stable, argmax, legacy (exp/inverse tables)"

    def matches(self, hls_layer):
        return hls_layer.class_name == "Softmax" or (
            hls_layer.class_name in ("Activation", "QActivation")
            and str(hls_layer.attributes.get("activation", "")).lower() == "softmax")

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        config = cpp.get("config", "")
        impl = str(attrs.get("implementation", "stable")).lower()
        if impl not in IMPLEMENTATIONS:
            raise UnsupportedModelError(f"layer {layer.name!r}: softmax implementation {impl!r} "
                                        f"is not one of {IMPLEMENTATIONS}")
        axis = int(attrs.get("axis", -1))
        n_in = int(np.prod(layer.output_shape))
        shape = layer.output_shape
        # the generated config names the slice; the axis (PyTorch's counts the batch) only
        # fills in for configs that do not
        slice_default = shape[axis] if -len(shape) <= axis < len(shape) else shape[-1]
        layer.params = {
            "implementation": impl,
            "exp_table_size": int(cpp_const(config, "exp_table_size",
                                            attrs.get("exp_table_size",
                                                      attrs.get("table_size", 1024)))),
            "inv_table_size": int(cpp_const(config, "inv_table_size",
                                            attrs.get("inv_table_size",
                                                      attrs.get("table_size", 1024)))),
            "exp_scale": float(str(cpp_const(config, "exp_scale", "1.0")).rstrip("f")),
            "n_outer": int(cpp_const(config, "n_outer", attrs.get("n_outer", 1))),
            "n_slice": int(cpp_const(config, "n_slice", slice_default)),
            "n_inner": int(cpp_const(config, "n_inner", attrs.get("n_inner", 1))),
        }
        p = layer.params
        if p["n_outer"] * p["n_slice"] * p["n_inner"] != n_in:
            raise UnsupportedModelError(f"layer {layer.name!r}: softmax layout {p} does not "
                                        f"cover its {n_in} values")
        if impl == "stable":
            text = cpp_typedef(config, "inp_norm_t")
            try:
                if text and not re.match(r"\s*(ap_)?u?(fixed|int)\s*<", text) \
                        and "inp_norm" in layer.types:
                    # a named typedef (hls4ml's bit-exact flow): the layer's own type of it
                    text = layer.types["inp_norm"]
                layer.types["inp_norm"] = str(FixedType.parse(text or ""))
            except ValueError as exc:
                raise UnsupportedModelError(
                    f"layer {layer.name!r}: softmax inp_norm_t {text!r} is not a fixed-point "
                    "type the emulator reads") from exc
        in_type = cpp["input_types"][0]
        if impl == "latency":
            self._check_index_type(layer, in_type, p["exp_table_size"])
            layer.arrays["exp_table"] = exp_table(in_type, p["exp_table_size"], p["exp_scale"],
                                                  False, layer.fixed("exp_table"))
        elif impl == "stable":
            norm = layer.fixed("inp_norm")
            self._check_index_type(layer, norm, p["exp_table_size"])
            self._warn_coarse_index(layer, norm, p["exp_table_size"])
            layer.arrays["exp_table"] = exp_table(norm, p["exp_table_size"], p["exp_scale"],
                                                  True, layer.fixed("exp_table"))
        if impl in ("latency", "stable"):
            self._check_index_type(layer, layer.fixed("inv_inp"), p["inv_table_size"])
            layer.arrays["inv_table"] = invert_table(layer.fixed("inv_inp"), p["inv_table_size"],
                                                     layer.fixed("inv_table"))
        if impl == "legacy":
            layer.arrays["exp_table"], layer.arrays["inv_table"] = legacy_tables(
                p["exp_table_size"], p["inv_table_size"], layer.fixed("table"))

    @staticmethod
    def _warn_coarse_index(layer, norm: FixedType, size: int) -> None:
        """The stable softmax indexes its exp table by the top bits of ``max - x``: when one
        index step is 1.0 or more, logits closer than that share one entry and the outputs are
        (nearly) constant. hls4ml's ``auto`` precisions do this to a float model's wide
        logits (ufixed<36,16>: steps of 64). Correct firmware, bit-exactly emulated, but
        rarely what its user wants: said once, at conversion."""
        step = 2.0 ** (norm.integer - _bits(size))
        if step >= 1.0:
            log.warning(
                "layer %r (softmax): its exp table is indexed by the top %d bits of %s "
                "(inp_norm_t), in steps of %g: logits closer than that give equal outputs, "
                "so the classifier's outputs are (nearly) constant. Narrow the logits' result "
                "type in the hls4ml configuration (e.g. fixed<12,5,RND,SAT>, as --write-config "
                "/ --hls-config let you edit)", layer.name, _bits(size), norm, step)

    @staticmethod
    def _check_index_type(layer, t: FixedType, size: int) -> None:
        if t.width < _bits(size):
            raise UnsupportedModelError(
                f"layer {layer.name!r}: softmax table of {size} entries is indexed by a "
                f"{t.width}-bit type ({t}); give it at least {_bits(size)} bits")

    def required_arrays(self, layer):
        impl = layer.params.get("implementation")
        return () if impl == "argmax" else ("exp_table", "inv_table")

    def required_types(self, layer):
        impl = layer.params.get("implementation")
        if impl in ("latency", "stable"):
            return ("exp_table", "inv_table", "accum", "inv_inp") + (
                ("inp_norm",) if impl == "stable" else ())
        return ("table",) if impl == "legacy" else ()

    def validate(self, layer, producers):
        super().validate(layer, producers)
        if layer.params.get("implementation") not in IMPLEMENTATIONS:
            raise ValueError(f"implementation {layer.params.get('implementation')!r} unknown")

    def bound(self, layer, plan, in_types):
        impl = layer.params["implementation"]
        if impl == "argmax":
            return 1.0
        if impl == "legacy":
            t = layer.fixed("table")
            return max_abs(t) * (layer.params["n_slice"] + 1) + max_abs(in_types[0]) * 2
        accum, inv = layer.fixed("accum"), layer.fixed("inv_table")
        norm = layer.fixed("inp_norm") if impl == "stable" else accum
        return max(max_abs(accum) * max_abs(inv), 2 * max_abs(in_types[0]) * 2.0 ** max(
            norm.frac - in_types[0].frac, 0), max_abs(accum) * 4)

    # --- emulation -------------------------------------------------------------------------
    def _slices(self, layer, m: np.ndarray) -> list[np.ndarray]:
        p = layer.params
        cube = m.reshape(m.shape[0], p["n_outer"], p["n_slice"], p["n_inner"])
        return [cube[:, :, j, :] for j in range(p["n_slice"])]

    def _join(self, layer, parts: list[np.ndarray]) -> np.ndarray:
        out = np.stack(parts, axis=2)
        return out.reshape(out.shape[0], *layer.output_shape)

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        p = layer.params
        impl = p["implementation"]
        data = self._slices(layer, x.m)
        dtype = x.m.dtype
        if impl == "argmax":
            best = data[0]
            idx = np.zeros(best.shape, np.int64)
            for j, d in enumerate(data[1:], start=1):
                better = d > best
                best = np.where(better, d, best)
                idx = np.where(better, j, idx)
            return EmuTensor(self._join(layer, [(idx == j).astype(dtype)
                                                for j in range(len(data))]), 0)
        if impl == "legacy":
            return self._legacy(layer, data, x.frac, dtype, ctx)
        accum, inv_inp = layer.fixed("accum"), layer.fixed("inv_inp")
        exp_t, inv_t = layer.fixed("exp_table"), layer.fixed("inv_table")
        table = layer.arrays["exp_table"].astype(dtype)
        if impl == "stable":
            norm = layer.fixed("inp_norm")
            x_max = tree_reduce(data, np.maximum)
            keys = [ctx.convert(layer, "inp_norm", norm, x_max - d, x.frac) for d in data]
            key_type = norm
        else:
            keys, key_type = data, plan["in_type"]
        n_e = _bits(p["exp_table_size"])
        exp_res = [ctx.convert(layer, "accum", accum,
                               table[index_from_value(k, key_type, n_e)], exp_t.frac)
                   for k in keys]

        def add(a, b):
            return ctx.convert(layer, "accum", accum, a + b, accum.frac)

        total = ctx.convert(layer, "inv_inp", inv_inp, tree_reduce(exp_res, add), accum.frac)
        inv = layer.arrays["inv_table"].astype(dtype)[
            index_from_value(total, inv_inp, _bits(p["inv_table_size"]))]
        return EmuTensor(self._join(layer, [e * inv for e in exp_res]), accum.frac + inv_t.frac)

    def _legacy(self, layer, data, frac, dtype, ctx):
        p = layer.params
        t = layer.fixed("table")
        size_e, size_i = p["exp_table_size"], p["inv_table_size"]
        exp_tab = layer.arrays["exp_table"].astype(dtype)
        one = shl(np.asarray(1, dtype=dtype), t.frac)
        out = []
        for i, di in enumerate(data):
            acc = np.zeros(di.shape, dtype)
            for j, dj in enumerate(data):
                if i == j:
                    term = np.broadcast_to(one, di.shape)
                else:
                    diff = np.ldexp(np.asarray(dj - di, np.float64), -frac)
                    index = np.clip(np.trunc(diff * size_e / 16.0) + size_e // 2, 0, size_e - 1)
                    term = exp_tab[index.astype(np.int64)]
                acc = ctx.convert(layer, "table", t, acc + term, t.frac)
            index = np.clip(np.trunc(np.ldexp(np.asarray(acc, np.float64), -t.frac)
                                     * size_i / 64.0), 0, size_i - 1).astype(np.int64)
            out.append(layer.arrays["inv_table"].astype(dtype)[index])
        return EmuTensor(self._join(layer, out), t.frac)

    # --- ONNX ------------------------------------------------------------------------------
    def onnx(self, g, layer, plan, xs):
        from onnx import TensorProto

        m, frac = xs[0]
        p = layer.params
        impl = p["implementation"]
        cube = g.op("Reshape", [m, g.const(np.array([-1, p["n_outer"], p["n_slice"],
                                                      p["n_inner"]], np.int64))])
        data = [g.op("Gather", [cube, g.const(np.array(j, np.int64))], axis=2)
                for j in range(p["n_slice"])]

        def join(parts):
            stacked = g.op("Concat", [g.op("Unsqueeze", [q, g.const(np.array([2]))])
                                      for q in parts], axis=2)
            return g.op("Reshape", [stacked, g.const(np.array([-1, *layer.output_shape],
                                                               np.int64))])

        def lookup(table, index_double):
            index = g.op("Cast", [index_double], to=TensorProto.INT64)
            return g.op("Gather", [g.const(table.astype(np.float64)), index], axis=0)

        def top_bits(v, t, n_bits):
            pattern = g.op("Sub", [v, g.op("Mul", [g.op("Floor", [g.op("Mul", [
                v, g.const(2.0 ** -t.width)])]), g.const(2.0**t.width)])])
            return g.op("Floor", [g.op("Mul", [pattern, g.const(2.0 ** -(t.width - n_bits))])])

        if impl == "argmax":
            best = data[0]
            idx = g.const(np.array(0.0))
            for j, d in enumerate(data[1:], start=1):
                better = g.op("Greater", [d, best])
                best = g.op("Where", [better, d, best])
                idx = g.op("Where", [better, g.const(float(j)), idx])
            onehot = [g.op("Cast", [g.op("Equal", [idx, g.const(float(j))])],
                           to=g.onnx_float) for j in range(len(data))]
            return join(onehot), 0
        if impl == "legacy":
            t = layer.fixed("table")
            size_e, size_i = p["exp_table_size"], p["inv_table_size"]
            out = []
            for i, di in enumerate(data):
                acc = None
                for j, dj in enumerate(data):
                    if i == j:
                        term = g.op("Add", [g.op("Mul", [di, g.const(0.0)]),
                                            g.const(2.0**t.frac)])
                    else:
                        v = g.op("Mul", [g.op("Sub", [dj, di]),
                                         g.const(2.0 ** -frac * size_e / 16.0)])
                        nonneg = g.op("GreaterOrEqual", [v, g.const(0.0)])
                        v = g.op("Where", [nonneg, g.op("Floor", [v]), g.op("Ceil", [v])])
                        v = g.op("Clip", [g.op("Add", [v, g.const(float(size_e // 2))]),
                                          g.const(0.0), g.const(float(size_e - 1))])
                        term = lookup(layer.arrays["exp_table"], v)
                    acc = g.convert(term if acc is None else g.op("Add", [acc, term]), t.frac, t)
                v = g.op("Mul", [acc, g.const(2.0 ** -t.frac * size_i / 64.0)])
                nonneg = g.op("GreaterOrEqual", [v, g.const(0.0)])
                v = g.op("Where", [nonneg, g.op("Floor", [v]), g.op("Ceil", [v])])
                v = g.op("Clip", [v, g.const(0.0), g.const(float(size_i - 1))])
                out.append(lookup(layer.arrays["inv_table"], v))
            return join(out), t.frac
        accum, inv_inp = layer.fixed("accum"), layer.fixed("inv_inp")
        exp_t, inv_t = layer.fixed("exp_table"), layer.fixed("inv_table")
        if impl == "stable":
            norm = layer.fixed("inp_norm")
            x_max = tree_reduce(data, lambda a, b: g.op("Max", [a, b]))
            keys = [g.convert(g.op("Sub", [x_max, d]), frac, norm) for d in data]
            key_type = norm
        else:
            keys, key_type = data, plan["in_type"]
        n_e = _bits(p["exp_table_size"])
        exp_res = [g.convert(lookup(layer.arrays["exp_table"], top_bits(k, key_type, n_e)),
                             exp_t.frac, accum) for k in keys]
        total = tree_reduce(exp_res, lambda a, b: g.convert(g.op("Add", [a, b]), accum.frac,
                                                            accum))
        total = g.convert(total, accum.frac, inv_inp)
        inv = lookup(layer.arrays["inv_table"], top_bits(total, inv_inp,
                                                         _bits(p["inv_table_size"])))
        return join([g.op("Mul", [e, inv]) for e in exp_res]), accum.frac + inv_t.frac

    def prepare(self, layer, in_types):
        return {"in_type": in_types[0]}

    def value_range(self, layer, plan, in_types):
        impl = layer.params["implementation"]
        if impl == "argmax":
            return 0.0, 1.0, 0
        inv_t = layer.fixed("table" if impl == "legacy" else "inv_table")
        inv = inv_t.to_float(layer.arrays["inv_table"])
        if impl == "legacy":
            return float(min(inv.min(), 0)), float(inv.max()), inv_t.frac
        accum = layer.fixed("accum")
        top = max(accum.max_value, 0.0)
        return (float(min(inv.min() * top, 0.0)), float(max(inv.max() * top, 0.0)),
                accum.frac + inv_t.frac)

    def estimate(self, layer, ctx):
        width = layer.fixed("result").width
        n = ctx.size(layer)
        impl = layer.params["implementation"]
        if impl == "argmax":
            return {"cycles": 1, "LUT": n * ctx.in_width(layer), "FF": n * width, "DSP": 0,
                    "BRAM_18K": 0}
        return {"cycles": 3 + math.ceil(math.log2(max(layer.params["n_slice"], 2))),
                "LUT": n * width * 2, "FF": n * width * 3,
                "DSP": n, "BRAM_18K": 2}
