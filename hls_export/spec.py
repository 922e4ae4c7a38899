"""The FirmwareSpec: the one description of what the firmware computes.

Written by :mod:`triginfer.hls_export.converter` from the hls4ml ModelGraph after
its optimizer passes, so it holds exactly what the generated HLS uses: the
ordered layers, their integer weights and biases (mantissas) and the
fixed-point type of every tensor. Everything downstream (emulator, bit-exact
ONNX, latency estimates) reads it; this module imports neither TensorFlow nor
hls4ml.

On disk: ``firmware_spec.json`` (human-readable: layers, shapes, type strings
such as ``fixed<16,6,RND,SAT>``, settings, a schema version) and
``firmware_spec.npz`` (the arrays, keyed ``<layer>/<name>``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.errors import InputFileError
from triginfer.quantization.fixed import FixedType

SCHEMA_VERSION = 1
JSON_NAME = "firmware_spec.json"
NPZ_NAME = "firmware_spec.npz"

#: Layer kinds a FirmwareSpec may hold.
LAYER_KINDS = ("input", "dense", "conv1d", "conv2d", "relu", "linear", "sigmoid", "tanh",
               "softmax", "batchnorm", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d",
               "flatten")


@dataclass
class SpecLayer:
    """One layer of the firmware.

    Attributes:
        name: the hls4ml layer name.
        kind: one of :data:`LAYER_KINDS`.
        input_shape: shape of the layer input, without the batch axis.
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
            "name": self.name, "kind": self.kind,
            "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
            "types": dict(self.types), "params": dict(self.params),
            "arrays": {k: {"shape": list(v.shape), "nonzero": int(np.count_nonzero(v))}
                       for k, v in self.arrays.items()},
        }


@dataclass
class FirmwareSpec:
    """The firmware: settings plus the ordered layers (see the module docstring)."""

    name: str
    layers: list[SpecLayer]
    settings: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def input_layer(self) -> SpecLayer:
        """The input layer (its ``result`` type is the input type)."""
        return self.layers[0]

    @property
    def input_type(self) -> FixedType:
        """Fixed-point type of the firmware input."""
        return self.input_layer.fixed("result")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Input shape without the batch axis."""
        return tuple(self.input_layer.output_shape)

    @property
    def output_type(self) -> FixedType:
        """Fixed-point type of the firmware output."""
        return self.layers[-1].fixed("result")

    @property
    def n_outputs(self) -> int:
        """Number of output values per event."""
        return int(np.prod(self.layers[-1].output_shape))

    def layer(self, name: str) -> SpecLayer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The human-readable JSON document."""
        return {"schema_version": self.schema_version, "name": self.name,
                "settings": self.settings, "input_shape": list(self.input_shape),
                "input_type": str(self.input_type), "output_type": str(self.output_type),
                "layers": [layer.to_json() for layer in self.layers]}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``firmware_spec.json`` and ``firmware_spec.npz`` into ``directory`` atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"{layer.name}/{key}": value for layer in self.layers
                  for key, value in layer.arrays.items()}
        tmp_npz = directory / f".{NPZ_NAME}.tmp.npz"
        np.savez(tmp_npz, **arrays)
        tmp_json = directory / f".{JSON_NAME}.tmp"
        tmp_json.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp_npz, directory / NPZ_NAME)
        os.replace(tmp_json, directory / JSON_NAME)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> FirmwareSpec:
        """Read a spec written by :meth:`save` (imports neither TensorFlow nor hls4ml)."""
        directory = Path(directory)
        json_path, npz_path = directory / JSON_NAME, directory / NPZ_NAME
        for path in (json_path, npz_path):
            if not path.exists():
                raise InputFileError(
                    f"{path}: not found; write a firmware spec with `triginfer export-hls`")
        try:
            doc = json.loads(json_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{json_path}: not valid JSON ({exc})") from exc
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise InputFileError(
                f"{json_path}: schema version {doc.get('schema_version')} is not "
                f"{SCHEMA_VERSION}; re-export the firmware with this triginfer")
        with np.load(npz_path) as npz:
            stored = {k: npz[k] for k in npz.files}
        layers = []
        for entry in doc["layers"]:
            arrays = {k: stored[f"{entry['name']}/{k}"] for k in entry.get("arrays", {})}
            layers.append(SpecLayer(name=entry["name"], kind=entry["kind"],
                                    input_shape=tuple(entry["input_shape"]),
                                    output_shape=tuple(entry["output_shape"]),
                                    types=dict(entry["types"]), params=dict(entry["params"]),
                                    arrays=arrays))
        return cls(name=doc["name"], layers=layers, settings=doc.get("settings", {}),
                   schema_version=doc["schema_version"])
