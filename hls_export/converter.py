"""hls4ml conversion of any Keras/QKeras model into an HLS project, C simulation and FirmwareSpec.

:func:`convert` checks the model before hls4ml runs (every layer must be one
the layer-kind registry can read; recurrent layers are refused by name),
converts it with hls4ml using the user's configuration (a dict or a YAML file
as ``config_from_keras_model`` writes it, edited by hand) or hls4ml's default
one at granularity ``name``, writes the HLS project (firmware sources and
``build_prj.tcl``) and reads the FirmwareSpec from the converted ModelGraph
after its optimizer passes, through the registry. ``bit_exact`` (hls4ml's
precision propagation, exact with QKeras when the model starts with an input
quantizer) is a choice: it defaults to on for models with an input quantizer
and off otherwise (then the input type is the configuration's). Whatever Keras
computes, the C simulation is the oracle the emulator equals.
:func:`from_hls_model` wraps a ModelGraph the user converted themselves.
:class:`HLSFirmware` compiles the C simulation with g++ and runs it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.atomic import write_text
from triginfer.config import DEFAULT_PART
from triginfer.errors import ConfigError, ShapeError, UnsupportedModelError
from triginfer.firmware import kinds
from triginfer.firmware.spec import FirmwareSpec, SpecLayer
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

#: Keras/QKeras layer classes the chain converts (each ends up as kinds of the registry).
SUPPORTED_KERAS = {
    "InputLayer", "Dense", "QDense", "QDenseBatchnorm", "Conv1D", "QConv1D", "Conv2D",
    "QConv2D", "QConv2DBatchnorm", "DepthwiseConv1D", "DepthwiseConv2D", "QDepthwiseConv2D",
    "SeparableConv1D", "SeparableConv2D", "QSeparableConv1D", "QSeparableConv2D",
    "BatchNormalization", "QBatchNormalization", "Activation", "QActivation", "ReLU",
    "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU", "Softmax", "Dropout", "Flatten", "Reshape",
    "Permute", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    "UpSampling1D", "UpSampling2D", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Concatenate", "Dot", "Embedding",
    # HGQ1's proxy model (HGQ.to_proxy_model): HGQ's per-value quantizer
    "FixedPointQuantizer",
}
#: Activation functions (Keras names and QKeras quantizers) the chain converts.
SUPPORTED_ACTIVATIONS = {
    "relu", "linear", "sigmoid", "tanh", "softmax", "elu", "selu", "softsign", "softplus",
    "hard_sigmoid", "leaky_relu", "relu6", "quantized_bits", "quantized_relu", "binary",
    "ternary", "binary_tanh", "quantized_tanh", "quantized_sigmoid", "bernoulli",
}
_RECURRENT = {"SimpleRNN", "LSTM", "GRU", "QSimpleRNN", "QLSTM", "QGRU", "Bidirectional",
              "TimeDistributed", "ConvLSTM2D", "RNN"}
_HINTS = {
    "PruneLowMagnitude": "strip the pruning wrappers first (tfmot strip_pruning)",
    "MultiHeadAttention": "attention layers are not converted by hls4ml's Vitis backend",
}


def _activation_name(layer) -> str | None:
    if type(layer).__name__ == "QActivation":
        quantizer = getattr(layer, "quantizer", None)
        name = getattr(quantizer, "__name__", None) or type(quantizer).__name__
        return str(name)
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", None) or type(activation).__name__


def has_input_quantizer(model) -> bool:
    """Whether the model's first layer is ``QActivation(quantized_bits(...))``."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    return bool(layers) and type(layers[0]).__name__ == "QActivation" and type(
        getattr(layers[0], "quantizer", None)).__name__ == "quantized_bits"


def is_hgq1_model(model) -> bool:
    """Whether ``model`` holds HGQ1 training layers (``HGQ.layers``: HDense, HQuantize, ...)."""
    return any(type(layer).__module__.startswith("HGQ.layers") for layer in model.layers)


