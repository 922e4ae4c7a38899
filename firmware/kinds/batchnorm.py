"""Batch normalization as hls4ml computes it: ``x * scale + bias`` exact, then the result type.

``scale`` and ``bias`` hold one value per channel (channels last) or per input
value; hls4ml folds the mean, variance, gamma and beta into them.
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import EmuTensor, LayerKind, max_abs, shl


@register
class BatchNorm(LayerKind):
    """``x * scale + bias`` (see the module docstring)."""

    kind = "batchnorm"
    hls_classes = ("BatchNormalization", "QBatchNormalization", "ApplyAlpha")
    summary = ("BatchNormalization, QBatchNormalization (standalone), ApplyAlpha (QONNX "
               "scales, QKeras alpha)")

    def required_arrays(self, layer):
        return ("scale", "bias")

    def required_types(self, layer):
        return ("scale", "bias")

    def validate(self, layer, producers):
        super().validate(layer, producers)
        size = int(np.prod(layer.output_shape))
        for key in ("scale", "bias"):
            if size % max(layer.arrays[key].size, 1):
                raise ValueError(f"{key} of {layer.arrays[key].size} values does not divide "
                                 f"the {size} values of the layer")

    def prepare(self, layer, in_types):
        size = int(np.prod(layer.output_shape))
        sf, bf = layer.fixed("scale").frac, layer.fixed("bias").frac
        top = max(in_types[0].frac + sf, bf)
        scale = layer.arrays["scale"].reshape(-1).astype(np.int64)
        bias = layer.arrays["bias"].reshape(-1).astype(np.int64)
        return {"scale": np.tile(scale, size // scale.size),
                "bias": np.tile(bias, size // bias.size), "top": top, "sf": sf, "bf": bf}

    def bound(self, layer, plan, in_types):
        return (max_abs(in_types[0]) * float(np.abs(plan["scale"]).max(initial=0))
                * 2.0 ** (plan["top"] - in_types[0].frac - plan["sf"])
                + float(np.abs(plan["bias"]).max(initial=0)) * 2.0 ** (plan["top"] - plan["bf"]))

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        flat = x.m.reshape(n, -1)
        top = plan["top"]
        prod = flat * plan["scale"].astype(flat.dtype)
        total = shl(prod, top - x.frac - plan["sf"]) + shl(plan["bias"].astype(flat.dtype),
                                                           top - plan["bf"])
        return EmuTensor(total.reshape(x.m.shape), top)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        top = plan["top"]
        flat = g.op("Reshape", [m, g.const(np.array([0, -1], np.int64))])
        prod = g.op("Mul", [flat, g.const(np.ldexp(plan["scale"].astype(np.float64),
                                                   top - frac - plan["sf"]))])
        total = g.op("Add", [prod, g.const(np.ldexp(plan["bias"].astype(np.float64),
                                                    top - plan["bf"]))])
        return g.op("Reshape", [total, g.const(np.array([-1, *layer.output_shape], np.int64))]), \
            top

    def estimate(self, layer, ctx):
        return ctx.elementwise(layer)
