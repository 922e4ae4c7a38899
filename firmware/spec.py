"""The FirmwareSpec: the one description of what the firmware computes.

Written by :mod:`triginfer.hls_export.converter` from the hls4ml ModelGraph after
its optimizer passes, so it holds exactly what the generated HLS uses: a graph
of layers (each names the tensors it reads; every layer writes one tensor
named after it), their integer weights and biases (mantissas) and the
fixed-point type of every tensor. The spec names its input layers and its
output tensors (several of each for graph models); the layers are stored in
topological order. Everything downstream (emulator, bit-exact ONNX, latency
estimates) walks that graph; this module imports neither TensorFlow nor
hls4ml. What each layer kind means is defined once, in the layer-kind
registry (:mod:`triginfer.firmware.kinds`).

On disk: ``firmware_spec.json`` (human-readable: layers, shapes, type strings
such as ``fixed<16,6,RND,SAT>``, settings, inputs/outputs, the feature set the
inputs are, a schema version) and ``firmware_spec.npz`` (the arrays, keyed
``<layer>/<name>``). Schema version 1 files (a chain of layers) still load.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.atomic import atomic_path
from triginfer.errors import InputFileError, TrigInferError
from triginfer.quantization.fixed import FixedType

#: What a malformed spec can raise inside a kind's own code (a bug is never hidden: a spec
#: that hls4ml wrote passes validation and the zoo tests run every kind on every target).
SPEC_FAULTS = (KeyError, ValueError, IndexError, TypeError, OverflowError, ZeroDivisionError,
               AttributeError, MemoryError)


@contextlib.contextmanager
def layer_guard(spec_name: str, layer, target: str) -> Iterator[None]:
    """Turn an exception a malformed layer raises in ``target``'s code (the emulator, the
    generated engine, the ONNX builder, ...) into a one-line :class:`InputFileError` naming
    the layer, so a corrupt or hostile spec never escapes as a traceback."""
    try:
        yield
    except TrigInferError:
        raise
    except SPEC_FAULTS as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InputFileError(
            f"firmware {spec_name!r}: layer {layer.name!r} ({layer.kind}) is inconsistent "
            f"({target}: {type(exc).__name__}: {first}); re-export the firmware") from exc


SCHEMA_VERSION = 2
#: The most values one tensor may hold per event (a trigger firmware holds thousands).
MAX_TENSOR_VALUES = 1 << 20
#: Schema versions :meth:`FirmwareSpec.load` reads (1: a chain of layers).
READABLE_SCHEMAS = (1, 2)
JSON_NAME = "firmware_spec.json"
NPZ_NAME = "firmware_spec.npz"


@dataclass
class SpecLayer:
    """One layer of the firmware.

    Attributes:
        name: the hls4ml layer name (also the name of the tensor it writes).
        kind: a kind of the layer-kind registry (:mod:`triginfer.firmware.kinds`).
        input_shape: shape of the (first) layer input, without the batch axis.
        output_shape: shape of the layer output, without the batch axis.
        types: tensor -> fixed-point type string (``result``, ``accum``, ``weight``,
            ``bias``, ``table``, ``scale``...), as the generated HLS declares them.
        params: layer parameters (strides, padding, table size, ...).
        arrays: integer arrays: mantissas of ``weight``/``bias``/``scale`` in their
            types, table contents.
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    types: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: Names of the tensors this layer reads (empty for an input layer).
    inputs: list[str] = field(default_factory=list)

    def fixed(self, tensor: str) -> FixedType:
        """The :class:`FixedType` of one of this layer's tensors."""
        return FixedType.parse(self.types[tensor])

    @property
    def output_positions(self) -> int:
        """Output positions a convolution computes (1 for every other layer)."""
        if self.kind == "conv1d":
            return int(self.params["out_width"])
        if self.kind == "conv2d":
            return int(self.params["out_height"] * self.params["out_width"])
        return 1

    def real(self, array: str) -> np.ndarray:
        """An array's real values (mantissa times its type's LSB)."""
        return self.fixed(array).to_float(self.arrays[array])

    def to_json(self) -> dict[str, Any]:
        """JSON form (arrays described by shape and non-zero count, stored in the NPZ)."""
        return {
            "name": self.name, "kind": self.kind, "inputs": list(self.inputs),
            "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
            "types": dict(self.types), "params": dict(self.params),
            "arrays": {k: {"shape": list(v.shape), "nonzero": int(np.count_nonzero(v))}
                       for k, v in self.arrays.items()},
        }


