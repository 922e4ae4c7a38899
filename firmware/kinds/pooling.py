"""Pooling: max and average, 1D and 2D, and global pooling (``nnet_pooling.h``).

Each output is a window of input values (padded cells marked -1). Max pooling
pads with the value whose only set bit is the type's top bit (hls4ml's
``pad_val``) and keeps the largest; average pooling sums the window in
``accum_t`` (each addition converted), divides by the window's cell count
(``count_pad``) or its overlap with the image with C's truncating integer
division, in ``accum_t``. Both then convert ``accum_t`` to the result type.
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import EmuTensor, LayerKind, max_abs


def _windows(layer) -> np.ndarray:
    """``(n_out_positions * channels, window)`` flat input indices (-1 for padding)."""
    p = layer.params
    shape = tuple(layer.input_shape)
    grid = np.arange(int(np.prod(shape))).reshape(shape)
    if layer.kind.startswith("global"):
        return grid.reshape(-1, shape[-1]).T.copy()      # (channels, all positions)
    if len(shape) == 2:
        padded = np.pad(grid, [(p.get("pad_left", 0), p.get("pad_right", 0)), (0, 0)],
                        constant_values=-1)
        width, stride = p["pool_width"], p["stride_width"]
        out_w = layer.output_shape[0]
        rows = [padded[o * stride:o * stride + width, :].T for o in range(out_w)]
        return np.concatenate(rows, axis=0)              # (out_w * C, width)
    padded = np.pad(grid, [(p.get("pad_top", 0), p.get("pad_bottom", 0)),
                           (p.get("pad_left", 0), p.get("pad_right", 0)), (0, 0)],
                    constant_values=-1)
    ph, pw, sh, sw = p["pool_height"], p["pool_width"], p["stride_height"], p["stride_width"]
    rows = []
    for i in range(layer.output_shape[0]):
        for j in range(layer.output_shape[1]):
            window = padded[i * sh:i * sh + ph, j * sw:j * sw + pw, :]
            rows.append(window.reshape(ph * pw, -1).T)
    return np.concatenate(rows, axis=0)


class PoolKind(LayerKind):
    """Max or average pooling (see the module docstring)."""

    op = "max"
    keys: tuple[str, ...] = ()

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        layer.params = {k: int(attrs[k]) for k in self.keys if attrs.get(k) is not None}
        layer.params["count_pad"] = bool(attrs.get("count_pad", False))
        layer.types.setdefault("accum", layer.types["result"])

    def matches(self, hls_layer):
        if hls_layer.class_name not in self.hls_classes:
            return False
        op = str(hls_layer.attributes.get("pool_op", "Max")).lower()
        return (op == "max") == (self.op == "max")

    def required_types(self, layer):
        return ("accum",)

    def prepare(self, layer, in_types):
        win = _windows(layer)
        counts = (win >= 0).sum(axis=1)
        length = np.full(len(win), win.shape[1]) if layer.params.get("count_pad") else counts
        return {"windows": win, "length": length.astype(np.int64)}

    def bound(self, layer, plan, in_types):
        return max(max_abs(in_types[0]), 2.0 ** (in_types[0].width - 1)) * (
            plan["windows"].shape[1] if self.op == "avg" else 1) * 2.0 ** max(
            layer.fixed("accum").frac - in_types[0].frac, 0)

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        in_t = plan["in_type"]
        accum = layer.fixed("accum")
        flat = x.m.reshape(n, -1)
        win = plan["windows"]
        pad = 0 if self.op == "avg" else float(in_t.min_mantissa if in_t.signed
                                                else 1 << (in_t.width - 1))
        vals = flat[:, np.where(win < 0, 0, win)]                  # (n, outputs, window)
        if (win < 0).any():
            vals[:, win < 0] = pad
        if self.op == "max":
            m = vals.max(axis=2)
            m = ctx.convert(layer, "accum", accum, m, x.frac)
        else:
            acc = np.zeros(vals.shape[:2], dtype=vals.dtype)
            for k in range(vals.shape[2]):
                acc = ctx.convert(layer, "accum", accum, acc + self._to(vals[:, :, k], x.frac,
                                                                         accum), accum.frac)
            m = np.trunc(acc / plan["length"]).astype(acc.dtype) if acc.dtype.kind == "f" else (
                np.sign(acc) * (np.abs(acc) // plan["length"]))
        return EmuTensor(self._unflatten(layer, m, n), accum.frac)

    @staticmethod
    def _to(v, frac, accum):
        """An addend in accum's fractional bits (the += converts it: exact when accum is finer)."""
        shift = accum.frac - frac
        if shift >= 0:
            return np.ldexp(v, shift) if v.dtype.kind == "f" else v << np.int64(shift)
        return accum.round_only(v, frac)

    @staticmethod
    def _unflatten(layer, m, n):
        # rows are (position, channel) with channel fastest: channels-last output
        return m.reshape(n, *layer.output_shape)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        win = plan["windows"].copy()
        accum = layer.fixed("accum")
        in_t = plan["in_type"]
        flat = g.op("Reshape", [m, g.const(np.array([0, -1], np.int64))])
        if (win < 0).any():
            pad = 0.0 if self.op == "avg" else float(in_t.min_mantissa if in_t.signed
                                                      else 1 << (in_t.width - 1))
            col = g.op("Add", [g.op("Mul", [g.op("Slice", [flat, g.const(np.array([0])),
                                                         g.const(np.array([1])),
                                                         g.const(np.array([1]))]),
                                            g.const(0.0)]), g.const(pad)])
            flat = g.op("Concat", [flat, col], axis=1)
            win[win < 0] = int(np.prod(layer.input_shape))
        vals = g.op("Gather", [flat, g.const(win)], axis=1)        # (n, outputs, window)
        if self.op == "max":
            out = g.convert(g.op("ReduceMax", [vals], axes=[2], keepdims=0), frac, accum)
        else:
            acc = None
            shift = accum.frac - frac
            for k in range(win.shape[1]):
                v = g.op("Gather", [vals, g.const(np.array(k, np.int64))], axis=2)
                v = g.scale(v, shift) if shift >= 0 else g.round(g.scale(v, shift), accum)
                acc = g.overflow(v, accum) if acc is None else g.convert(
                    g.op("Add", [acc, v]), accum.frac, accum)
            q = g.op("Div", [acc, g.const(plan["length"].astype(np.float64))])
            nonneg = g.op("GreaterOrEqual", [q, g.const(0.0)])
            out = g.op("Where", [nonneg, g.op("Floor", [q]), g.op("Ceil", [q])])
        return g.op("Reshape", [out, g.const(np.array([-1, *layer.output_shape], np.int64))]), \
            accum.frac

    def estimate(self, layer, ctx):
        return ctx.elementwise(layer)


