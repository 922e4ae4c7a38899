"""hls4ml conversion to HLS projects, C simulation, the FirmwareSpec, synthesis reports.

``convert``/``from_hls_model`` need TensorFlow and hls4ml; ``FirmwareSpec`` (in ``spec``)
needs neither.
"""

from triginfer.hls_export.spec import FirmwareSpec, SpecLayer


def convert(*args, **kwargs):
    """Convert a Keras/QKeras model (see :func:`triginfer.hls_export.converter.convert`)."""
    from triginfer.hls_export.converter import convert as _convert

    return _convert(*args, **kwargs)


def from_hls_model(*args, **kwargs):
    """Wrap a user's hls4ml ModelGraph (see :func:`triginfer.hls_export.converter.from_hls_model`)."""
    from triginfer.hls_export.converter import from_hls_model as _from

    return _from(*args, **kwargs)


__all__ = ["FirmwareSpec", "SpecLayer", "convert", "from_hls_model"]
