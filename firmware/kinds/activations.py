"""Activations computed with comparisons and constant products (no lookup table).

Each follows its hls4ml template (``nnet_activation.h``): the value is computed
at full precision, then converted to the result type. hls4ml 1.3 treats a
Keras ``ReLU`` with ``max_value``/``negative_slope`` as a plain relu; the
emulator follows the firmware (C simulation is the oracle), not Keras.
"""

from __future__ import annotations

import numpy as np

from triginfer.errors import UnsupportedModelError
from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import (
    EmuTensor,
    LayerKind,
    call_args,
    cpp_const,
    max_abs,
    negative_compares_greater,
    shl,
)
from triginfer.quantization.fixed import FixedType


def _activation(hls_layer) -> str:
    return str(hls_layer.attributes.get("activation", "")).lower()


class ElementwiseKind(LayerKind):
    """An activation applied to every value."""

    activations: tuple[str, ...] = ()
    elementwise = True

    def matches(self, hls_layer):
        return (hls_layer.class_name in ("Activation", "QActivation", "ParametrizedActivation",
                                         "HardActivation", "PReLU", "UnaryLUT")
                and _activation(hls_layer) in self.activations)

    def estimate(self, layer, ctx):
        return ctx.elementwise(layer)


@register
class ReLU(ElementwiseKind):
    """``relu``: the value where it is positive, else 0."""

    kind = "relu"
    activations = ("relu",)
    summary = "relu, quantized_relu (ReLU's max_value/negative_slope: hls4ml ignores them)"

    def value_range(self, layer, plan, in_types):
        return 0.0, max(in_types[0].max_value, 0.0), in_types[0].frac

    def emulate(self, layer, plan, xs, ctx):
        result = layer.fixed("result")
        x = xs[0]
        # For an unsigned saturating result, rounding then clipping at 0 is the relu.
        if result.overflow == "SAT" and not result.signed and not ctx.monitoring:
            return x
        return EmuTensor(np.maximum(x.m, 0), x.frac)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        return g.op("Max", [m, g.const(0.0)]), frac

    def estimate(self, layer, ctx):
        in_width = ctx.in_width(layer)
        width = layer.fixed("result").width
        n = ctx.size(layer)
        requantizes = width != in_width
        return {"cycles": 0, "LUT": int(np.ceil(n * (1.75 * in_width + (6 * width if requantizes
                                                                         else 0)))),
                "FF": n * width, "DSP": 0, "BRAM_18K": 0}


class ParamKind(ElementwiseKind):
    """An activation with one constant of type ``param`` given in the generated call."""

    def required_types(self, layer):
        return ("param",)

    def read(self, hls_layer, layer, cpp):
        args = call_args(cpp.get("function", ""))
        value = float(args[1]) if len(args) >= 3 else float(
            hls_layer.attributes.get("activ_param", 1.0))
        layer.params["param"] = value
        layer.arrays["param"] = FixedType.parse(layer.types["param"]).quantize(
            np.array([value]))

    def required_arrays(self, layer):
        return ("param",)


@register
class LeakyReLU(ParamKind):
    """``leaky_relu``: ``x`` where ``x > 0``, else ``alpha * x`` (alpha in ``param_t``)."""

    kind = "leaky_relu"
    activations = ("leakyrelu", "leaky_relu")
    summary = "leaky relu, quantized_relu with negative_slope"

    def bound(self, layer, plan, in_types):
        p = layer.fixed("param")
        return max_abs(in_types[0]) * max(max_abs(p), 2.0 ** p.frac)

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        p = layer.fixed("param")
        alpha = layer.arrays["param"].astype(x.m.dtype)[0]
        return EmuTensor(np.where(x.m > 0, shl(x.m, p.frac), x.m * alpha), x.frac + p.frac)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        p = layer.fixed("param")
        pos = g.op("Greater", [m, g.const(0.0)])
        out = g.op("Where", [pos, g.scale(m, p.frac),
                             g.op("Mul", [m, g.const(float(layer.arrays["param"][0]))])])
        return out, frac + p.frac


@register
class ThresholdedReLU(ParamKind):
    """``thresholded_relu``: ``x`` where ``x > theta`` (theta in ``param_t``), else 0."""

    kind = "thresholded_relu"
    activations = ("thresholdedrelu", "thresholded_relu")
    summary = "thresholded relu"

    def _theta(self, layer, frac, dtype):
        p = layer.fixed("param")
        theta = float(layer.arrays["param"][0]) * 2.0 ** (max(frac, p.frac) - p.frac)
        return theta, max(frac, p.frac)

    def bound(self, layer, plan, in_types):
        p = layer.fixed("param")
        return max(max_abs(in_types[0]) * 2.0 ** max(p.frac - in_types[0].frac, 0),
                   max_abs(p) * 2.0 ** max(in_types[0].frac - p.frac, 0))

    def prepare(self, layer, in_types):
        # ap_fixed's comparison of a signed input with a wide unsigned threshold (hls4ml's
        # bit-exact flow declares ap_ufixed<2,32>) lets every negative input through
        return {"negative_passes": negative_compares_greater(in_types[0],
                                                             layer.fixed("param"))}

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        theta, top = self._theta(layer, x.frac, x.m.dtype)
        m = shl(x.m, top - x.frac)
        keep = m > theta
        if plan.get("negative_passes"):
            keep |= m < 0
        return EmuTensor(np.where(keep, m, 0).astype(m.dtype), top)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        theta, top = self._theta(layer, frac, None)
        m = g.scale(m, top - frac)
        keep = g.op("Greater", [m, g.const(theta)])
        if plan.get("negative_passes"):
            keep = g.op("Or", [keep, g.op("Less", [m, g.const(0.0)])])
        return g.op("Where", [keep, m, g.const(0.0)]), top


