"""Model builders: compact float and QKeras DNN/CNN for muon q/pT regression.

* DNN on the 21 engineered features: ``inputs -> 64 -> 32 -> 16 -> 1`` (ReLU).
* CNN on the per-station sequence ``(4 stations, 5 channels)``: two Conv1D
  layers (kernel 2 along the stations, ReLU), flatten, a small dense head.

Each exists as a float Keras model and as a QKeras model built from a
:class:`~triginfer.quantization.spec.QuantSpec`. Every QKeras model starts with
``QActivation(quantized_bits(...))`` on its input: the firmware's input type,
and what makes hls4ml's ``bit_exact`` conversion match QKeras exactly. Layer
names are the same in the float and quantized versions (``dense_1``,
``conv_1``, ``output``...), so float weights can initialise the QKeras model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from triginfer.errors import ConfigError
from triginfer.quantization.spec import QuantSpec

KINDS = ("dnn", "cnn")


@dataclass
class ModelConfig:
    """One model of a config's ``models`` list.

    Attributes:
        name: name of the model (file names, plots, metrics keys).
        kind: ``"dnn"`` (engineered features) or ``"cnn"`` (per-station sequence).
        hidden: dense layer widths (DNN body, CNN head).
        conv_filters: filters of each Conv1D layer (CNN only).
        kernel_size: Conv1D kernel size along the stations (CNN only).
        quantization: the QKeras quantization spec (mapping, see QuantSpec.from_dict).
        pruning: ``{"target_sparsity": s}`` to prune the quantized model (0 = no pruning).
    """

    name: str = "dnn"
    kind: str = "dnn"
    hidden: list[int] = field(default_factory=lambda: [64, 32, 16])
    conv_filters: list[int] = field(default_factory=lambda: [16, 16])
    kernel_size: int = 2
    quantization: dict[str, Any] = field(default_factory=dict)
    pruning: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"models[{self.name}].kind must be one of {KINDS}, got {self.kind!r}")
        if not self.hidden or any(not isinstance(h, int) or h <= 0 for h in self.hidden):
            raise ConfigError(f"models[{self.name}].hidden must be positive integers: {self.hidden}")
        if self.kind == "cnn" and (not self.conv_filters or not 1 <= self.kernel_size <= 4):
            raise ConfigError(f"models[{self.name}]: need conv_filters and kernel_size in 1..4")
        sparsity = float(self.pruning.get("target_sparsity", 0.0))
        if not 0.0 <= sparsity < 1.0:
            raise ConfigError(f"models[{self.name}].pruning.target_sparsity must lie in [0, 1)")
        self.quant_spec()

    @property
    def target_sparsity(self) -> float:
        """Fraction of prunable weights to zero in the quantized model."""
        return float(self.pruning.get("target_sparsity", 0.0))

    def quant_spec(self) -> QuantSpec:
        """The parsed :class:`QuantSpec`."""
        return QuantSpec.from_dict(self.quantization)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Parse one ``models`` entry; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"models entry {values.get('name', '?')!r}: unknown key(s) {unknown}")
        return cls(**values)


def input_shape(kind: str, n_features: int = 21) -> tuple[int, ...]:
    """Input shape (without batch) of a model kind."""
    return (n_features,) if kind == "dnn" else (4, 5)


def build_float(cfg: ModelConfig, shape: tuple[int, ...]):
    """The float Keras model of ``cfg``."""
    from tensorflow import keras

    inputs = keras.Input(shape=shape, name="inputs")
    x = inputs
    if cfg.kind == "cnn":
        for i, filters in enumerate(cfg.conv_filters, 1):
            x = keras.layers.Conv1D(filters, cfg.kernel_size, name=f"conv_{i}")(x)
            x = keras.layers.Activation("relu", name=f"relu_conv_{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden, 1):
        x = keras.layers.Dense(units, name=f"dense_{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{i}")(x)
    outputs = keras.layers.Dense(1, name="output")(x)
    return keras.Model(inputs, outputs, name=f"{cfg.name}_float")


def build_quantized(cfg: ModelConfig, shape: tuple[int, ...], spec: QuantSpec | None = None):
    """The QKeras model of ``cfg`` (``spec`` overrides the config's quantization)."""
    from qkeras import QActivation, QConv1D, QDense
    from tensorflow import keras

    spec = spec or cfg.quant_spec()
    inputs = keras.Input(shape=shape, name="inputs")
    x = QActivation(spec.input_quantizer(), name="input_quant")(inputs)
    if cfg.kind == "cnn":
        for i, filters in enumerate(cfg.conv_filters, 1):
            name = f"conv_{i}"
            x = QConv1D(filters, cfg.kernel_size, name=name,
                        kernel_quantizer=spec.weight_quantizer(name),
                        bias_quantizer=spec.bias_quantizer(name))(x)
            x = QActivation(spec.relu_quantizer(name), name=f"relu_conv_{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden, 1):
        name = f"dense_{i}"
        x = QDense(units, name=name, kernel_quantizer=spec.weight_quantizer(name),
                   bias_quantizer=spec.bias_quantizer(name))(x)
        x = QActivation(spec.relu_quantizer(name), name=f"relu_{i}")(x)
    outputs = QDense(1, name="output", kernel_quantizer=spec.weight_quantizer("output"),
                     bias_quantizer=spec.bias_quantizer("output"))(x)
    return keras.Model(inputs, outputs, name=f"{cfg.name}_quantized")


def quantizer_widths(model) -> dict[str, dict[str, int]]:
    """Bit widths read back from a QKeras model's quantizers, per layer.

    ``{"dense_1": {"kernel_bits": 8, "kernel_integer": 0, "bias_bits": ..., }, ...}``;
    QActivation layers report ``activation_bits``/``activation_integer``.
    """
    out: dict[str, dict[str, int]] = {}
    for layer in model.layers:
        entry: dict[str, int] = {}
        for attr, key in (("kernel_quantizer_internal", "kernel"),
                          ("bias_quantizer_internal", "bias"),
                          ("quantizer", "activation")):
            q = getattr(layer, attr, None)
            if q is not None and hasattr(q, "bits"):
                entry[f"{key}_bits"] = int(q.bits)
                entry[f"{key}_integer"] = int(q.integer)
        if entry:
            out[layer.name] = entry
    return out
