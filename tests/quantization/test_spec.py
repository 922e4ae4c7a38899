"""Quantization specs: YAML round trip, validation, widths read back from QKeras models."""

from __future__ import annotations

import pytest
import yaml

from triginfer.errors import ConfigError
from triginfer.quantization.spec import LayerQuant, QuantSpec
from triginfer.trigger_models.builders import ModelConfig, build_quantized, quantizer_widths
from triginfer.trigger_models.scan import choose_width


def test_yaml_round_trip_and_overrides():
    spec = QuantSpec(input_bits=10, input_integer=3, default=LayerQuant(6, 0, 6, 1, 6, 2),
                     layers={"output": LayerQuant(12, 1, 12, 2, 12, 4)})
    again = QuantSpec.from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
    assert again == spec
    flat = QuantSpec.from_dict({"weight_bits": 5, "layers": {"dense_1": {"bias_bits": 9}}})
    assert flat.default.weight_bits == 5
    assert flat.for_layer("dense_1").bias_bits == 9
    assert flat.for_layer("dense_1").weight_bits == 5


def test_bad_specs():
    with pytest.raises(ConfigError, match="weight_bits"):
        QuantSpec.from_dict({"weight_bits": 1})
    with pytest.raises(ConfigError, match="unknown"):
        QuantSpec.from_dict({"wieght_bits": 8})


@pytest.mark.parametrize("kind", ["dnn", "cnn"])
def test_builders_give_requested_widths(kind):
    spec = {"input_bits": 12, "input_integer": 3, "weight_bits": 7, "weight_integer": 1,
            "bias_bits": 9, "bias_integer": 2, "activation_bits": 6, "activation_integer": 2,
            "layers": {"output": {"weight_bits": 11, "weight_integer": 0}}}
    mc = ModelConfig(name=kind, kind=kind, hidden=[8, 4], conv_filters=[4], quantization=spec)
    model = build_quantized(mc, (21,) if kind == "dnn" else (4, 5))
    widths = quantizer_widths(model)
    assert model.layers[1].name == "input_quant"
    assert widths["input_quant"] == {"activation_bits": 12, "activation_integer": 3}
    assert widths["dense_1"]["kernel_bits"] == 7
    assert widths["dense_1"]["kernel_integer"] == 1
    assert widths["dense_1"]["bias_bits"] == 9
    assert widths["relu_1"] == {"activation_bits": 6, "activation_integer": 2}
    assert widths["output"]["kernel_bits"] == 11
    assert widths["output"]["kernel_integer"] == 0
    if kind == "cnn":
        assert widths["conv_1"]["kernel_bits"] == 7


def test_choose_width():
    assert choose_width([4, 6, 8, 10], [0.2, 0.11, 0.104, 0.1], 0.1, 0.05) == 8
    assert choose_width([4, 6], [0.2, 0.3], 0.1, 0.05) is None