@register
class PReLU(ElementwiseKind):
    """``prelu``: ``x`` where ``x > 0``, else ``alpha_i * x`` (one alpha per value)."""

    kind = "prelu"
    hls_classes = ("PReLU",)
    activations = ("prelu",)
    summary = "parametric relu (PReLU)"

    def matches(self, hls_layer):
        return hls_layer.class_name == "PReLU"

    def read(self, hls_layer, layer, cpp):
        layer.arrays["param"] = layer.arrays["param"].reshape(-1)
        self._check_alphas(layer)

    @staticmethod
    def _check_alphas(layer, error: type[Exception] = UnsupportedModelError) -> None:
        """hls4ml's ``nnet::prelu`` reads one alpha per value. A layer with fewer (PyTorch's
        ``nn.PReLU()`` has one shared alpha, and hls4ml 1.3 writes just that one) makes its C++
        read past the end of the array: firmware whose output is whatever memory follows."""
        n_in, n_alpha = int(np.prod(layer.output_shape)), layer.arrays["param"].size
        if n_alpha != n_in:
            raise error(
                f"layer {layer.name!r} (PReLU): {n_alpha} alpha value(s) for {n_in} inputs; "
                "hls4ml's nnet::prelu reads one per input, so its firmware would read past "
                "the end of the alpha array (hls4ml 1.3 writes a single alpha for PyTorch's "
                f"nn.PReLU()). Use nn.PReLU(num_parameters={n_in}) (one alpha per input; "
                "set them all equal to share one), or LeakyReLU for a fixed slope")

    def validate(self, layer, producers):
        super().validate(layer, producers)
        self._check_alphas(layer, ValueError)

    def required_arrays(self, layer):
        return ("param",)

    def required_types(self, layer):
        return ("param",)

    def bound(self, layer, plan, in_types):
        p = layer.fixed("param")
        alpha = float(np.abs(layer.arrays["param"]).max(initial=0))
        return max_abs(in_types[0]) * max(alpha, 2.0 ** p.frac)

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        p = layer.fixed("param")
        flat = x.m.reshape(n, -1)
        alpha = layer.arrays["param"].astype(x.m.dtype)
        out = np.where(flat > 0, shl(flat, p.frac), flat * alpha)
        return EmuTensor(out.reshape(x.m.shape), x.frac + p.frac)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        p = layer.fixed("param")
        flat = g.op("Reshape", [m, g.const(np.array([0, -1], np.int64))])
        pos = g.op("Greater", [flat, g.const(0.0)])
        neg = g.op("Mul", [flat, g.const(layer.arrays["param"].astype(np.float64))])
        out = g.op("Where", [pos, g.scale(flat, p.frac), neg])
        return g.op("Reshape", [out, g.const(np.array([-1, *layer.output_shape], np.int64))]), \
            frac + p.frac


@register
class HardSigmoid(ElementwiseKind):
    """``hard_sigmoid``: ``slope * x + shift`` clipped to [0, 1] (slope, shift constants)."""

    kind = "hard_sigmoid"
    activations = ("hard_sigmoid",)
    summary = "hard sigmoid (Keras hard_sigmoid, QKeras quantized_sigmoid)"
    twice = False

    def matches(self, hls_layer):
        return hls_layer.class_name == "HardActivation" and _activation(hls_layer) == self.kind

    def read(self, hls_layer, layer, cpp):
        config = cpp.get("config", "")
        for key in ("slope", "shift"):
            text = cpp_const(config, f"::{key}") or cpp_const(config, key)
            value = float(text) if text is not None else float(
                hls_layer.attributes.get(key, 0.2 if key == "slope" else 0.5))
            layer.params[key] = value
            layer.arrays[key] = FixedType.parse(layer.types[key]).quantize(np.array([value]))

    def required_arrays(self, layer):
        return ("slope", "shift")

    def required_types(self, layer):
        return ("slope", "shift")

    def _fracs(self, layer, frac):
        sf, hf = layer.fixed("slope").frac, layer.fixed("shift").frac
        return sf, hf, max(frac + sf, hf)

    def bound(self, layer, plan, in_types):
        sf, hf, top = self._fracs(layer, in_types[0].frac)
        s = float(abs(layer.arrays["slope"][0]))
        return max_abs(in_types[0]) * s * 2.0 ** (top - in_types[0].frac - sf) + 2.0 ** (top + 2)

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        sf, hf, top = self._fracs(layer, x.frac)
        slope = layer.arrays["slope"].astype(x.m.dtype)[0]
        shift = layer.arrays["shift"].astype(x.m.dtype)[0]
        v = shl(x.m * slope, top - x.frac - sf) + shl(np.asarray(shift), top - hf)
        one = 2.0**top if v.dtype.kind == "f" else np.int64(1) << np.int64(top)
        v = np.clip(v, 0, one)
        if self.twice:
            return EmuTensor(2 * v - one, top)
        return EmuTensor(v, top)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        sf, hf, top = self._fracs(layer, frac)
        slope, shift = float(layer.arrays["slope"][0]), float(layer.arrays["shift"][0])
        v = g.op("Add", [g.op("Mul", [m, g.const(slope * 2.0 ** (top - frac - sf))]),
                         g.const(shift * 2.0 ** (top - hf))])
        v = g.op("Clip", [v, g.const(0.0), g.const(2.0**top)])
        if self.twice:
            v = g.op("Sub", [g.op("Mul", [v, g.const(2.0)]), g.const(2.0**top)])
        return v, top


