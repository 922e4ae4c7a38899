"""The IR: the FirmwareSpec (a graph of layers with their integer arrays and the fixed-point
type of every tensor) and the registry of layer kinds (``kinds``: each kind's parameters,
validation, value bound, and the implementations the targets use).

It depends on nothing of triginfer's beyond ``triginfer.errors`` and
``triginfer.quantization.fixed``; every target (emulation, bit-exact ONNX, estimates, RTL,
CMSSW) and every front end depends on it (a test reads the imports).
"""

from triginfer.firmware.spec import FirmwareSpec, SpecLayer

__all__ = ["FirmwareSpec", "SpecLayer"]
