"""hls4ml conversion to bit-exact HLS projects, C simulation, the FirmwareSpec, synthesis reports.

``convert`` needs TensorFlow and hls4ml; ``FirmwareSpec`` (in ``spec``) needs neither.
"""

from triginfer.hls_export.spec import FirmwareSpec, SpecLayer


def convert(*args, **kwargs):
    """Convert a QKeras model (see :func:`triginfer.hls_export.converter.convert`)."""
    from triginfer.hls_export.converter import convert as _convert

    return _convert(*args, **kwargs)


__all__ = ["FirmwareSpec", "SpecLayer", "convert"]