def hgq1_proxy(model):
    """HGQ1's proxy model of ``model`` (``HGQ.to_proxy_model``: plain Keras layers with HGQ's
    per-value ``FixedPointQuantizer``), which hls4ml's Keras 2 flow converts. Its bit widths
    come from the ranges ``HGQ.trace_minmax`` recorded on the training data."""
    from HGQ import to_proxy_model

    try:
        proxy = to_proxy_model(model)
    except AssertionError as exc:      # HGQ's own check: no traced ranges
        raise UnsupportedModelError(
            f"model {model.name!r}: HGQ1 layers without traced ranges (HGQ: {exc}); a saved "
            "HGQ1 training model does not keep them. Run HGQ.trace_minmax(model, x) on the "
            "training data and save HGQ.to_proxy_model(model) (the proxy .h5 is what "
            "export-hls takes)") from exc
    log.info("model %s: HGQ1 layers, converted through HGQ.to_proxy_model (the ranges "
             "trace_minmax recorded)", model.name)
    return proxy


def check_model(model) -> None:
    """Refuse, before hls4ml runs, layers the chain cannot convert, naming the layer and the fix."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers:
        raise UnsupportedModelError(f"model {model.name!r} has no layers")
    for layer in layers:
        cls = type(layer).__name__
        if cls in _RECURRENT:
            raise UnsupportedModelError(
                f"model {model.name!r}: layer {layer.name!r} ({cls}) is recurrent; recurrent "
                "layers are not supported by the firmware chain (emulator and bit-exact ONNX); "
                "unroll it into Dense/Conv1D layers")
        if cls not in SUPPORTED_KERAS:
            hint = _HINTS.get(cls, "supported layers: " + ", ".join(sorted(SUPPORTED_KERAS)))
            raise UnsupportedModelError(
                f"model {model.name!r}: layer {layer.name!r} ({cls}) is not supported by the "
                f"firmware chain; {hint}")
        act = _activation_name(layer)
        if act is not None and act not in SUPPORTED_ACTIVATIONS and cls != "PReLU":
            raise UnsupportedModelError(
                f"model {model.name!r}: layer {layer.name!r} has activation {act!r}; "
                f"supported: {', '.join(sorted(SUPPORTED_ACTIVATIONS))}")
        if cls in ("QDense", "QConv1D", "QConv2D") and getattr(
                layer, "kernel_quantizer_internal", None) is None:
            log.info("layer %s has no kernel quantizer: hls4ml's configured weight precision "
                     "applies", layer.name)


def _type_of(precision) -> str | None:
    text = str(precision)
    try:
        return str(FixedType.parse(text))
    except ValueError:
        return None


def _tensor_owner(hls_model) -> dict[str, str]:
    """Output variable name -> the layer writing it."""
    owner = {}
    for layer in hls_model.get_layers():
        for out in layer.outputs:
            owner[out] = layer.name
    return owner


def _spec_layer(hls_layer, owner: dict[str, str], done: dict[str, SpecLayer]) -> SpecLayer:
    """Translate one hls4ml layer into a :class:`SpecLayer` through the registry."""
    name = hls_layer.name
    cls = hls_layer.class_name
    kind = kinds.for_hls_layer(hls_layer)
    if kind is None:
        act = hls_layer.attributes.get("activation")
        what = f"{cls}" + (f" (activation {act!r})" if act else "")
        raise UnsupportedModelError(
            f"layer {name!r}: hls4ml layer {what} has no kind in the emulator's registry "
            f"(supported kinds: {', '.join(kinds.supported('emulator'))})")
    out_shape = tuple(int(s) for s in hls_layer.get_output_variable().shape)
    types: dict[str, str] = {}
    for key, tvar in hls_layer.types.items():
        if key.startswith("index") or key.endswith("_prec"):
            continue
        parsed = _type_of(tvar.precision)
        if parsed is not None:
            types[key.removesuffix("_t")] = parsed
    result = _type_of(hls_layer.get_output_variable().type.precision)
    if result is None:
        raise UnsupportedModelError(
            f"layer {name!r}: hls4ml gave its output the type "
            f"{hls_layer.get_output_variable().type.precision}, which is not a fixed-point type "
            "of at most 62 bits; set a narrower result precision for it in the hls4ml "
            "configuration (or follow it with QActivation(quantized_bits(...)))")
    types["result"] = result
    arrays: dict[str, np.ndarray] = {}
    for key, weight in hls_layer.weights.items():
        wtype = _type_of(weight.type.precision)
        if wtype is None:
            raise UnsupportedModelError(f"layer {name!r}: {key} type {weight.type.precision} "
                                        "is not a fixed-point type the emulator reads")
        types[key] = wtype
        arrays[key] = FixedType.parse(wtype).quantize(np.asarray(weight.data, dtype=np.float64))
    inputs = [owner[v] for v in hls_layer.inputs] if cls != "Input" else []
    producers = [done[n] for n in inputs]
    input_shape = producers[0].output_shape if producers else out_shape
    layer = SpecLayer(name=name, kind=kind.kind, input_shape=tuple(input_shape),
                      output_shape=out_shape, types=types, params={}, arrays=arrays,
                      inputs=inputs)
    cpp = {"config": str(hls_layer.attributes.get("config_cpp") or ""),
           "function": str(hls_layer.attributes.get("function_cpp") or ""),
           "input_types": [p.fixed("result") for p in producers],
           "input_shapes": [p.output_shape for p in producers]}
    try:
        kind.read(hls_layer, layer, cpp)
    except (KeyError, ValueError, TypeError) as exc:
        raise UnsupportedModelError(f"layer {name!r} ({cls}): cannot read it as a "
                                    f"{kind.kind} layer ({type(exc).__name__}: {exc})") from exc
    return layer


def spec_from_hls_model(hls_model, name: str, settings: dict[str, Any],
                        features: dict[str, Any] | None = None) -> FirmwareSpec:
    """Read the FirmwareSpec (a graph) from a converted hls4ml ModelGraph."""
    owner = _tensor_owner(hls_model)
    done: dict[str, SpecLayer] = {}
    layers: list[SpecLayer] = []
    for hls_layer in hls_model.get_layers():
        layer = _spec_layer(hls_layer, owner, done)
        done[layer.name] = layer
        layers.append(layer)
    inputs = [owner.get(v, v) for v in hls_model.inputs]
    outputs = [owner.get(v, v) for v in hls_model.outputs]
    spec = FirmwareSpec(name=name, layers=layers, settings=settings, inputs=inputs,
                        outputs=outputs, features=dict(features or {}))
    spec.validate(f"firmware {name!r}")
    return spec


@dataclass
class HLSFirmware:
    """A converted model: the HLS project on disk, the hls4ml ModelGraph and the FirmwareSpec."""

    output_dir: Path
    project_name: str
    spec: FirmwareSpec
    hls_model: Any = field(repr=False)
    compiled: bool = False

    def compile(self) -> None:
        """Build the C-simulation library with g++ (hls4ml ``compile``)."""
        if shutil.which("g++") is None:
            from triginfer.errors import TrigInferError

            raise TrigInferError("g++ not found on PATH; install it (apt-get install g++) "
                                 "to build the C simulation")
        t0 = time.perf_counter()
        self.hls_model.compile()
        self.compiled = True
        log.info("compiled the C simulation of %s in %.1f s", self.project_name,
                 time.perf_counter() - t0)

    def csim_predict(self, x, chunk: int = 50_000, progress: bool = False):
        """Run the C simulation; each output as ``(n_events, n_values)`` float64.

        ``x`` as :meth:`Emulator.predict <triginfer.emulation.Emulator.predict>` takes it
        (an array, or a list/dict for several inputs); several outputs come back as a list.
        Inputs are passed as float64 so hls4ml uses its double interface (exact for
        every type up to 53 bits).
        """
        from tqdm.auto import tqdm

        spec = self.spec
        if isinstance(x, dict):
            arrays = [np.asarray(x[name]) for name in spec.inputs]
        elif isinstance(x, list | tuple):
            arrays = [np.asarray(a) for a in x]
        else:
            arrays = [np.asarray(x)]
        if len(arrays) != len(spec.inputs):
            raise ShapeError(f"{self.project_name}: {len(arrays)} inputs given, the firmware "
                             f"takes {len(spec.inputs)}")
        for a, shape in zip(arrays, spec.input_shapes, strict=True):
            if tuple(a.shape[1:]) != tuple(shape):
                raise ShapeError(f"{self.project_name}: input shape {a.shape[1:]} does not "
                                 f"match the firmware input {shape}")
        if not self.compiled:
            self.compile()
        n = len(arrays[0])
        outs = [np.empty((n, size), dtype=np.float64) for size in spec.output_sizes]
        starts = range(0, n, chunk)
        for start in tqdm(starts, desc="C simulation", unit="chunk",
                          disable=True if not progress else None):
            block = [np.ascontiguousarray(a[start:start + chunk], dtype=np.float64)
                     for a in arrays]
            got = self.hls_model.predict(block if len(block) > 1 else block[0])
            got = got if isinstance(got, list) else [got]
            for out, value in zip(outs, got, strict=True):
                out[start:start + len(block[0])] = np.asarray(value, np.float64).reshape(
                    len(block[0]), -1)
        if len(outs) == 1:
            return outs[0]
        return outs

    def synthesize(self) -> dict[str, Any]:
        """Run vendor HLS synthesis (needs vitis_hls or vivado_hls on PATH); parse the report."""
        from triginfer.hls_export.report import find_csynth_report, hls_tool, parse_csynth_report

        tool = hls_tool()
        if tool is None:
            raise FileNotFoundError("neither vitis_hls nor vivado_hls is on PATH")
        self.hls_model.build(csim=False, synth=True, vsynth=False)
        report = find_csynth_report(self.output_dir, self.project_name)
        return parse_csynth_report(report)


def _project_name(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"m_{cleaned}"


def load_hls_config(hls_config: dict | str | os.PathLike | None) -> dict | None:
    """The user's hls4ml configuration: a dict, or a YAML/JSON file holding one.

    Accepts ``config_from_keras_model``'s form (``Model``, ``LayerName``...) or a
    full hls4ml project configuration holding it under ``HLSConfig``.
    """
    if hls_config is None:
        return None
    if isinstance(hls_config, dict):
        config = hls_config
    else:
        from triginfer.config import read_yaml

        config = read_yaml(hls_config, "hls4ml configuration")
    if not isinstance(config, dict):
        raise ConfigError(f"hls4ml configuration must be a mapping, got {type(config).__name__}")
    config = dict(config.get("HLSConfig", config))
    unknown = set(config) - {"Model", "LayerName", "LayerType", "Flows", "Optimizers",
                             "SkipOptimizers", "WriterConfig", "Backend"}
    if unknown:
        raise ConfigError(f"hls4ml configuration: unknown top-level keys {sorted(unknown)}; "
                          "expected Model, LayerName, LayerType (as config_from_keras_model "
                          "writes them)")
    if "Model" not in config:
        raise ConfigError("hls4ml configuration has no 'Model' section (precision, "
                          "reuse factor, strategy)")
    return config


def default_hls_config(model, backend: str = "Vitis", strategy: str = "Latency",
                       reuse_factor: int = 1) -> dict:
    """hls4ml's configuration for ``model`` at granularity ``name`` (``config_from_keras_model``),
    with the strategy and reuse factor set everywhere: the starting point users edit."""
    if is_hgq1_model(model):
        model = hgq1_proxy(model)
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    config["Model"]["Strategy"] = strategy
    config["Model"]["ReuseFactor"] = int(reuse_factor)
    for layer_cfg in config.get("LayerName", {}).values():
        layer_cfg["ReuseFactor"] = int(reuse_factor)
        layer_cfg["Strategy"] = strategy
    return config


def write_hls_config(model, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`default_hls_config` as YAML (atomically) for a user to edit."""
    import yaml

    path = Path(path)
    config = default_hls_config(model, **kwargs)
    return write_text(path, yaml.safe_dump(config, sort_keys=False))