@register
class HardTanh(HardSigmoid):
    """``hard_tanh``: ``2 * hard_sigmoid(x) - 1`` (QKeras quantized_tanh)."""

    kind = "hard_tanh"
    activations = ("hard_tanh",)
    summary = "hard tanh (QKeras quantized_tanh)"
    twice = True


@register
class BinaryTanh(ElementwiseKind):
    """``binary_tanh``: +1 where ``x >= 0``, else -1 (0 for an ``ap_uint<1>`` result)."""

    kind = "binary_tanh"
    activations = ("binary_tanh",)
    summary = "binary activation (QKeras binary(), binary_tanh)"

    def value_range(self, layer, plan, in_types):
        return -1.0, 1.0, 0

    def bound(self, layer, plan, in_types):
        return 1.0

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        result = layer.fixed("result")
        low = 0 if (not result.signed and result.width == 1) else -1
        return EmuTensor(np.where(x.m >= 0, 1, low).astype(x.m.dtype), 0)

    def onnx(self, g, layer, plan, xs):
        m, _ = xs[0]
        result = layer.fixed("result")
        low = 0.0 if (not result.signed and result.width == 1) else -1.0
        return g.op("Where", [g.op("GreaterOrEqual", [m, g.const(0.0)]), g.const(1.0),
                              g.const(low)]), 0


@register
class TernaryTanh(LayerKind):
    """hls4ml's ``normalize_ternary_tanh``: +1 above ``threshold_hi``, -1 at or below
    ``threshold_lo``, else 0 (per value or per channel)."""

    kind = "ternary_tanh"
    hls_classes = ("BatchNormalizationQuantizedTanh",)
    summary = "ternary activation (QKeras ternary(), folded with batch norm)"

    def read(self, hls_layer, layer, cpp):
        from triginfer.errors import UnsupportedModelError

        if "threshold_hi" not in layer.arrays:
            raise UnsupportedModelError(
                f"layer {layer.name!r}: hls4ml's binary normalize_binary_tanh is not "
                "emulated; use ternary() or quantized_bits activations")

    def required_arrays(self, layer):
        return ("threshold_hi", "threshold_lo")

    def bound(self, layer, plan, in_types):
        t = layer.fixed("threshold_hi")
        return max_abs(in_types[0]) * 2.0 ** max(t.frac - in_types[0].frac, 0) + max_abs(t) * (
            2.0 ** max(in_types[0].frac - t.frac, 0))

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        t = layer.fixed("threshold_hi")
        top = max(x.frac, t.frac)
        m = shl(x.m, top - x.frac)
        flat = m.reshape(m.shape[0], -1)
        hi = np.ldexp(layer.arrays["threshold_hi"].astype(np.float64), top - t.frac)
        lo = np.ldexp(layer.arrays["threshold_lo"].astype(np.float64), top - t.frac)
        reps = flat.shape[1] // hi.size
        hi, lo = np.tile(hi, reps), np.tile(lo, reps)
        out = np.where(flat > hi, 1, np.where(flat <= lo, -1, 0)).astype(m.dtype)
        return EmuTensor(out.reshape(m.shape), 0)

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        t = layer.fixed("threshold_hi")
        top = max(frac, t.frac)
        m = g.op("Reshape", [g.scale(m, top - frac), g.const(np.array([0, -1], np.int64))])
        reps = int(np.prod(layer.output_shape)) // layer.arrays["threshold_hi"].size
        hi = np.tile(np.ldexp(layer.arrays["threshold_hi"].astype(np.float64), top - t.frac), reps)
        lo = np.tile(np.ldexp(layer.arrays["threshold_lo"].astype(np.float64), top - t.frac), reps)
        up = g.op("Greater", [m, g.const(hi)])
        down = g.op("LessOrEqual", [m, g.const(lo)])
        out = g.op("Where", [up, g.const(1.0), g.op("Where", [down, g.const(-1.0),
                                                               g.const(0.0)])])
        return g.op("Reshape", [out, g.const(np.array([-1, *layer.output_shape], np.int64))]), 0

    def estimate(self, layer, ctx):
        return ctx.elementwise(layer)
