"""Export an ONNX model as an NVIDIA Triton model repository entry.

Layout: ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/1/model.onnx``, with
``platform: "onnxruntime_onnx"`` (kinds ``gpu``/``cpu``: the ONNX Runtime backend
of a production Triton), ``max_batch_size``, input and output dims without the
batch dimension (read from the ONNX graph), ``dynamic_batching`` with the queue
delay, and an ``instance_group``. Kind ``python`` writes a Python-backend model
instead (``backend: "python"`` and ``1/model.py`` running the ONNX model with
ONNX Runtime, every request of a Triton batch in one session call), which any
``tritonserver`` with the Python backend loads, the one nvidia-pytriton bundles
included.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from triginfer.errors import ConfigError

_TRITON_TYPES = {1: "TYPE_FP32", 11: "TYPE_FP64", 10: "TYPE_FP16", 7: "TYPE_INT64",
                 6: "TYPE_INT32"}


def _io(value_info) -> tuple[str, str, list[int]]:
    tensor = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim][1:]
    return value_info.name, _TRITON_TYPES.get(tensor.elem_type, "TYPE_FP32"), dims


def _invalid(path: Path, exc: Exception) -> Exception:
    from triginfer.errors import InputFileError

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputFileError(f"{path}: not a valid ONNX model ({first})")


def load_checked_onnx(path: str | os.PathLike):
    """``onnx.load`` + ``onnx.checker``: a missing, empty or corrupt file is an
    :class:`~triginfer.errors.InputFileError` naming it."""
    import onnx

    from triginfer.errors import InputFileError

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: ONNX model not found")
    if not path.is_file() or path.stat().st_size == 0:
        raise InputFileError(f"{path}: not an ONNX model (a directory or an empty file)")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError
        raise _invalid(path, exc) from exc
    from triginfer.untrusted import check_onnx_external_data

    check_onnx_external_data(model, path)   # untrusted: before anything reads the data
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx ValidationError
        raise _invalid(path, exc) from exc
    if not model.graph.input or not model.graph.output:
        raise InputFileError(f"{path}: the ONNX graph has no inputs or no outputs")
    return model


def config_text(onnx_path: str | os.PathLike, name: str, max_batch_size: int,
                max_queue_delay_us: int, instance_count: int, kind: str) -> str:
    """The ``config.pbtxt`` text for an ONNX model."""

    if kind not in ("KIND_GPU", "KIND_CPU", "gpu", "cpu", "python"):
        raise ConfigError(f"kind must be gpu, cpu or python, got {kind!r}")
    backend = 'backend: "python"\n' if kind == "python" else 'platform: "onnxruntime_onnx"\n'
    kind = "KIND_CPU" if kind == "python" else (
        kind if kind.startswith("KIND_") else f"KIND_{kind.upper()}")
    model = load_checked_onnx(onnx_path)
    init_names = {i.name for i in model.graph.initializer}
    inputs = [_io(v) for v in model.graph.input if v.name not in init_names]
    outputs = [_io(v) for v in model.graph.output]

    def block(items):
        return ",\n".join(
            f'  {{\n    name: "{n}"\n    data_type: {t}\n    dims: [ {", ".join(map(str, d))} ]\n  }}'
            for n, t, d in items)

    preferred = sorted({b for b in (max_batch_size // 4, max_batch_size // 2, max_batch_size)
                        if b > 0})
    return (
        f'name: "{name}"\n'
        f"{backend}"
        f"max_batch_size: {int(max_batch_size)}\n"
        f"input [\n{block(inputs)}\n]\n"
        f"output [\n{block(outputs)}\n]\n"
        "dynamic_batching {\n"
        f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]\n"
        f"  max_queue_delay_microseconds: {int(max_queue_delay_us)}\n"
        "}\n"
        "instance_group [\n"
        f"  {{\n    count: {int(instance_count)}\n    kind: {kind}\n  }}\n"
        "]\n"
    )


def export_triton_repository(onnx_path: str | os.PathLike, repo_dir: str | os.PathLike,
                             name: str, max_batch_size: int = 4096,
                             max_queue_delay_us: int = 500, instance_count: int = 1,
                             kind: str = "gpu") -> Path:
    """Write ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/1/model.onnx``; returns the
    model directory."""
    onnx_path = Path(onnx_path)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"model name {name!r}: use letters, digits, '_', '.' and '-' only "
                          "(it is a directory name in the repository and part of the URL)")
    load_checked_onnx(onnx_path)
    if max_batch_size < 1 or instance_count < 1 or max_queue_delay_us < 0:
        raise ConfigError("max_batch_size and instance_count must be >= 1, the delay >= 0")
    text = config_text(onnx_path, name, max_batch_size, max_queue_delay_us, instance_count, kind)
    model_dir = Path(repo_dir) / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, model_dir / "1" / "model.onnx")
    if kind == "python":
        (model_dir / "1" / "model.py").write_text(PYTHON_MODEL)
    (model_dir / "config.pbtxt").write_text(text)
    return model_dir


#: The Python-backend model: ONNX Runtime on the model.onnx beside it.
PYTHON_MODEL = '''"""Triton Python-backend model written by triginfer: runs model.onnx with ONNX Runtime."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = Path(__file__).resolve().parent / "model.onnx"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        if config.get("instance_group", [{}])[0].get("kind") == "KIND_CPU":
            providers = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def execute(self, requests):
        arrays = {name: [] for name in self.inputs}
        sizes = []
        for request in requests:
            for name in self.inputs:
                arrays[name].append(pb_utils.get_input_tensor_by_name(request, name).as_numpy())
            sizes.append(len(arrays[self.inputs[0]][-1]))
        feed = {name: np.concatenate(parts) for name, parts in arrays.items()}
        results = self.session.run(self.outputs, feed)
        responses, start = [], 0
        for size in sizes:
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(out[start:start + size]))
                       for name, out in zip(self.outputs, results)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
'''