def _settings_of(hls_model, **extra) -> dict[str, Any]:
    import hls4ml

    cfg = hls_model.config
    model_cfg = cfg.config.get("HLSConfig", {}).get("Model", {})
    return {"backend": str(cfg.get_config_value("Backend") or cfg.backend.name),
            "io_type": str(cfg.get_config_value("IOType")),
            "strategy": str(model_cfg.get("Strategy", "Latency")),
            "reuse_factor": int(model_cfg.get("ReuseFactor", 1)),
            "part": str(cfg.get_config_value("Part")),
            "clock_period_ns": float(cfg.get_config_value("ClockPeriod") or 5.0),
            "project_name": str(cfg.get_project_name()),
            "hls4ml_version": hls4ml.__version__, **extra}


def from_hls_model(hls_model, name: str | None = None,
                   features: dict[str, Any] | None = None, save: bool = True) -> HLSFirmware:
    """Wrap a ModelGraph the user converted with hls4ml: its spec, C simulation and files.

    Writes the HLS project if it is not on disk yet and (``save``) the spec beside it.
    """
    output_dir = Path(hls_model.config.get_output_dir())
    project = hls_model.config.get_project_name()
    if not (output_dir / "firmware" / f"{project}.cpp").exists():
        hls_model.write()
    settings = _settings_of(hls_model, bit_exact=None)
    spec = spec_from_hls_model(hls_model, name or project, settings, features)
    if save:
        spec.save(output_dir)
    return HLSFirmware(output_dir=output_dir, project_name=project, spec=spec,
                       hls_model=hls_model)


