"""triginfer: real-time trigger inference on FPGA and GPU hardware for particle physics.

Components (each a sub-package of this namespace): ``trigger_models``,
``quantization``, ``hls_export``, ``emulation``, ``gpu_runtime``,
``latency_bench``; the core here holds the CLI, configs, the toy simulation,
ROOT I/O, features, physics metrics and reports.
"""

from __future__ import annotations

from triginfer._version import __version__

#: The Python API (:mod:`triginfer.api`), imported on first use so that ``import triginfer``
#: stays light (no numpy work, no TensorFlow).
_API = ("convert", "load", "compare", "Firmware", "FirmwareConfig", "Estimate", "Comparison")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from triginfer import api

        return getattr(api, name)
    raise AttributeError(f"module 'triginfer' has no attribute {name!r}")
