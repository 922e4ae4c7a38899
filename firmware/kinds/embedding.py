"""Embedding: each integer input selects a row of the table (``nnet_embed.h``)."""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import EmuTensor, LayerKind, max_abs


@register
class Embedding(LayerKind):
    """``res[j, :] = embeddings[int(x_j), :]`` converted to the result type."""

    kind = "embedding"
    hls_classes = ("Embedding",)
    summary = "Embedding (integer inputs)"

    def required_arrays(self, layer):
        return ("embeddings",)

    def required_types(self, layer):
        return ("embeddings",)

    def bound(self, layer, plan, in_types):
        return max(max_abs(layer.fixed("embeddings")), max_abs(in_types[0]))

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        table = layer.arrays["embeddings"].reshape(-1, layer.output_shape[-1])
        index = np.floor(np.ldexp(np.asarray(x.m, np.float64), -x.frac)).astype(np.int64)
        index = np.clip(index.reshape(n, -1), 0, len(table) - 1)   # out of range: undefined in C
        out = table.astype(x.m.dtype)[index]
        return EmuTensor(out.reshape(n, *layer.output_shape), layer.fixed("embeddings").frac)

    def onnx(self, g, layer, plan, xs):
        from onnx import TensorProto

        m, frac = xs[0]
        table = layer.arrays["embeddings"].reshape(-1, layer.output_shape[-1])
        v = g.op("Clip", [g.op("Floor", [g.op("Mul", [m, g.const(2.0 ** -frac)])]),
                          g.const(0.0), g.const(float(len(table) - 1))])
        index = g.op("Cast", [v], to=TensorProto.INT64)
        out = g.op("Gather", [g.const(table.astype(np.float64)), index], axis=0)
        return g.op("Reshape", [out, g.const(np.array([-1, *layer.output_shape], np.int64))]), \
            layer.fixed("embeddings").frac

    def estimate(self, layer, ctx):
        size = int(layer.arrays["embeddings"].size)
        return {"cycles": 1, "LUT": size * layer.fixed("embeddings").width // 6,
                "FF": ctx.size(layer) * layer.fixed("result").width, "DSP": 0, "BRAM_18K": 0}