def convert(model, output_dir: str | os.PathLike, *, backend: str = "Vitis",
            io_type: str = "io_parallel", strategy: str = "Latency", reuse_factor: int = 1,
            part: str = DEFAULT_PART, clock_period_ns: float = 5.0,
            project_name: str | None = None, hls_config: dict | str | os.PathLike | None = None,
            bit_exact: bool | None = None, features: dict[str, Any] | None = None
            ) -> HLSFirmware:
    """Convert a Keras/QKeras model into an HLS project and its FirmwareSpec.

    ``hls_config``: the user's hls4ml configuration (dict or YAML path, as
    :func:`write_hls_config` writes it); without it, hls4ml's default at granularity
    ``name`` with ``strategy`` and ``reuse_factor``. ``bit_exact``: hls4ml's precision
    propagation; default on when the model starts with an input quantizer. Writes the
    project (firmware sources, ``build_prj.tcl``) and ``firmware_spec.json``/``.npz``
    under ``output_dir``.
    """
    import hls4ml

    if io_type not in ("io_parallel", "io_stream"):
        raise UnsupportedModelError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    if strategy.lower() not in ("latency", "resource"):
        raise UnsupportedModelError(f"strategy must be Latency or Resource, got {strategy!r}")
    if reuse_factor < 1:
        raise UnsupportedModelError(f"reuse_factor must be >= 1, got {reuse_factor}")
    if is_hgq1_model(model):
        model = hgq1_proxy(model)
    check_model(model)
    user_config = load_hls_config(hls_config)
    if bit_exact is None:
        bit_exact = has_input_quantizer(model)
    output_dir = Path(output_dir)
    project = _project_name(project_name or model.name)
    config = user_config or default_hls_config(model, backend, strategy, reuse_factor)
    if user_config is not None:
        strategy = str(config["Model"].get("Strategy", strategy))
        reuse_factor = int(config["Model"].get("ReuseFactor", reuse_factor))
    t0 = time.perf_counter()
    try:
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=str(output_dir), project_name=project,
            backend=backend, io_type=io_type, part=part, clock_period=clock_period_ns,
            bit_exact=bool(bit_exact))
    except Exception as exc:  # hls4ml raises bare Exceptions for unsupported configurations
        if bit_exact and "produce_kif" in str(exc):
            raise UnsupportedModelError(
                f"hls4ml's bit-exact precision propagation cannot handle model {model.name!r} "
                f"({exc}); convert it with bit_exact=False (export-hls --no-bit-exact), which "
                "uses the configuration's precisions") from exc
        raise UnsupportedModelError(
            f"hls4ml could not convert model {model.name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    settings = {"backend": backend, "io_type": io_type, "strategy": strategy,
                "reuse_factor": int(reuse_factor), "part": part,
                "clock_period_ns": float(clock_period_ns), "project_name": project,
                "hls4ml_version": hls4ml.__version__, "bit_exact": bool(bit_exact),
                "user_hls_config": user_config is not None}
    # Read (and so check) the spec before writing anything: a refusal leaves no project.
    spec = spec_from_hls_model(hls_model, model.name, settings, features)
    hls_model.write()
    spec.save(output_dir)
    log.info("converted %s with hls4ml in %.1f s: %s", model.name, time.perf_counter() - t0,
             output_dir)
    return HLSFirmware(output_dir=output_dir, project_name=project, spec=spec,
                       hls_model=hls_model)
