"""triginfer: real-time trigger inference on FPGA and GPU hardware for particle physics.

Components (each a sub-package of this namespace): ``trigger_models``,
``quantization``, ``hls_export``, ``emulation``, ``gpu_runtime``,
``latency_bench``; the core here holds the CLI, configs, the toy simulation,
ROOT I/O, features, physics metrics and reports.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
