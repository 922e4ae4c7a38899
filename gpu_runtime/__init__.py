"""Batched runtime: ONNX export (float and bit-exact), ONNX Runtime sessions with
TensorRT/CUDA/CPU fallback, a dynamic batcher, and Triton model-repository export."""

from triginfer.gpu_runtime.batcher import DynamicBatcher
from triginfer.gpu_runtime.onnx_export import export_bitexact_onnx, export_onnx
from triginfer.gpu_runtime.session import Session, available_devices
from triginfer.gpu_runtime.triton import export_triton_repository

__all__ = ["DynamicBatcher", "Session", "available_devices", "export_bitexact_onnx",
           "export_onnx", "export_triton_repository"]
