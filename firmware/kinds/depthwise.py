"""Depthwise convolutions (1D, 2D): each channel convolved with its own kernel.

The arithmetic is the dense layer's (``nnet_depthwise_product.h``: products
converted to ``accum_t``, the bias converted to ``accum_t``, summed, converted
to the result type), so the kind reuses the convolution machinery with a
block-diagonal kernel: ``W[k * C + c, c * D + d] = w[k, c, d]`` (zeros elsewhere
add nothing). The spec stores that expanded kernel. Separable convolutions
arrive from hls4ml as a depthwise plus a pointwise layer.
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.dense import Conv1D, Conv2D


def block_diagonal(weight: np.ndarray, n_chan: int) -> np.ndarray:
    """Expand a depthwise kernel ``(*kernel, C, D)`` (or ``(*kernel, C)``) to ``(K * C, C * D)``."""
    w = np.asarray(weight)
    if w.shape[-1] != n_chan and w.shape[-2] == n_chan:
        depth = w.shape[-1]
    elif w.shape[-1] == n_chan:
        w, depth = w[..., None], 1
    else:
        depth = w.shape[-1]
    k = int(np.prod(w.shape[:-2]))
    w = w.reshape(k, n_chan, depth)
    out = np.zeros((k * n_chan, n_chan * depth), dtype=w.dtype)
    for c in range(n_chan):
        out[c::n_chan, c * depth:(c + 1) * depth] = w[:, c, :]
    return out


class DepthwiseMixin:
    """Turns the stored kernel into the block-diagonal one at read time."""

    def read(self, hls_layer, layer, cpp):
        super().read(hls_layer, layer, cpp)
        n_chan = int(layer.params["n_chan"])
        layer.arrays["weight"] = block_diagonal(layer.arrays["weight"], n_chan)
        if "bias" in layer.arrays:
            layer.arrays["bias"] = layer.arrays["bias"].reshape(-1)


@register
class DepthwiseConv1D(DepthwiseMixin, Conv1D):
    """DepthwiseConv1D (and the depthwise half of SeparableConv1D)."""

    kind = "depthwise_conv1d"
    hls_classes = ("DepthwiseConv1D",)
    summary = "DepthwiseConv1D; SeparableConv1D (as depthwise + pointwise)"


@register
class DepthwiseConv2D(DepthwiseMixin, Conv2D):
    """DepthwiseConv2D (and the depthwise half of SeparableConv2D)."""

    kind = "depthwise_conv2d"
    hls_classes = ("DepthwiseConv2D",)
    summary = "DepthwiseConv2D; SeparableConv2D (as depthwise + pointwise)"