@dataclass
class FirmwareSpec:
    """The firmware: settings plus a graph of layers in topological order (see the module docstring).

    ``inputs`` names the input layers, ``outputs`` the tensors the firmware returns
    (both default to a chain: the first layer in, the last layer out).
    ``features`` says what the inputs are: ``{"set": "muon_engineered"}`` for a
    feature set the project computes, ``{"columns": [...]}`` for named columns of a
    user's file, or empty when unknown.
    """

    name: str
    layers: list[SpecLayer]
    settings: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            return
        # A chain unless told otherwise (schema v1, hand-built specs).
        for prev, layer in zip(self.layers, self.layers[1:], strict=False):
            if not layer.inputs and layer.kind != "input":
                layer.inputs = [prev.name]
        if not self.inputs:
            self.inputs = [layer.name for layer in self.layers if layer.kind == "input"] or [
                self.layers[0].name]
        if not self.outputs:
            self.outputs = [self.layers[-1].name]

    # --- graph ---------------------------------------------------------------------------
    @property
    def input_layers(self) -> list[SpecLayer]:
        """The input layers, in the order the firmware takes its inputs."""
        return [self.layer(name) for name in self.inputs]

    @property
    def output_layers(self) -> list[SpecLayer]:
        """The layers whose tensors are the firmware outputs, in order."""
        return [self.layer(name) for name in self.outputs]

    def producers(self, layer: SpecLayer) -> list[SpecLayer]:
        """The layers whose tensors ``layer`` reads."""
        return [self.layer(name) for name in layer.inputs]

    def check_graph(self) -> None:
        """Raise ``ValueError`` unless every layer reads tensors written earlier (topological
        order), names are unique, and the inputs/outputs name existing layers."""
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise ValueError(f"layer name {layer.name!r} appears twice")
            missing = [name for name in layer.inputs if name not in seen]
            if missing:
                raise ValueError(f"layer {layer.name!r} reads {missing}, which no earlier layer "
                                 "writes")
            if layer.kind != "input" and not layer.inputs:
                raise ValueError(f"layer {layer.name!r} reads no tensor")
            seen.add(layer.name)
        for role, names in (("input", self.inputs), ("output", self.outputs)):
            if not names:
                raise ValueError(f"the spec names no {role}")
            for name in names:
                if name not in seen:
                    raise ValueError(f"{role} {name!r} is not a layer of the spec")
        for name in self.inputs:
            if self.layer(name).kind != "input":
                raise ValueError(f"input {name!r} is a {self.layer(name).kind} layer, not an "
                                 "input layer")
        for role, names in (("input", self.inputs), ("output", self.outputs)):
            if len(set(names)) != len(names):
                raise ValueError(f"the spec names {role} {names}, with repeats")
        for name in self.outputs:
            if self.layer(name).kind == "input":
                raise ValueError(f"output {name!r} is an input layer (the firmware would "
                                 "compute nothing)")
        declared = set(self.inputs)
        stray = [layer.name for layer in self.layers if layer.kind == "input"
                 and layer.name not in declared]
        if stray:
            raise ValueError(f"input layers {stray} are not among the spec's inputs "
                             f"{self.inputs}")

    # --- inputs and outputs (the first ones, for single-input/output models) ------------
    @property
    def input_layer(self) -> SpecLayer:
        """The (first) input layer (its ``result`` type is the input type)."""
        return self.layer(self.inputs[0])

    @property
    def input_type(self) -> FixedType:
        """Fixed-point type of the (first) firmware input."""
        return self.input_layer.fixed("result")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the (first) input without the batch axis."""
        return tuple(self.input_layer.output_shape)

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of every input, without the batch axis."""
        return [tuple(layer.output_shape) for layer in self.input_layers]

    @property
    def output_type(self) -> FixedType:
        """Fixed-point type of the (first) firmware output."""
        return self.output_layers[0].fixed("result")

    @property
    def output_types(self) -> list[FixedType]:
        """Fixed-point type of every output."""
        return [layer.fixed("result") for layer in self.output_layers]

    @property
    def n_outputs(self) -> int:
        """Number of values per event of the (first) output."""
        return int(np.prod(self.output_layers[0].output_shape))

    @property
    def output_sizes(self) -> list[int]:
        """Number of values per event of every output."""
        return [int(np.prod(layer.output_shape)) for layer in self.output_layers]

    @property
    def multi_io(self) -> bool:
        """True when the firmware has several inputs or several outputs."""
        return len(self.inputs) > 1 or len(self.outputs) > 1

    def layer(self, name: str) -> SpecLayer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The human-readable JSON document."""
        return {"schema_version": self.schema_version, "name": self.name,
                "settings": self.settings, "inputs": list(self.inputs),
                "outputs": list(self.outputs), "features": dict(self.features),
                "input_shape": list(self.input_shape),
                "input_type": str(self.input_type), "output_type": str(self.output_type),
                "layers": [layer.to_json() for layer in self.layers]}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``firmware_spec.json`` and ``firmware_spec.npz`` into ``directory`` atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"{layer.name}/{key}": value for layer in self.layers
                  for key, value in layer.arrays.items()}
        # the arrays are renamed into place first, then the JSON that names them
        with atomic_path(directory / JSON_NAME) as tmp_json, \
                atomic_path(directory / NPZ_NAME) as tmp_npz:
            np.savez(tmp_npz, **arrays)
            tmp_json.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> FirmwareSpec:
        """Read a spec written by :meth:`save` (imports neither TensorFlow nor hls4ml).

        Checks what a corrupt or hand-edited directory can get wrong (a layer, an
        array or a key missing, a bad type string, an array of the wrong shape, a
        layer kind this triginfer does not know, a broken graph) and raises
        :class:`~triginfer.errors.InputFileError` naming the file and the layer.
        """
        directory = Path(directory)
        json_path, npz_path = directory / JSON_NAME, directory / NPZ_NAME
        if not json_path.exists() and (directory / "bdt_spec.json").exists():
            raise InputFileError(
                f"{directory}: holds BDT firmware (bdt_spec.json); this command takes network "
                "firmware (firmware_spec.json); BDT firmware runs with `triginfer emulate`")
        for path in (json_path, npz_path):
            if not path.exists():
                raise InputFileError(
                    f"{path}: not found; write a firmware spec with `triginfer export-hls`")
        try:
            doc = json.loads(json_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{json_path}: not valid JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("schema_version") not in READABLE_SCHEMAS:
            version = doc.get("schema_version") if isinstance(doc, dict) else None
            raise InputFileError(
                f"{json_path}: schema version {version} is not one of {READABLE_SCHEMAS}; "
                "re-export the firmware with this triginfer")
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                stored = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile/pickle/OS errors of a corrupt file
            raise InputFileError(f"{npz_path}: not a readable NPZ of plain arrays ({exc}); "
                                 "re-export the firmware") from exc
        layers = []
        try:
            for entry in doc["layers"]:
                name = entry["name"]
                for key in entry.get("arrays", {}):
                    if f"{name}/{key}" not in stored:
                        raise InputFileError(f"{npz_path}: array {key!r} of layer {name!r} is "
                                             "missing; re-export the firmware")
                arrays = {k: stored[f"{name}/{k}"] for k in entry.get("arrays", {})}
                for key, meta in entry.get("arrays", {}).items():
                    if list(arrays[key].shape) != list(meta.get("shape", arrays[key].shape)):
                        raise InputFileError(
                            f"{npz_path}: array {key!r} of layer {name!r} has shape "
                            f"{list(arrays[key].shape)}, the spec says {meta['shape']}; "
                            "re-export the firmware")
                layers.append(SpecLayer(
                    name=name, kind=entry["kind"],
                    input_shape=tuple(int(v) for v in entry["input_shape"]),
                    output_shape=tuple(int(v) for v in entry["output_shape"]),
                    types=dict(entry["types"]), params=dict(entry["params"]), arrays=arrays,
                    inputs=list(entry.get("inputs", []))))
            spec = cls(name=doc["name"], layers=layers, settings=doc.get("settings", {}),
                       schema_version=SCHEMA_VERSION, inputs=list(doc.get("inputs", [])),
                       outputs=list(doc.get("outputs", [])),
                       features=dict(doc.get("features", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputFileError(f"{json_path}: malformed firmware spec ({type(exc).__name__}: "
                                 f"{exc}); re-export the firmware") from exc
        spec.validate(json_path)
        return spec

    def validate(self, where: str | os.PathLike = "firmware spec") -> None:
        """Check the graph, every type string and every layer against its kind's rules.

        Raises :class:`~triginfer.errors.InputFileError` naming ``where`` and the layer.
        """
        from triginfer.firmware.kinds import registry

        if not self.layers:
            raise InputFileError(f"{where}: the spec has no layers; re-export the firmware")
        try:
            self.check_graph()
        except ValueError as exc:
            raise InputFileError(f"{where}: {exc}; re-export the firmware") from exc
        for layer in self.layers:
            for tensor, text in layer.types.items():
                try:
                    t = FixedType.parse(text)
                except ValueError as exc:
                    raise InputFileError(f"{where}: layer {layer.name!r}: type of {tensor!r} "
                                         f"is {text!r}, not a fixed-point type ({exc})") from exc
                if not -64 <= t.frac <= 128 or t.integer > 62:
                    raise InputFileError(
                        f"{where}: layer {layer.name!r}: type of {tensor!r} is {text!r}: an LSB "
                        "beyond 2**-128..2**64 or values beyond 2**62, which no firmware uses "
                        "(hls4ml's widest: 32 integer bits, LSBs 2**-126..2**30); re-export "
                        "the firmware")
            if "result" not in layer.types:
                raise InputFileError(f"{where}: layer {layer.name!r} has no result type")
            for role, shape in (("input", layer.input_shape), ("output", layer.output_shape)):
                if not all(isinstance(v, int | np.integer) and v > 0 for v in shape):
                    raise InputFileError(f"{where}: layer {layer.name!r}: {role} shape "
                                         f"{list(shape)} is not a list of positive sizes")
                if math.prod(int(v) for v in shape) > MAX_TENSOR_VALUES:
                    raise InputFileError(f"{where}: layer {layer.name!r}: {role} shape "
                                         f"{list(shape)} holds more than {MAX_TENSOR_VALUES} "
                                         "values per event, far beyond any L1 firmware")
            if len(layer.inputs) == 1:
                source = self.layer(layer.inputs[0])
                if np.prod(source.output_shape) != np.prod(layer.input_shape):
                    raise InputFileError(
                        f"{where}: layer {layer.name!r} reads {source.name!r} as shape "
                        f"{list(layer.input_shape)}, but {source.name!r} writes "
                        f"{list(source.output_shape)}; re-export the firmware")
            for key, value in layer.params.items():
                if isinstance(value, int) and abs(value) > MAX_TENSOR_VALUES:
                    raise InputFileError(f"{where}: layer {layer.name!r}: parameter {key!r} is "
                                         f"{value}, beyond any L1 firmware's sizes; re-export "
                                         "the firmware")
                if (key.endswith("_size") or key.startswith("n_")) and (
                        isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    raise InputFileError(f"{where}: layer {layer.name!r}: parameter {key!r} is "
                                         f"{value!r}, not a positive integer; re-export the "
                                         "firmware")
            for key, array in layer.arrays.items():
                _check_array(where, layer, key, array)
            kind = registry().get(layer.kind)
            if kind is None:
                raise InputFileError(
                    f"{where}: layer {layer.name!r} has kind {layer.kind!r}, which this "
                    f"triginfer does not know (known: {', '.join(sorted(registry()))})")
            try:
                kind.validate(layer, [self.layer(n) for n in layer.inputs])
            except SPEC_FAULTS as exc:
                raise InputFileError(f"{where}: layer {layer.name!r} ({layer.kind}): "
                                     f"{exc}; re-export the firmware") from exc


def _check_array(where, layer: SpecLayer, key: str, array: np.ndarray) -> None:
    """A stored array holds finite numbers; one named after a type of its layer (``weight``,
    ``bias``, ...) holds that type's integer mantissas, within its range."""
    def bad(what: str) -> InputFileError:
        return InputFileError(f"{where}: layer {layer.name!r}: array {key!r} {what}; "
                              "re-export the firmware")

    if array.dtype.kind not in "biuf":
        raise bad(f"has dtype {array.dtype}, not numbers")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise bad("holds NaN or inf")
    if key not in layer.types or array.size == 0:
        return
    if array.dtype.kind == "f" and (array != np.rint(array)).any():
        raise bad(f"holds fractional values; it stores the integer mantissas of "
                  f"{layer.types[key]}")
    t = FixedType.parse(layer.types[key])
    lo, hi = array.min(), array.max()
    if lo < t.min_mantissa or hi > t.max_mantissa:
        raise bad(f"holds mantissas {lo}..{hi}, outside {t.min_mantissa}..{t.max_mantissa} "
                  f"of {layer.types[key]}")
