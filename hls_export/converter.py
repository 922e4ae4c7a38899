"""hls4ml conversion of a QKeras model into a bit-exact HLS project, C simulation and FirmwareSpec.

:func:`convert` checks the model (an input quantizer first; only layers that
hls4ml converts bit-exactly and the emulator implements), converts it with
hls4ml (granularity ``name``, ``bit_exact=True``), writes the HLS project
(firmware sources and ``build_prj.tcl``) and reads the FirmwareSpec from the
converted ModelGraph after its optimizer passes. :class:`HLSFirmware` then
compiles the C simulation with g++ and runs it.
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

from triginfer.errors import ShapeError, UnsupportedModelError
from triginfer.hls_export.spec import FirmwareSpec, SpecLayer
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

#: Keras layer classes the chain supports (hls4ml bit-exact and the emulator).
SUPPORTED_KERAS = {
    "InputLayer", "QActivation", "Activation", "ReLU", "QDense", "QConv1D", "QConv2D",
    "QBatchNormalization", "Flatten", "Dropout", "MaxPooling1D", "MaxPooling2D",
    "AveragePooling1D", "AveragePooling2D",
}
SUPPORTED_ACTIVATIONS = {"relu", "linear", "sigmoid", "tanh", "softmax"}
SUPPORTED_QUANTIZERS = {"quantized_bits", "quantized_relu"}
_HINTS = {
    "Dense": "use qkeras.QDense with kernel and bias quantizers",
    "Conv1D": "use qkeras.QConv1D with kernel and bias quantizers",
    "Conv2D": "use qkeras.QConv2D with kernel and bias quantizers",
    "BatchNormalization": "use qkeras.QBatchNormalization",
    "PruneLowMagnitude": "strip the pruning wrappers first (tfmot strip_pruning)",
}


def check_model(model) -> None:
    """Refuse models the firmware chain cannot make bit-exact, naming the layer and the fix."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers:
        raise UnsupportedModelError(f"model {model.name!r} has no layers")
    first = layers[0]
    quantizer = getattr(first, "quantizer", None)
    if type(first).__name__ != "QActivation" or type(quantizer).__name__ != "quantized_bits":
        raise UnsupportedModelError(
            f"model {model.name!r}: the first layer {first.name!r} ({type(first).__name__}) is "
            "not an input quantizer; start the model with "
            "QActivation(quantized_bits(bits, integer, alpha=1)) so the firmware input type is "
            "defined and conversion is bit-exact")
    for layer in layers:
        cls = type(layer).__name__
        if cls not in SUPPORTED_KERAS:
            hint = _HINTS.get(cls, "supported layers: " + ", ".join(sorted(SUPPORTED_KERAS)))
            raise UnsupportedModelError(
                f"model {model.name!r}: layer {layer.name!r} ({cls}) is not supported by the "
                f"bit-exact firmware chain; {hint}")
        activation = getattr(layer, "activation", None)
        act_name = getattr(activation, "__name__", None) or type(activation).__name__
        if cls == "QActivation":
            qname = type(layer.quantizer).__name__
            if qname not in SUPPORTED_QUANTIZERS:
                raise UnsupportedModelError(
                    f"model {model.name!r}: layer {layer.name!r} uses quantizer {qname}; "
                    f"supported: {sorted(SUPPORTED_QUANTIZERS)}")
        elif activation is not None and act_name not in SUPPORTED_ACTIVATIONS:
            raise UnsupportedModelError(
                f"model {model.name!r}: layer {layer.name!r} has activation {act_name!r}; "
                f"supported: {sorted(SUPPORTED_ACTIVATIONS)} (or a QActivation layer)")
        for attr in ("kernel_quantizer_internal", "bias_quantizer_internal"):
            if cls in ("QDense", "QConv1D", "QConv2D") and getattr(layer, attr, None) is None:
                raise UnsupportedModelError(
                    f"model {model.name!r}: layer {layer.name!r} has no "
                    f"{attr.split('_')[0]} quantizer; give it quantized_bits(...)")


def _type_of(precision) -> str | None:
    text = str(precision)
    try:
        return str(FixedType.parse(text))
    except ValueError:
        return None


_ACTIVATION_KINDS = {"relu": "relu", "linear": "linear", "sigmoid": "sigmoid", "tanh": "tanh",
                     "softmax": "softmax"}


