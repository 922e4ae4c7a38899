"""ONNX Runtime sessions with TensorRT -> CUDA -> CPU provider fallback.

``Session(path, device="auto")`` uses the first available of TensorRT, CUDA and
CPU and logs which one runs; asking explicitly for a device whose provider is
missing is a clear error (install the ``gpu`` extra, onnxruntime-gpu). On CUDA
inputs and outputs go through IO binding. ``run(x)`` takes any batch size and
chunks above ``max_batch``; each output comes back as ``(n_events, n_values)``.
A model with several inputs takes a list (in the model's input order) or a dict
by name; one with several outputs returns a list (a dict when given a dict); a
single array stays a single array.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from triginfer.errors import InputFileError, ShapeError, TrigInferError

log = logging.getLogger(__name__)

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_NP_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
             "tensor(float16)": np.float16}


class DeviceUnavailableError(TrigInferError):
    """An explicitly requested execution provider is not available."""


def available_devices() -> list[str]:
    """Devices whose ONNX Runtime provider is installed, in preference order."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [d for d, p in PROVIDERS.items() if p in have]


def providers_for(device: str) -> list[str]:
    """Provider list for ``device`` ("auto", "tensorrt", "cuda", "cpu"), fallbacks after it."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    if device == "auto":
        return [p for p in PROVIDERS.values() if p in have]
    if device not in PROVIDERS:
        raise TrigInferError(f"unknown device {device!r}; use auto, tensorrt, cuda or cpu")
    wanted = PROVIDERS[device]
    if wanted not in have:
        raise DeviceUnavailableError(
            f"device {device!r} requested but ONNX Runtime has no {wanted} (available: "
            f"{sorted(have)}); install onnxruntime-gpu (pip install 'triginfer[gpu]') on a "
            "machine with CUDA, or use --device cpu")
    order = list(PROVIDERS.values())
    return [p for p in order[order.index(wanted):] if p in have]


class Session:
    """An ONNX Runtime inference session (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int | None = None,
                 max_batch: int = 65_536, warmup: bool = True) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise InputFileError(f"{path}: ONNX model not found; export one with "
                                 "`triginfer export-onnx`")
        from triginfer.gpu_runtime.triton import load_checked_onnx

        load_checked_onnx(path)   # untrusted: no external data outside its directory
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path = path
        self.max_batch = int(max_batch)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options,
                                                providers=providers_for(device))
        except Exception as exc:
            if isinstance(exc, TrigInferError):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise InputFileError(f"{path}: ONNX Runtime cannot load it ({first})") from exc
        self.provider = self.session.get_providers()[0]
        metas = self.session.get_inputs()
        self.input_names = [m.name for m in metas]
        self.input_dtypes = [_NP_TYPES.get(m.type, np.float32) for m in metas]
        self.input_shapes = [tuple(m.shape[1:]) for m in metas]
        self.input_name, self.input_dtype, self.input_shape = (
            self.input_names[0], self.input_dtypes[0], self.input_shapes[0])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.uses_cuda = self.provider in (PROVIDERS["cuda"], PROVIDERS["tensorrt"])
        log.info("%s: running on %s", path.name, self.provider)
        if warmup:
            zeros = [np.zeros((1, *shape), dtype=dtype)
                     for shape, dtype in zip(self.input_shapes, self.input_dtypes, strict=True)]
            self.run(zeros if len(zeros) > 1 else zeros[0])

    def run(self, x):
        """Outputs for ``x`` (any batch size), each ``(n_events, n_values)`` (see the module
        docstring for several inputs/outputs)."""
        as_dict = isinstance(x, dict)
        if as_dict:
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise ShapeError(f"{self.path.name}: inputs {missing} missing")
            arrays = [x[n] for n in self.input_names]
        elif isinstance(x, list | tuple):
            arrays = list(x)
        else:
            arrays = [x]
        if len(arrays) != len(self.input_names):
            raise ShapeError(f"{self.path.name}: takes {len(self.input_names)} inputs "
                             f"({self.input_names}), got {len(arrays)}")
        feeds = []
        for name, a, shape, dtype in zip(self.input_names, arrays, self.input_shapes,
                                         self.input_dtypes, strict=True):
            a = np.asarray(a)
            if tuple(a.shape[1:]) != tuple(shape):
                raise ShapeError(f"{self.path.name}: input shape {a.shape[1:]} does not match "
                                 f"the model input {name!r} {shape}")
            feeds.append(np.ascontiguousarray(a, dtype=dtype))
        n = len(feeds[0])
        if n <= self.max_batch:
            outs = self._run_once(feeds)
        else:
            chunks = [self._run_once([f[i:i + self.max_batch] for f in feeds])
                      for i in range(0, n, self.max_batch)]
            outs = [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
        if len(outs) == 1:
            return outs[0]
        return dict(zip(self.output_names, outs, strict=True)) if as_dict else outs

    def _run_once(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        n = len(feeds[0])
        if self.uses_cuda:
            binding = self.session.io_binding()
            for name, f in zip(self.input_names, feeds, strict=True):
                binding.bind_cpu_input(name, f)
            for name in self.output_names:
                binding.bind_output(name)
            self.session.run_with_iobinding(binding)
            outs = binding.copy_outputs_to_cpu()
        else:
            outs = self.session.run(self.output_names,
                                    dict(zip(self.input_names, feeds, strict=True)))
        return [np.asarray(o).reshape(n, -1) for o in outs]
