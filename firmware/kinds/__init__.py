"""The one registry of layer kinds.

Each kind of layer the firmware chain handles is one :class:`LayerKind`
subclass in a module of this package, registered by its name with
:func:`register`. The converter, the emulator, the bit-exact ONNX builder, the
FPGA estimator and the README's table all ask this registry; every "supported"
list is derived from it (:func:`supported`), and a kind a target lacks is an
explicit refusal before any work.

Adding a kind: write one module here with a ``@register`` class (see
``base.py`` for what it implements), add it to ``_MODULES`` and give it a
zoo entry in ``tests/zoo.py``.
"""

from __future__ import annotations

import importlib
import threading

from triginfer.firmware.kinds.base import EmuTensor, LayerKind

_REGISTRY: dict[str, LayerKind] = {}
_MODULES = ("core", "dense", "depthwise", "activations", "tables", "softmax", "batchnorm",
            "pooling", "reshaping", "merge", "embedding", "quantizer", "einsum")
_LOADED = False
_LOCK = threading.RLock()


def register(cls: type[LayerKind]) -> type[LayerKind]:
    """Class decorator: add one instance of ``cls`` to the registry under ``cls.kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind name")
    if cls.kind in _REGISTRY:
        raise TypeError(f"layer kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls()
    return cls


def registry() -> dict[str, LayerKind]:
    """Every registered kind, by name (imports the kind modules on first use)."""
    global _LOADED
    if not _LOADED:
        with _LOCK:         # threads (the zoo's converters) must not see a partial registry
            if not _LOADED:
                for module in _MODULES:
                    importlib.import_module(f"{__name__}.{module}")
                _LOADED = True
    return _REGISTRY


def get(kind: str) -> LayerKind:
    """The kind called ``kind`` (``KeyError`` if none is registered)."""
    return registry()[kind]


def supported(target: str) -> list[str]:
    """Kinds a target implements: ``emulator``, ``onnx`` or ``estimate``."""
    kinds = registry()
    if target == "emulator":
        return sorted(kinds)
    if target == "onnx":
        return sorted(k for k, v in kinds.items() if v.has_onnx)
    if target == "estimate":
        return sorted(k for k, v in kinds.items()
                      if type(v).estimate is not LayerKind.estimate)
    raise ValueError(f"unknown target {target!r}")


def for_hls_layer(hls_layer) -> LayerKind | None:
    """The kind that reads ``hls_layer`` (an hls4ml layer), or None."""
    for kind in registry().values():
        if kind.matches(hls_layer):
            return kind
    return None


__all__ = ["EmuTensor", "LayerKind", "for_hls_layer", "get", "register", "registry",
           "supported"]


def kinds_table() -> str:
    """The README's table of layer kinds (Markdown), derived from the registry."""
    rows = ["| kind | what it covers | bit-exact ONNX | FPGA estimate |",
            "|---|---|---|---|"]
    estimated = set(supported("estimate"))
    for name, kind in sorted(registry().items()):
        rows.append(f"| `{name}` | {kind.summary or type(kind).__doc__.splitlines()[0]} | "
                    f"{'yes' if kind.has_onnx else 'no'} | "
                    f"{'yes' if name in estimated else 'not estimated'} |")
    return "\n".join(rows)
