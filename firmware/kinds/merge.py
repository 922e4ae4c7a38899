"""Merge layers of two tensors (``nnet_merge.h``): Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate, Dot.

Elementwise merges compute ``op(a[i % n1], b[i % n2])`` at full precision and
convert it to the result type (Average multiplies the sum by 0.5 exactly);
Concatenate converts both inputs to the result type; Dot converts each
product to ``accum_t`` and accumulates in ``accum_t`` in order.
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import EmuTensor, LayerKind, align, max_abs

_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")


def _sizes(producers) -> list[int]:
    return [int(np.prod(p.output_shape)) for p in producers]


def _flat_pair(xs):
    n = xs[0].m.shape[0]
    return [x.m.reshape(n, -1) for x in xs]


@register
class Merge(LayerKind):
    """An elementwise merge of two tensors (``params.op``)."""

    kind = "merge"
    hls_classes = ("Merge",)
    summary = "Add, Subtract, Multiply, Average, Maximum, Minimum"
    n_inputs = 2

    def read(self, hls_layer, layer, cpp):
        op = str(hls_layer.attributes.get("op", "")).lower()
        if op not in _OPS:
            from triginfer.errors import UnsupportedModelError

            raise UnsupportedModelError(f"layer {layer.name!r}: merge operation {op!r} is not "
                                        f"emulated (supported: {', '.join(_OPS)})")
        layer.params["op"] = op
        layer.params["in_sizes"] = [int(np.prod(s)) for s in cpp["input_shapes"]]

    def validate(self, layer, producers):
        super().validate(layer, producers)
        if layer.params.get("op") not in _OPS:
            raise ValueError(f"merge op {layer.params.get('op')!r} unknown")
        sizes = _sizes(producers)
        declared = layer.params.get("in_sizes", sizes)
        if list(declared) != sizes:
            raise ValueError(f"reads tensors of {sizes} values, its in_sizes say {declared}")
        if max(sizes) != int(np.prod(layer.output_shape)):
            raise ValueError(f"merges {sizes} values into {list(layer.output_shape)}")

    def prepare(self, layer, in_types):
        size = int(np.prod(layer.output_shape))
        return {"in_sizes": layer.params.get("in_sizes", [size, size])}

    def bound(self, layer, plan, in_types):
        a, b = in_types
        if layer.params["op"] == "multiply":
            return max_abs(a) * max_abs(b)
        top = max(a.frac, b.frac)
        return 2 * (max_abs(a) * 2.0 ** (top - a.frac) + max_abs(b) * 2.0 ** (top - b.frac))

    def _broadcast(self, layer, flats):
        size = int(np.prod(layer.output_shape))
        out = []
        for f in flats:
            if f.shape[1] != size:
                f = f[:, np.arange(size) % f.shape[1]]
            out.append(f)
        return out

    def emulate(self, layer, plan, xs, ctx):
        n = xs[0].m.shape[0]
        op = layer.params["op"]
        if op == "multiply":
            a, b = self._broadcast(layer, _flat_pair(xs))
            out, frac = a * b, xs[0].frac + xs[1].frac
        else:
            (a, b), frac = align(xs)
            a, b = self._broadcast(layer, [a.reshape(n, -1), b.reshape(n, -1)])
            if op == "add":
                out = a + b
            elif op == "subtract":
                out = a - b
            elif op == "average":
                out, frac = a + b, frac + 1
            elif op == "maximum":
                out = np.maximum(a, b)
            else:
                out = np.minimum(a, b)
        return EmuTensor(out.reshape(n, *layer.output_shape), frac)

    def onnx(self, g, layer, plan, xs):
        (a, fa), (b, fb) = xs
        size = int(np.prod(layer.output_shape))

        def flat(name, shape_size):
            f = g.op("Reshape", [name, g.const(np.array([0, -1], np.int64))])
            if shape_size != size:
                f = g.op("Gather", [f, g.const(np.arange(size) % shape_size)], axis=1)
            return f

        sizes = plan["in_sizes"]
        op = layer.params["op"]
        if op == "multiply":
            out, frac = g.op("Mul", [flat(a, sizes[0]), flat(b, sizes[1])]), fa + fb
        else:
            frac = max(fa, fb)
            a = flat(g.scale(a, frac - fa), sizes[0])
            b = flat(g.scale(b, frac - fb), sizes[1])
            onnx_op = {"add": "Add", "subtract": "Sub", "average": "Add", "maximum": "Max",
                       "minimum": "Min"}[op]
            out = g.op(onnx_op, [a, b])
            if op == "average":
                frac += 1
        return g.op("Reshape", [out, g.const(np.array([-1, *layer.output_shape], np.int64))]), \
            frac

    def estimate(self, layer, ctx):
        n = ctx.size(layer)
        width = layer.fixed("result").width
        dsp = n if layer.params["op"] == "multiply" and ctx.in_width(layer) >= 10 else 0
        return {"cycles": 1 if layer.params["op"] == "multiply" else 0,
                "LUT": n * width * (0 if dsp else 1), "FF": n * width, "DSP": dsp,
                "BRAM_18K": 0}


@register
class Concatenate(LayerKind):
    """Concatenate two tensors along ``params.axis`` (both converted to the result type)."""

    kind = "concatenate"
    hls_classes = ("Concatenate",)
    summary = "Concatenate (1D, 2D, 3D, any axis)"
    n_inputs = 2

    def read(self, hls_layer, layer, cpp):
        layer.params["axis"] = int(hls_layer.attributes.get("axis", -1))

    def validate(self, layer, producers):
        super().validate(layer, producers)
        if sum(_sizes(producers)) != int(np.prod(layer.output_shape)):
            raise ValueError(f"concatenates {_sizes(producers)} values into "
                             f"{list(layer.output_shape)}")
        if not isinstance(layer.params.get("axis"), int) or isinstance(
                layer.params.get("axis"), bool):
            raise ValueError(f"axis {layer.params.get('axis')!r} is not an integer")

    def _axis(self, layer):
        axis = layer.params["axis"]
        rank = len(layer.output_shape)
        return (axis % rank) + 1 if axis < 0 else axis if axis > 0 else 1

    def value_range(self, layer, plan, in_types):
        return (min(t.min_value for t in in_types), max(t.max_value for t in in_types),
                max(t.frac for t in in_types))

    def bound(self, layer, plan, in_types):
        top = max(t.frac for t in in_types)
        return max(max_abs(t) * 2.0 ** (top - t.frac) for t in in_types)

    def emulate(self, layer, plan, xs, ctx):
        ms, frac = align(xs)
        return EmuTensor(np.concatenate(ms, axis=self._axis(layer)), frac)

    def onnx(self, g, layer, plan, xs):
        frac = max(f for _, f in xs)
        parts = [g.scale(m, frac - f) for m, f in xs]
        return g.op("Concat", parts, axis=self._axis(layer)), frac

    def estimate(self, layer, ctx):
        return {"cycles": 0, "LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0}


@register
class Dot(LayerKind):
    """Dot of two vectors: products converted to ``accum_t``, summed in order in ``accum_t``."""

    kind = "dot"
    hls_classes = ("Dot",)
    summary = "Dot (two vectors)"
    n_inputs = 2

    def required_types(self, layer):
        return ("accum",)

    def validate(self, layer, producers):
        super().validate(layer, producers)
        n = int(np.prod(layer.input_shape))
        if _sizes(producers) != [n, n]:
            raise ValueError(f"takes the dot of {_sizes(producers)} values, its input shape "
                             f"says {n} each")

    def bound(self, layer, plan, in_types):
        accum = layer.fixed("accum")
        prod = max_abs(in_types[0]) * max_abs(in_types[1])
        return max(prod, max_abs(accum) * 2) * 2.0 ** max(
            accum.frac - in_types[0].frac - in_types[1].frac, 0)

    def emulate(self, layer, plan, xs, ctx):
        a, b = _flat_pair(xs)
        accum = layer.fixed("accum")
        pf = xs[0].frac + xs[1].frac
        acc = None
        for i in range(a.shape[1]):
            p = ctx.convert(layer, "accum", accum, a[:, i] * b[:, i], pf)
            acc = p if acc is None else ctx.convert(layer, "accum", accum, acc + p, accum.frac)
        return EmuTensor(acc.reshape(-1, 1), accum.frac)

    def onnx(self, g, layer, plan, xs):
        from onnx import helper

        (a, fa), (b, fb) = xs
        accum = layer.fixed("accum")
        a = g.op("Reshape", [a, g.const(np.array([0, -1], np.int64))])
        b = g.op("Reshape", [b, g.const(np.array([0, -1], np.int64))])
        n = plan["n"]
        prods = g.op("Mul", [a, b])
        # one Split (not n Gathers, which ONNX Runtime's Gather fusion mis-names)
        parts = [g.name("dot_term") for _ in range(n)]
        g.nodes.append(helper.make_node("Split", [prods, g.const(np.ones(n, np.int64))], parts,
                                        axis=1))
        acc = None
        for part in parts:
            p = g.convert(part, fa + fb, accum)
            acc = p if acc is None else g.convert(g.op("Add", [acc, p]), accum.frac, accum)
        return acc, accum.frac

    def prepare(self, layer, in_types):
        return {"n": int(np.prod(layer.input_shape))}

    def estimate(self, layer, ctx):
        n = int(np.prod(layer.input_shape))
        width = layer.fixed("accum").width
        return {"cycles": 2, "LUT": n * width, "FF": width * 2,
                "DSP": n if ctx.in_width(layer) >= 10 else 0, "BRAM_18K": 0}