def _prepare_with_type(cls):
    original = cls.prepare

    def prepare(self, layer, in_types):
        plan = original(self, layer, in_types)
        plan["in_type"] = in_types[0]
        return plan

    cls.prepare = prepare
    return cls


_KEYS_1D = ("n_in", "n_out", "n_filt", "pool_width", "stride_width", "pad_left", "pad_right")
_KEYS_2D = ("in_height", "in_width", "out_height", "out_width", "n_filt", "pool_height",
            "pool_width", "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left",
            "pad_right")


@register
@_prepare_with_type
class MaxPool1D(PoolKind):
    """MaxPooling1D."""

    kind, op, hls_classes, keys = "maxpool1d", "max", ("Pooling1D",), _KEYS_1D
    summary = "MaxPooling1D"


@register
@_prepare_with_type
class AvgPool1D(PoolKind):
    """AveragePooling1D."""

    kind, op, hls_classes, keys = "avgpool1d", "avg", ("Pooling1D",), _KEYS_1D
    summary = "AveragePooling1D"


@register
@_prepare_with_type
class MaxPool2D(PoolKind):
    """MaxPooling2D."""

    kind, op, hls_classes, keys = "maxpool2d", "max", ("Pooling2D",), _KEYS_2D
    summary = "MaxPooling2D"


@register
@_prepare_with_type
class AvgPool2D(PoolKind):
    """AveragePooling2D."""

    kind, op, hls_classes, keys = "avgpool2d", "avg", ("Pooling2D",), _KEYS_2D
    summary = "AveragePooling2D"


@register
@_prepare_with_type
class GlobalMaxPool(PoolKind):
    """GlobalMaxPooling1D/2D."""

    kind, op, hls_classes = "global_maxpool", "max", ("GlobalPooling1D", "GlobalPooling2D")
    summary = "GlobalMaxPooling1D/2D"


@register
@_prepare_with_type
class GlobalAvgPool(PoolKind):
    """GlobalAveragePooling1D/2D."""

    kind, op, hls_classes = "global_avgpool", "avg", ("GlobalPooling1D", "GlobalPooling2D")
    summary = "GlobalAveragePooling1D/2D"
