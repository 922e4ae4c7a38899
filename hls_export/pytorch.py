"""The PyTorch front end: a saved module, read as untrusted data, through hls4ml's PyTorch
converter into an HLS project and its FirmwareSpec (the same firmware directory as Keras).

What a file may hold, and how it is read (:func:`load_module`):

- a **state dict** (``torch.save(model.state_dict(), "w.pt")``) plus the architecture named
  by the user (``--architecture models.py:Net``: that file is the user's own code, run
  because they named it). The weights load with ``torch.load(weights_only=True)``: tensors
  only, no code from the file;
- a **whole pickled module** (``torch.save(model, "m.pt")``): unpickling it runs code from
  the file, so it is refused unless the user passes ``trust_model`` (``--trust-model``). A
  pickle that ``weights_only=True`` accepts loads without it;
- **TorchScript** archives and **torch.export** programs are refused with what to do
  instead. hls4ml's converter traces the Python module with ``torch.fx``, and neither of
  those is one.

Conversion (:func:`convert_module`): hls4ml's ``config_from_pytorch_model`` at granularity
``name`` (or the user's configuration), ``convert_from_pytorch_model`` (channels-last
conversion as hls4ml does it), and the FirmwareSpec read from the ModelGraph after its
passes through the layer-kind registry, before anything is written. Float models get
hls4ml's default precisions; the C simulation is the oracle the emulator equals.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pickle
import time
import zipfile
from pathlib import Path
from typing import Any

from triginfer.config import DEFAULT_PART
from triginfer.errors import ConfigError, InputFileError, UnsupportedModelError
from triginfer.extras import require

log = logging.getLogger(__name__)

#: File suffixes the PyTorch front end takes.
TORCH_SUFFIXES = (".pt", ".pth", ".pt2")


def _architecture(text: str):
    """``path/to/file.py:ClassName`` -> an instance (the user's own code, named by them)."""
    path_text, sep, cls_name = text.rpartition(":")
    path = Path(path_text)
    if not sep or not cls_name.isidentifier() or path.suffix != ".py":
        raise ConfigError(f"--architecture {text!r}: give FILE.py:ClassName (a class whose "
                          "constructor takes no arguments)")
    if not path.is_file():
        raise InputFileError(f"{path}: architecture file not found")
    spec = importlib.util.spec_from_file_location(f"triginfer_user_arch_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ConfigError(f"--architecture {text!r}: {path} defines no {cls_name!r}")
    try:
        return cls()
    except TypeError as exc:
        raise ConfigError(f"--architecture {text!r}: {cls_name}() needs arguments ({exc}); "
                          "give a class whose constructor takes none") from exc


def _kind_of_file(path: Path) -> str:
    """``torchscript``, ``export`` (a torch.export program) or ``pickle``."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if any(n.endswith(("serialized_exported_program.json", "models/model.json"))
               or "/models/" in n for n in names):
            return "export"
    return "pickle"


def load_module(path: str | os.PathLike, *, architecture: str | None = None,
                trust_model: bool = False):
    """A ``torch.nn.Module`` from ``path``, in eval mode (see the module docstring)."""
    torch = require("torch", "the PyTorch front end")
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: model file not found")
    kind = _kind_of_file(path)
    if kind in ("torchscript", "export"):
        what = "a TorchScript archive" if kind == "torchscript" else "a torch.export program"
        raise UnsupportedModelError(
            f"{path}: {what}; hls4ml converts a Python module it can trace with torch.fx. "
            "Save the weights with torch.save(model.state_dict(), 'w.pt') and pass the class "
            "with --architecture FILE.py:ClassName")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_model:
            raise UnsupportedModelError(
                f"{path}: holds pickled Python objects (a whole saved module?), which load "
                "only with weights_only=False, and that runs code from the file. Nothing "
                "was run. Save model.state_dict() and pass --architecture FILE.py:ClassName, "
                "or pass --trust-model if you trust whoever made the file") from exc
        log.warning("%s: unpickling with weights_only=False (--trust-model)", path)
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: not a readable PyTorch file ({exc})") from exc
    if isinstance(obj, torch.nn.Module):
        if architecture:
            raise ConfigError(f"{path} holds a whole module; --architecture is for state dicts")
        return obj.eval()
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise InputFileError(f"{path}: neither a module nor a state dict of tensors")
    if not architecture:
        raise ConfigError(f"{path}: a state dict; name its architecture with --architecture "
                          "FILE.py:ClassName")
    module = _architecture(architecture)
    try:
        result = module.load_state_dict(obj, strict=False)
    except RuntimeError as exc:   # shapes that differ
        first = (str(exc).strip().splitlines() or [""])[-1].strip()[:200]
        raise InputFileError(f"{path}: the state dict does not fit {architecture} "
                             f"({first})") from exc
    if result.missing_keys or result.unexpected_keys:
        raise InputFileError(f"{path}: the state dict does not fit {architecture} (missing "
                             f"{list(result.missing_keys)[:5]}, unexpected "
                             f"{list(result.unexpected_keys)[:5]})")
    return module.eval()


def parse_input_shape(text: str | None) -> tuple[int, ...]:
    """``"16"`` or ``"1,28,28"`` (one event, channels first as PyTorch has it)."""
    if not text:
        raise ConfigError("a PyTorch model needs --input-shape (one event's shape, e.g. 16 or "
                          "1,28,28, channels first as in PyTorch)")
    try:
        shape = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise ConfigError(f"--input-shape {text!r}: give comma-separated sizes") from exc
    if not shape or min(shape) < 1:
        raise ConfigError(f"--input-shape {text!r}: sizes must be positive")
    return shape


def convert_module(module, input_shape: tuple[int, ...], output_dir: str | os.PathLike, *,
                   name: str = "torch_model", backend: str = "Vitis",
                   io_type: str = "io_parallel", strategy: str = "Latency",
                   reuse_factor: int = 1, part: str = DEFAULT_PART,
                   clock_period_ns: float = 5.0, hls_config: dict | None = None,
                   features: dict[str, Any] | None = None):
    """hls4ml's PyTorch conversion of ``module``; returns the
    :class:`~triginfer.hls_export.converter.HLSFirmware` (project and spec written)."""
    import hls4ml

    from triginfer.hls_export.converter import (
        HLSFirmware,
        _project_name,
        _settings_of,
        spec_from_hls_model,
    )

    output_dir = Path(output_dir)
    project = _project_name(name)
    config = hls_config or hls4ml.utils.config_from_pytorch_model(
        module, input_shape=[tuple(input_shape)], granularity="name", backend=backend,
        default_reuse_factor=int(reuse_factor))
    config["Model"]["Strategy"] = strategy
    t0 = time.perf_counter()
    try:
        hls_model = hls4ml.converters.convert_from_pytorch_model(
            module, output_dir=str(output_dir), project_name=project, backend=backend,
            hls_config=config, io_type=io_type, part=part, clock_period=clock_period_ns)
    except Exception as exc:  # hls4ml raises bare Exceptions for what it does not convert
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UnsupportedModelError(f"hls4ml could not convert the PyTorch model {name!r}: "
                                    f"{type(exc).__name__}: {first}") from exc
    settings = _settings_of(hls_model, bit_exact=False, front_end="pytorch",
                            input_shape_channels_first=list(input_shape))
    spec = spec_from_hls_model(hls_model, name, settings, features)   # refusals first
    hls_model.write()
    spec.save(output_dir)
    log.info("converted the PyTorch model %s with hls4ml in %.1f s: %s", name,
             time.perf_counter() - t0, output_dir)
    return HLSFirmware(output_dir=output_dir, project_name=project, spec=spec,
                       hls_model=hls_model)
