"""ONNX Runtime sessions with TensorRT -> CUDA -> CPU provider fallback.

``Session(path, device="auto")`` uses the first available of TensorRT, CUDA and
CPU and logs which one runs; asking explicitly for a device whose provider is
missing is a clear error (install the ``gpu`` extra, onnxruntime-gpu). On CUDA
inputs and outputs go through IO binding. ``run(x)`` takes any batch size and
chunks above ``max_batch``; it always returns ``(n_events, n_outputs)``.
"""

from __future__ import annotations

import logging
import os
import time
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
            raise InputFileError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
        self.provider = self.session.get_providers()[0]
        meta = self.session.get_inputs()[0]
        self.input_name = meta.name
        self.input_dtype = _NP_TYPES.get(meta.type, np.float32)
        self.input_shape = tuple(meta.shape[1:])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.uses_cuda = self.provider in (PROVIDERS["cuda"], PROVIDERS["tensorrt"])
        log.info("%s: running on %s", path.name, self.provider)
        if warmup:
            self.run(np.zeros((1, *self.input_shape), dtype=self.input_dtype))

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs for ``x`` (any batch size), ``(n_events, n_outputs)``."""
        x = np.asarray(x)
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ShapeError(f"{self.path.name}: input shape {x.shape[1:]} does not match the "
                             f"model input {self.input_shape}")
        x = np.ascontiguousarray(x, dtype=self.input_dtype)
        if len(x) <= self.max_batch:
            return self._run_once(x)
        parts = [self._run_once(x[i:i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
        return np.concatenate(parts)

    def _run_once(self, x: np.ndarray) -> np.ndarray:
        if self.uses_cuda:
            binding = self.session.io_binding()
            binding.bind_cpu_input(self.input_name, x)
            binding.bind_output(self.output_names[0])
            self.session.run_with_iobinding(binding)
            out = binding.copy_outputs_to_cpu()[0]
        else:
            out = self.session.run(self.output_names[:1], {self.input_name: x})[0]
        return np.asarray(out).reshape(len(x), -1)

    def timed_run(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """``run`` plus its wall time in seconds."""
        t0 = time.perf_counter()
        out = self.run(x)
        return out, time.perf_counter() - t0