def _spec_layer(layer, input_shape: tuple[int, ...]) -> SpecLayer:
    """Translate one hls4ml layer into a :class:`SpecLayer`."""
    cls = layer.class_name
    name = layer.name
    attrs = layer.attributes
    out_shape = tuple(int(s) for s in layer.get_output_variable().shape)
    types: dict[str, str] = {}
    for key, tvar in layer.types.items():
        if key.startswith("index"):
            continue
        parsed = _type_of(tvar.precision)
        if parsed is not None:
            types[key.removesuffix("_t")] = parsed
    result = _type_of(layer.get_output_variable().type.precision)
    if result is None:
        raise UnsupportedModelError(
            f"layer {name!r}: hls4ml gave its output the type "
            f"{layer.get_output_variable().type.precision}, which is not a fixed-point type of at "
            "most 62 bits; follow the layer with QActivation(quantized_bits(bits, integer)) to "
            "bound its precision")
    types["result"] = result
    params: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, weight in layer.weights.items():
        wtype = _type_of(weight.type.precision)
        if wtype is None:
            raise UnsupportedModelError(f"layer {name!r}: {key} type {weight.type.precision} "
                                        "is not fixed-point")
        types[key] = wtype
        arrays[key] = FixedType.parse(wtype).quantize(np.asarray(weight.data, dtype=np.float64))

    if cls == "Input":
        kind = "input"
    elif cls == "Dense":
        kind = "dense"
        params = {"n_in": int(attrs["n_in"]), "n_out": int(attrs["n_out"])}
    elif cls == "Conv1D":
        kind = "conv1d"
        params = {k: int(attrs[k]) for k in ("in_width", "n_chan", "n_filt", "filt_width",
                                              "stride_width", "pad_left", "pad_right",
                                              "out_width")}
        if attrs.get("n_partitions") is not None:
            params["n_partitions"] = int(attrs["n_partitions"])
    elif cls == "Conv2D":
        kind = "conv2d"
        params = {k: int(attrs[k]) for k in (
            "in_height", "in_width", "n_chan", "n_filt", "filt_height", "filt_width",
            "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left", "pad_right",
            "out_height", "out_width")}
        if attrs.get("n_partitions") is not None:
            params["n_partitions"] = int(attrs["n_partitions"])
    elif cls in ("Activation", "ReLU", "QActivation"):
        act = str(attrs.get("activation", "relu")).lower()
        if act not in _ACTIVATION_KINDS:
            raise UnsupportedModelError(f"layer {name!r}: activation {act!r} is not supported "
                                        f"by the emulator; use one of {sorted(_ACTIVATION_KINDS)}")
        kind = _ACTIVATION_KINDS[act]
        if kind == "softmax":
            raise UnsupportedModelError(
                f"layer {name!r}: softmax is not supported by the emulator yet; for a "
                "regression or binary output use sigmoid, or drop the softmax (argmax of the "
                "logits is the same)")
        if kind in ("sigmoid", "tanh"):
            size = int(attrs.get("table_size", 1024))
            params["table_size"] = size
            params["table_range"] = TABLE_RANGE[kind]
            arrays["table"] = activation_table(kind, size, FixedType.parse(types["table"]))
    elif cls == "BatchNormalization":
        kind = "batchnorm"
    elif cls in ("Pooling1D", "Pooling2D"):
        op = str(attrs.get("pool_op", "Max")).lower()
        kind = ("maxpool" if op == "max" else "avgpool") + ("1d" if cls == "Pooling1D" else "2d")
        params = {k: int(v) for k, v in attrs.items()
                  if k.startswith(("pool_", "stride_", "pad_", "in_", "out_", "n_"))
                  and isinstance(v, int | np.integer)}
    elif cls in ("Reshape", "Flatten"):
        kind = "flatten"
    else:
        raise UnsupportedModelError(
            f"layer {name!r}: hls4ml layer class {cls} is not supported by the emulator")
    return SpecLayer(name=name, kind=kind, input_shape=input_shape, output_shape=out_shape,
                     types=types, params=params, arrays=arrays)


#: Input range covered by hls4ml's lookup tables (sigmoid: [-8, 8), tanh: [-4, 4)).
TABLE_RANGE = {"sigmoid": 16, "tanh": 8}


def activation_table(kind: str, size: int, table_type: FixedType) -> np.ndarray:
    """Mantissas of hls4ml's sigmoid/tanh lookup table, as its C++ initialiser fills it.

    ``in_val`` is a C ``float``; sigmoid is ``1.0 / (1 + std::exp(-in_val))`` with a
    float exponential and sum and a double division, stored through a float; tanh is
    the double ``tanh``; both are then converted to ``table_t``.
    """
    index = np.arange(size, dtype=np.float64)
    half_range = TABLE_RANGE[kind] / 2.0
    in_val = (2 * half_range * (index - size / 2.0) / size).astype(np.float32)
    if kind == "sigmoid":
        exp = np.exp(-in_val.astype(np.float64)).astype(np.float32)
        value = (1.0 / (np.float32(1.0) + exp).astype(np.float64)).astype(np.float32)
    else:
        value = np.tanh(in_val.astype(np.float64))
    return table_type.quantize(value.astype(np.float64))


