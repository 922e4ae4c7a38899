"""Model files read as data: the checks that run before any framework deserialises a user's file.

Every model file a user hands over is untrusted (it may come from a collaborator
by e-mail or from a shared disk). Loading a Keras ``.h5`` builds its ``Lambda``
layers, which runs their marshalled Python code; a Keras 3 ``.keras`` archive can
name any importable module in its config; a pickled PyTorch module runs pickled
code. So before Keras sees a file, :func:`check_keras_file` reads the model's JSON
config straight from the file (the ``model_config`` attribute of an HDF5 file with
h5py, or ``config.json`` inside a ``.keras`` zip archive) and refuses, naming the
layer:

- layers that carry code: ``Lambda``, ``TFOpLambda``, ``SlicingOpLambda`` (a
  TensorFlow function looked up by name), Keras 3's ``__lambda__`` objects;
- any serialized function (a ``function_type`` or marshalled-bytecode entry);
- Keras 3 objects whose ``module`` lies outside Keras, QKeras and HGQ, so no
  other module is imported while the file is read.

Only then is the file loaded (``.keras`` archives with ``safe_mode=True``).
SavedModel directories are refused: their graph is TensorFlow code and their
Keras metadata is not a file format we can check; save the model as ``.h5`` or
``.keras``. :func:`check_onnx_external_data` keeps an ONNX model's external
tensors inside the model's own directory.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triginfer.errors import InputFileError, UnsupportedModelError

#: Layer / object classes whose config carries code that deserialising would run or look up.
CODE_CLASSES = {
    "Lambda": "its Python code runs when the model is loaded",
    "TFOpLambda": "it calls a TensorFlow function named in the file",
    "SlicingOpLambda": "it calls a TensorFlow function named in the file",
    "__lambda__": "its Python code runs when the model is loaded",
}
#: Modules a Keras 3 config may name (anything else would be imported while loading).
ALLOWED_MODULE_PREFIXES = ("keras", "tf_keras", "tensorflow.keras", "qkeras", "hgq", "builtins")
_FUNCTION_KEYS = ("function_type", "output_shape_type")


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every mapping of a JSON tree with its dotted location."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _layer_name(node: dict) -> str:
    config = node.get("config")
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return config["name"]
    return str(node.get("name") or "?")


def check_model_config(config: Any, where: str) -> None:
    """Refuse a Keras model config (parsed JSON) that carries code; see the module docstring.

    Raises :class:`~triginfer.errors.UnsupportedModelError` naming the first such layer."""
    for location, node in _walk(config):
        cls = node.get("class_name")
        if isinstance(cls, str) and cls in CODE_CLASSES:
            raise UnsupportedModelError(
                f"{where}: layer {_layer_name(node)!r} ({cls}) is refused before loading: "
                f"{CODE_CLASSES[cls]}. Replace it with built-in layers (or a layer hls4ml "
                "converts) and save the model again; nothing in the file was run")
        for key in _FUNCTION_KEYS:
            if key in node and node[key] not in (None, "raw"):
                raise UnsupportedModelError(
                    f"{where}: {location or 'the model'} holds a serialized Python function "
                    f"({key}={node[key]!r}); it is refused before loading, nothing was run")
        module = node.get("module")
        if isinstance(cls, str) and isinstance(module, str) and module and not any(
                module == p or module.startswith(p + ".") for p in ALLOWED_MODULE_PREFIXES):
            raise UnsupportedModelError(
                f"{where}: layer {_layer_name(node)!r} ({cls}) comes from module {module!r}, "
                "which is neither Keras, QKeras nor HGQ; loading it would import that "
                "module, so it is refused (nothing was run)")


def read_keras_config(path: str | os.PathLike) -> Any:
    """The model config JSON of a Keras ``.h5`` or ``.keras`` file, read without Keras.

    Raises :class:`~triginfer.errors.InputFileError` when the file is neither or has none."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(
            f"{path}: a directory (TensorFlow SavedModel?); SavedModels are not read because "
            "their contents cannot be checked before TensorFlow runs them: save the model "
            "with model.save('model.h5') or model.save('model.keras')")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                text = archive.read("config.json")
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise InputFileError(f"{path}: not a readable .keras archive (no config.json: "
                                 f"{exc})") from exc
    elif magic == b"\x89HDF\r\n\x1a\n":
        import h5py

        try:
            with h5py.File(path, "r") as h5:
                text = h5.attrs.get("model_config")
        except OSError as exc:
            raise InputFileError(f"{path}: not a readable HDF5 model file ({exc})") from exc
        if text is None:
            raise InputFileError(f"{path}: HDF5 file without a model config (a weights-only "
                                 "file?); save the whole model with model.save(...)")
    else:
        raise InputFileError(f"{path}: neither a Keras .h5 (HDF5) nor a .keras (zip) file")
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    try:
        return json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: the model config is not valid JSON ({exc})") from exc


def check_keras_file(path: str | os.PathLike) -> Any:
    """Read a Keras model file's config as data and refuse code in it; returns the config."""
    config = read_keras_config(path)
    check_model_config(config, str(path))
    return config


def check_onnx_external_data(model, path: str | os.PathLike) -> None:
    """Refuse an ONNX model whose external tensors lie outside its own directory.

    ``model`` is the ``onnx.ModelProto`` loaded with ``load_external_data=False``."""
    base = Path(path).resolve().parent
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
    for tensor in tensors:
        for entry in tensor.external_data:
            if entry.key != "location":
                continue
            target = (base / entry.value).resolve()
            if os.path.isabs(entry.value) or not target.is_relative_to(base):
                raise UnsupportedModelError(
                    f"{path}: tensor {tensor.name!r} points at external data {entry.value!r} "
                    "outside the model's directory; refused (move the data file beside the "
                    "model and store a relative location)")
