"""Input and linear layers."""

from __future__ import annotations

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import LayerKind, max_abs, type_range


@register
class Input(LayerKind):
    """A firmware input: the float input converted to the input type (its rounding, overflow)."""

    kind = "input"
    hls_classes = ("Input",)
    summary = "float input converted to the input type"
    n_inputs = 0

    def bound(self, layer, plan, in_types):
        return max_abs(layer.fixed("result"))

    def emulate(self, layer, plan, xs, ctx):  # the emulator converts float inputs itself
        raise RuntimeError("input layers are converted by the emulator")

    def estimate(self, layer, ctx):
        return {"cycles": 0, "LUT": 0, "DSP": 0, "BRAM_18K": 0,
                "FF": layer.fixed("result").width * ctx.size(layer)}


@register
class Linear(LayerKind):
    """``linear`` activation: the conversion to the result type."""

    kind = "linear"
    summary = "linear activation (a type conversion)"
    elementwise = True

    def matches(self, hls_layer):
        return (hls_layer.class_name in ("Activation", "QActivation", "Linear")
                and str(hls_layer.attributes.get("activation", "")).lower() == "linear")

    def emulate(self, layer, plan, xs, ctx):
        return xs[0]

    def value_range(self, layer, plan, in_types):
        return type_range(in_types[0])

    def onnx(self, g, layer, plan, xs):
        return xs[0]

    def estimate(self, layer, ctx):
        return ctx.elementwise(layer)

