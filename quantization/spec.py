"""Quantization specs: per-layer fixed-point widths, YAML-serialisable, and QKeras quantizers.

A :class:`QuantSpec` holds the input quantizer's width and a default
:class:`LayerQuant` (weight, bias and activation widths and integer bits)
with optional per-layer overrides, keyed by layer name. The QKeras
conventions apply: ``quantized_bits(bits, integer)`` is signed with ``integer``
bits above the binary point *excluding* the sign (range ``[-2**integer,
2**integer)``), ``quantized_relu(bits, integer)`` is unsigned.

All quantizers use ``alpha=1`` (no learned per-channel scale), which is what
bit-exact firmware needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from triginfer.errors import ConfigError


@dataclass
class LayerQuant:
    """Widths of one layer: weights, biases and the activation after it."""

    weight_bits: int = 8
    weight_integer: int = 0
    bias_bits: int = 8
    bias_integer: int = 2
    activation_bits: int = 8
    activation_integer: int = 3

    def __post_init__(self) -> None:
        for kind in ("weight", "bias", "activation"):
            bits = getattr(self, f"{kind}_bits")
            integer = getattr(self, f"{kind}_integer")
            if not isinstance(bits, int) or not 2 <= bits <= 32:
                raise ConfigError(f"quantization: {kind}_bits must be an integer in 2..32, got {bits!r}")
            if not isinstance(integer, int) or not -8 <= integer < bits:
                raise ConfigError(
                    f"quantization: {kind}_integer must be an integer below {kind}_bits ({bits}), "
                    f"got {integer!r}"
                )


@dataclass
class QuantSpec:
    """Quantization of a whole model.

    Attributes:
        input_bits: width of the input quantizer (``quantized_bits``).
        input_integer: its integer bits (excluding sign).
        default: widths of every layer not named in ``layers``.
        layers: per-layer overrides, keyed by the model's layer name (``dense_1``, ``conv_1``...).
    """

    input_bits: int = 12
    input_integer: int = 3
    default: LayerQuant = field(default_factory=LayerQuant)
    layers: dict[str, LayerQuant] = field(default_factory=dict)

    def for_layer(self, name: str) -> LayerQuant:
        """The widths that apply to layer ``name``."""
        return self.layers.get(name, self.default)

    @classmethod
    def uniform(cls, bits: int, input_bits: int = 12, input_integer: int = 3) -> QuantSpec:
        """Every weight, bias and activation at ``bits`` (the bit-width scan's point).

        Integer bits: weights 0 (``|w| < 1``), biases 2, activations ``min(3, bits - 2)``.
        """
        act_int = max(0, min(3, bits - 2))
        return cls(input_bits=input_bits, input_integer=input_integer,
                   default=LayerQuant(bits, 0, bits, min(2, bits - 2), bits, act_int))

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping for YAML/JSON."""
        return {
            "input_bits": self.input_bits,
            "input_integer": self.input_integer,
            "default": dataclasses.asdict(self.default),
            "layers": {k: dataclasses.asdict(v) for k, v in self.layers.items()},
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> QuantSpec:
        """Parse a mapping; a flat mapping of LayerQuant fields sets ``default``."""
        values = dict(values or {})
        known_layer = {f.name for f in dataclasses.fields(LayerQuant)}
        flat = {k: values.pop(k) for k in list(values) if k in known_layer}
        unknown = sorted(set(values) - {"input_bits", "input_integer", "default", "layers"})
        if unknown:
            raise ConfigError(f"quantization: unknown key(s) {unknown}")
        default = LayerQuant(**{**(values.get("default") or {}), **flat})
        layers = {}
        for name, v in (values.get("layers") or {}).items():
            layers[name] = LayerQuant(**{**dataclasses.asdict(default), **(v or {})})
        spec = cls(input_bits=values.get("input_bits", 12),
                   input_integer=values.get("input_integer", 3), default=default, layers=layers)
        if not 2 <= spec.input_bits <= 32 or not 0 <= spec.input_integer < spec.input_bits:
            raise ConfigError("quantization: input_bits must be 2..32 and input_integer < input_bits")
        return spec

    # --- QKeras quantizer factories -------------------------------------------------------
    def input_quantizer(self):
        """``quantized_bits(input_bits, input_integer, alpha=1)`` for the input QActivation."""
        from qkeras import quantized_bits

        return quantized_bits(self.input_bits, self.input_integer, alpha=1)

    def weight_quantizer(self, layer: str):
        """Kernel quantizer of ``layer``."""
        from qkeras import quantized_bits

        q = self.for_layer(layer)
        return quantized_bits(q.weight_bits, q.weight_integer, alpha=1)

    def bias_quantizer(self, layer: str):
        """Bias quantizer of ``layer``."""
        from qkeras import quantized_bits

        q = self.for_layer(layer)
        return quantized_bits(q.bias_bits, q.bias_integer, alpha=1)

    def relu_quantizer(self, layer: str):
        """``quantized_relu`` of the activation after ``layer``."""
        from qkeras import quantized_relu

        q = self.for_layer(layer)
        return quantized_relu(q.activation_bits, q.activation_integer)