def spec_from_hls_model(hls_model, name: str, settings: dict[str, Any]) -> FirmwareSpec:
    """Read the FirmwareSpec from a converted hls4ml ModelGraph."""
    layers: list[SpecLayer] = []
    shape: tuple[int, ...] = ()
    for layer in hls_model.get_layers():
        spec_layer = _spec_layer(layer, shape)
        if spec_layer.kind == "input":
            spec_layer.input_shape = spec_layer.output_shape
        layers.append(spec_layer)
        shape = spec_layer.output_shape
    return FirmwareSpec(name=name, layers=layers, settings=settings)


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

    def csim_predict(self, x: np.ndarray, chunk: int = 50_000, progress: bool = False
                     ) -> np.ndarray:
        """Run the C simulation; always returns ``(n_events, n_outputs)`` float64.

        Inputs are passed as float64 so hls4ml uses its double interface (exact for
        every type up to 53 bits).
        """
        from tqdm.auto import tqdm

        x = np.asarray(x)
        if x.shape[1:] != self.spec.input_shape:
            raise ShapeError(f"{self.project_name}: input shape {x.shape[1:]} does not match "
                             f"the firmware input {self.spec.input_shape}")
        if not self.compiled:
            self.compile()
        n_out = self.spec.n_outputs
        out = np.empty((len(x), n_out), dtype=np.float64)
        starts = range(0, len(x), chunk)
        for start in tqdm(starts, desc="C simulation", unit="chunk",
                          disable=True if not progress else None):
            block = np.ascontiguousarray(x[start:start + chunk], dtype=np.float64)
            out[start:start + len(block)] = np.asarray(
                self.hls_model.predict(block), dtype=np.float64).reshape(len(block), n_out)
        return out

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


def convert(model, output_dir: str | os.PathLike, *, backend: str = "Vitis",
            io_type: str = "io_parallel", strategy: str = "Latency", reuse_factor: int = 1,
            part: str = "xcvu13p-flga2577-2-e", clock_period_ns: float = 5.0,
            project_name: str | None = None) -> HLSFirmware:
    """Convert a QKeras model into a bit-exact HLS project and its FirmwareSpec.

    Writes the project (firmware sources, ``build_prj.tcl``) and
    ``firmware_spec.json``/``.npz`` under ``output_dir``.
    """
    import hls4ml

    if io_type not in ("io_parallel", "io_stream"):
        raise UnsupportedModelError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    if strategy.lower() not in ("latency", "resource"):
        raise UnsupportedModelError(f"strategy must be Latency or Resource, got {strategy!r}")
    if reuse_factor < 1:
        raise UnsupportedModelError(f"reuse_factor must be >= 1, got {reuse_factor}")
    check_model(model)
    if any(type(layer).__name__ == "QBatchNormalization" for layer in model.layers):
        log.warning("model %s: hls4ml's batch normalization is not bit-exact with QKeras's "
                    "QBatchNormalization (which computes in float); the emulator matches the "
                    "firmware, not QKeras", model.name)
    output_dir = Path(output_dir)
    project = _project_name(project_name or model.name)
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    config["Model"]["Strategy"] = strategy
    config["Model"]["ReuseFactor"] = int(reuse_factor)
    for layer_cfg in config.get("LayerName", {}).values():
        layer_cfg["ReuseFactor"] = int(reuse_factor)
        layer_cfg["Strategy"] = strategy
    t0 = time.perf_counter()
    try:
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=str(output_dir), project_name=project,
            backend=backend, io_type=io_type, part=part, clock_period=clock_period_ns,
            bit_exact=True)
    except Exception as exc:  # hls4ml raises bare Exceptions for unsupported configurations
        raise UnsupportedModelError(f"hls4ml could not convert model {model.name!r}: {exc}") from exc
    hls_model.write()
    settings = {"backend": backend, "io_type": io_type, "strategy": strategy,
                "reuse_factor": int(reuse_factor), "part": part,
                "clock_period_ns": float(clock_period_ns), "project_name": project,
                "hls4ml_version": hls4ml.__version__}
    spec = spec_from_hls_model(hls_model, model.name, settings)
    spec.save(output_dir)
    log.info("converted %s with hls4ml in %.1f s: %s", model.name, time.perf_counter() - t0,
             output_dir)
    return HLSFirmware(output_dir=output_dir, project_name=project, spec=spec,
                       hls_model=hls_model)
