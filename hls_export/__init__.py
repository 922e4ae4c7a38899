"""hls4ml conversion to HLS projects, C simulation, synthesis reports, deliverables, RTL.

``convert``/``from_hls_model`` need the Keras 2 front end (TensorFlow, hls4ml); the
FirmwareSpec they write lives in :mod:`triginfer.firmware` and needs neither.
"""

from triginfer.firmware.spec import FirmwareSpec, SpecLayer
from triginfer.hls_export.converter import convert, from_hls_model

__all__ = ["FirmwareSpec", "SpecLayer", "convert", "from_hls_model"]
