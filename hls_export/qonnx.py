"""The ONNX / QONNX front end: a QONNX model (Brevitas ``export_qonnx``: ``Quant``,
``BipolarQuant``, ``Trunc`` nodes) or a plain float ONNX model, converted by hls4ml in the
Keras 3 / QONNX environment (``.venv-keras3``: qonnx 1.0 needs numpy >= 2), driven as a
subprocess like the Keras 3 front end.

Here, before anything runs (:func:`check_onnx_file`): the file is read with ``onnx`` as
data; tensors stored outside the model's directory are refused
(:func:`triginfer.untrusted.check_onnx_external_data`); a QCDQ model (``QuantizeLinear`` /
``DequantizeLinear``: what ``torch.onnx`` and ONNX Runtime's quantizer write) is refused
with how to export QONNX instead. In the worker: qonnx's ``cleanup_model``,
``ConvertToChannelsLastAndClean`` and ``GemmToMatMul``, then hls4ml's
``config_from_onnx_model`` at granularity ``name`` and ``convert_from_onnx_model``, and the
FirmwareSpec read from the ModelGraph after its passes. hls4ml's ``BitExact`` pass fails on
QONNX graphs in hls4ml 1.3 (``get_input_layers`` loses the input of the first MatMul), so
it is off: the configuration's precisions are used and the C simulation is the oracle.

The firmware's inputs are channels last, as hls4ml converts them: a Conv2d model exported
with input ``(1, C, H, W)`` takes ``(n, H, W, C)`` arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from triginfer.config import DEFAULT_PART
from triginfer.errors import InputFileError, UnsupportedModelError

#: hls4ml's precision for weights, QONNX scales and what it does not infer: 20 fractional bits
#: keep a Brevitas 8-bit model's scales (1/s up to 255, s down to 1e-4); with hls4ml's
#: fixed<16,6> the scales wrap and vanish (the zoo's QMLP: 3 distinct outputs, 0.64 from
#: QONNX's own execution; with this 581 and 0.005)
DEFAULT_PRECISION = "fixed<30,10>"
#: the widest type hls4ml's precision inference may give (the emulator's exact range)
MAX_PRECISION = "fixed<48,24>"
#: ONNX ops of a QCDQ (quantize / dequantize) model
QCDQ_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
            "QLinearMatMul", "QLinearAdd", "ConvInteger", "MatMulInteger")
#: QONNX's quantization ops (the ``qonnx.custom_op.general`` domain)
QONNX_OPS = ("Quant", "BipolarQuant", "Trunc", "MultiThreshold")


def check_onnx_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read an ONNX file as data and refuse what the front end cannot take; returns
    ``{"qonnx": bool, "ops": [...], "inputs": [...]}``."""
    import onnx

    from triginfer.untrusted import check_onnx_external_data

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: model file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for a non-ONNX file
        raise InputFileError(f"{path}: not a readable ONNX model ({type(exc).__name__})") \
            from exc
    check_onnx_external_data(model, path)
    ops = sorted({node.op_type for node in model.graph.node})
    qcdq = [op for op in ops if op in QCDQ_OPS]
    if qcdq:
        raise UnsupportedModelError(
            f"{path}: a QCDQ model ({', '.join(qcdq)} nodes), which hls4ml does not convert; "
            "export QONNX instead: brevitas.export.export_qonnx(model, example_input, "
            "'model.onnx') (or a float ONNX model with the quantization left out)")
    return {"qonnx": any(op in QONNX_OPS for op in ops), "ops": ops,
            "inputs": [i.name for i in model.graph.input]}


def convert_file(path: str | os.PathLike, output_dir: str | os.PathLike, *,
                 backend: str = "Vitis", io_type: str = "io_parallel",
                 strategy: str = "Latency", reuse_factor: int = 1,
                 part: str = DEFAULT_PART, clock_period_ns: float = 5.0,
                 project_name: str | None = None, default_precision: str = DEFAULT_PRECISION,
                 max_precision: str = MAX_PRECISION,
                 features: dict[str, Any] | None = None, timeout: float | None = 1800
                 ) -> Path:
    """Convert an ONNX / QONNX file into a firmware directory (see the module docstring);
    returns the directory."""
    import json
    import tempfile

    from triginfer.hls_export.keras3 import _run_worker

    path = Path(path)
    info = check_onnx_file(path)
    if io_type not in ("io_parallel", "io_stream"):
        raise UnsupportedModelError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    if strategy.lower() not in ("latency", "resource"):
        raise UnsupportedModelError(f"strategy must be Latency or Resource, got {strategy!r}")
    options = {"backend": backend, "io_type": io_type, "strategy": strategy,
               "reuse_factor": int(reuse_factor), "part": part,
               "clock_period_ns": float(clock_period_ns),
               "project_name": project_name or path.stem, "default_precision": default_precision,
               "max_precision": max_precision,
               "features": features or {}, "qonnx": info["qonnx"]}
    output_dir = Path(output_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(options, fh)
        opt_path = fh.name
    try:
        _run_worker(["convert-onnx", str(path.resolve()), str(output_dir.resolve()), opt_path],
                    f"converting {path}", timeout)
    finally:
        os.unlink(opt_path)
    return output_dir


__all__ = ["QCDQ_OPS", "QONNX_OPS", "check_onnx_file", "convert_file"]
