"""Imports of optional heavy dependencies, each failing with the pip extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from triginfer.errors import MissingExtraError

_EXTRA_OF = {
    "tensorflow": "keras2",
    "qkeras": "keras2",
    "tensorflow_model_optimization": "keras2",
    "tf2onnx": "keras2",
    "HGQ": "keras2",
    "torch": "pytorch",
    "dask": "dask",
    "dask.distributed": "dask",
    "distributed": "dask",
    "dask_awkward": "dask",
    "onnxruntime": "gpu",
    "tritonclient": "dev",
    "pyarrow": "dev",
}


def require(module: str, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it
    (and ``purpose``, what it is needed for)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRA_OF.get(module.split(".")[0], _EXTRA_OF.get(module, "dev"))
        needed = f" (needed for {purpose})" if purpose else ""
        raise MissingExtraError(
            f"optional dependency {module!r} is not installed{needed}: "
            f"pip install 'triginfer[{extra}]' (from the repository: pip install -e '.[{extra}]')"
        ) from exc
