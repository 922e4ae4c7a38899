"""Layers that move values without arithmetic: reshape/flatten, transpose, zero padding,
cropping, nearest-neighbour upsampling.

Each is an index map: output position -> input position (-1: a zero), computed
from the layer's parameters on an ``arange`` of the input (channels last), and
applied as one gather (``Gather`` in ONNX). The values are then converted to
the result type (hls4ml keeps the input type for these, so that is exact).
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import EmuTensor, LayerKind


class GatherKind(LayerKind):
    """A layer defined by :meth:`index_map`."""

    keys: tuple[str, ...] = ()

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        for key in self.keys:
            if key in attrs and attrs[key] is not None:
                value = attrs[key]
                layer.params[key] = [int(v) for v in value] if isinstance(
                    value, list | tuple) else int(value)

    def index_map(self, layer) -> np.ndarray:
        """Flat input index of each output value (-1 for a zero), shape ``output_shape``."""
        raise NotImplementedError

    def value_range(self, layer, plan, in_types):
        lo, hi, frac = in_types[0].min_value, in_types[0].max_value, in_types[0].frac
        return min(lo, 0.0), max(hi, 0.0), frac

    def validate(self, layer, producers):
        super().validate(layer, producers)
        layer.input_shape = tuple(producers[0].output_shape)
        idx = self.index_map(layer)
        if tuple(idx.shape) != tuple(layer.output_shape):
            raise ValueError(f"parameters give shape {list(idx.shape)}, the spec says "
                             f"{list(layer.output_shape)}")

    def prepare(self, layer, in_types):
        idx = self.index_map(layer).reshape(-1)
        return {"index": idx, "identity": bool(np.array_equal(idx, np.arange(idx.size)))}

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        flat = x.m.reshape(n, -1)
        if not plan["identity"]:
            idx = plan["index"]
            zero = idx < 0
            flat = flat[:, np.where(zero, 0, idx)]
            if zero.any():
                flat[:, zero] = 0
        return EmuTensor(flat.reshape(n, *layer.output_shape), x.frac)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        if plan["identity"]:
            return g.op("Reshape", [m, g.const(np.array([-1, *layer.output_shape],
                                                         np.int64))]), frac
        flat = g.op("Reshape", [m, g.const(np.array([0, -1], np.int64))])
        idx = plan["index"].copy()
        if (idx < 0).any():  # a zero column appended at the end for the padding
            zero = g.op("Mul", [g.op("Slice", [flat, g.const(np.array([0])),
                                               g.const(np.array([1])), g.const(np.array([1]))]),
                                g.const(0.0)])
            flat = g.op("Concat", [flat, zero], axis=1)
            idx[idx < 0] = int(np.prod(layer.input_shape))
        out = g.op("Gather", [flat, g.const(idx)], axis=1)
        return g.op("Reshape", [out, g.const(np.array([-1, *layer.output_shape], np.int64))]), \
            frac

    def estimate(self, layer, ctx):
        return {"cycles": 0, "LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0}


def _arange(shape) -> np.ndarray:
    return np.arange(int(np.prod(shape))).reshape(shape)


@register
class Reshape(GatherKind):
    """Reshape / Flatten: the same values, channels-last order."""

    kind = "flatten"
    hls_classes = ("Reshape", "Flatten")
    summary = "Reshape, Flatten (Dropout is removed by hls4ml)"

    def index_map(self, layer):
        return _arange(layer.output_shape)


@register
class Transpose(GatherKind):
    """Permute / Transpose of the non-batch axes."""

    kind = "transpose"
    hls_classes = ("Transpose",)
    summary = "Permute (Transpose)"
    keys = ("perm",)

    def index_map(self, layer):
        perm = layer.params["perm"]
        return np.transpose(_arange(layer.input_shape), perm)


@register
class ZeroPadding(GatherKind):
    """ZeroPadding1D/2D."""

    kind = "zeropad"
    hls_classes = ("ZeroPadding1D", "ZeroPadding2D")
    summary = "ZeroPadding1D/2D"
    keys = ("pad_top", "pad_bottom", "pad_left", "pad_right")

    def index_map(self, layer):
        p = layer.params
        grid = _arange(layer.input_shape)
        pads = [(p.get("pad_left", 0), p.get("pad_right", 0)), (0, 0)]
        if len(layer.input_shape) == 3:
            pads = [(p.get("pad_top", 0), p.get("pad_bottom", 0))] + pads
        return np.pad(grid, pads, constant_values=-1)


@register
class Cropping(GatherKind):
    """Cropping1D/2D."""

    kind = "cropping"
    hls_classes = ("Cropping1D", "Cropping2D")
    summary = "Cropping1D/2D"
    keys = ("crop_top", "crop_bottom", "crop_left", "crop_right")

    def index_map(self, layer):
        p = layer.params
        grid = _arange(layer.input_shape)
        w = grid.shape[-2]
        cols = slice(p.get("crop_left", 0), w - p.get("crop_right", 0))
        if len(layer.input_shape) == 3:
            h = grid.shape[0]
            return grid[p.get("crop_top", 0):h - p.get("crop_bottom", 0), cols, :]
        return grid[cols, :]


@register
class Resize(GatherKind):
    """UpSampling1D/2D (nearest): ``src = (dst * ((in << 16) / out + 1)) >> 16`` per axis."""

    kind = "upsampling"
    hls_classes = ("Resize",)
    summary = "UpSampling1D/2D (nearest)"
    keys = ("in_height", "in_width", "out_height", "out_width", "n_chan")

    def read(self, hls_layer, layer, cpp):
        from triginfer.errors import UnsupportedModelError

        super().read(hls_layer, layer, cpp)
        algorithm = str(hls_layer.attributes.get("algorithm", "nearest"))
        if algorithm != "nearest":
            raise UnsupportedModelError(f"layer {layer.name!r}: {algorithm} resizing is not "
                                        "emulated; use interpolation='nearest'")

    def index_map(self, layer):
        grid = _arange(layer.input_shape)
        out = layer.output_shape

        def src(n_in, n_out):
            ratio = ((n_in << 16) // n_out) + 1
            return (np.arange(n_out) * ratio) >> 16

        if len(layer.input_shape) == 3:
            rows = src(layer.input_shape[0], out[0])
            cols = src(layer.input_shape[1], out[1])
            return grid[rows][:, cols]
        return grid[src(layer.input_shape[0], out[0])]
