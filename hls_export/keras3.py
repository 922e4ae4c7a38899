"""The Keras 3 / HGQ2 front end: a ``.keras`` file saved by Keras 3, converted by hls4ml in
its own environment (``.venv-keras3``), driven as a subprocess.

Why a second environment: hls4ml 1.3 picks its Keras parser from the installed ``keras``
(Keras 3 sends every model to the Keras 3 parser), HGQ2 needs keras >= 3.11 and da4ml >=
0.6 (numpy >= 2) and installs a top-level ``qkeras`` module of its own, while the QKeras
stack stays on TensorFlow 2.14 / Keras 2.14 / numpy 1.26. ``make keras3-env`` builds it
(keras on the JAX CPU backend, hgq2, hls4ml 1.3.0, da4ml 0.6.0, and this package without
its dependencies); ``make test`` builds it too.

What happens (:func:`convert_file`):

1. here, before anything runs: the file's config is read as data and refused if it holds
   code (:mod:`triginfer.untrusted`: Lambda layers, serialized functions, modules outside
   keras/hgq);
2. in ``.venv-keras3`` (:mod:`triginfer.hls_export.keras3_worker`): ``import hgq``,
   ``keras.saving.load_model(safe_mode=True)``, hls4ml's ``convert_from_keras_model``
   (its Keras 3 parser and HGQ2 handlers, the model-wise bit-exact precision pass), the
   FirmwareSpec read from the ModelGraph after hls4ml's passes through the same layer-kind
   registry, then the project and ``firmware_spec.json`` written;
3. back here: the firmware directory, the same as every front end writes, so the emulator,
   the engine, ONNX, the estimator, RTL, CMSSW and serving take it unchanged.

:func:`da4ml_predict` runs HGQ2's own bit-exact reference (da4ml's ``trace_model`` and
``comb_trace(...).predict``) in the same environment, for cross-checks and benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.config import DEFAULT_PART
from triginfer.errors import (
    ConfigError,
    InputFileError,
    TrigInferError,
    UnsupportedModelError,
)

#: The Makefile target that builds the environment.
MAKE_TARGET = "make keras3-env"
VENV_NAME = ".venv-keras3"


class Keras3EnvMissing(TrigInferError):
    """The Keras 3 environment is not installed."""

    exit_code = 2


def keras_version_of(path: str | os.PathLike) -> str | None:
    """The Keras version a ``.keras`` archive records (``metadata.json``), or None."""
    path = Path(path)
    if path.suffix.lower() != ".keras" or not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, OSError, json.JSONDecodeError):
        return None
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    return str(version) if version else None


def is_keras3_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a ``.keras`` archive written by Keras 3 (or holds HGQ2 layers)."""
    version = keras_version_of(path)
    if version is None:
        return False
    try:
        return int(version.split(".")[0]) >= 3
    except ValueError:
        return False


def _candidates() -> list[Path]:
    out = []
    if os.environ.get("TRIGINFER_KERAS3_VENV"):
        out.append(Path(os.environ["TRIGINFER_KERAS3_VENV"]))
    out.append(Path(sys.prefix).parent / VENV_NAME)
    out.append(Path(__file__).resolve().parents[1] / VENV_NAME)
    return list(dict.fromkeys(out))


def find_python() -> Path:
    """The Keras 3 environment's interpreter, or :class:`Keras3EnvMissing` saying how to
    build it."""
    tried = []
    for venv in _candidates():
        python = venv / "bin" / "python"
        tried.append(str(venv))
        if python.exists() and (venv / ".installed-stamp").exists():
            return python
    raise Keras3EnvMissing(
        f"the Keras 3 / HGQ2 environment is not installed (looked in {', '.join(tried)}); "
        f"build it with `{MAKE_TARGET}` (or set TRIGINFER_KERAS3_VENV)")


def _run_worker(args: list[str], what: str, timeout: float | None = None) -> dict[str, Any]:
    """Run the worker in the Keras 3 environment; its one JSON line back, or its error."""
    python = find_python()
    env = dict(os.environ)
    # Keras' numpy backend: conversion and tracing only run the model forward, and the JAX
    # backend compiles every op with XLA first (10.0 s vs 1.7 s to load and convert the
    # flagship zoo model); TRIGINFER_KERAS_BACKEND picks another
    env["KERAS_BACKEND"] = os.environ.get("TRIGINFER_KERAS_BACKEND", "numpy")
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.pop("PYTHONPATH", None)
    try:
        done = subprocess.run([str(python), "-m", "triginfer.hls_export.keras3_worker", *args],
                              capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TrigInferError(f"{what}: the Keras 3 environment did not answer within "
                             f"{timeout:.0f} s") from exc
    reply = None
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                reply = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if reply is None:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
        raise TrigInferError(f"{what}: the Keras 3 worker failed (exit {done.returncode}): "
                             f"{tail}")
    if "error" in reply:
        cls = {"UnsupportedModelError": UnsupportedModelError, "InputFileError": InputFileError,
               "ConfigError": ConfigError}.get(reply.get("type"), TrigInferError)
        raise cls(reply["error"])
    return reply


def convert_file(path: str | os.PathLike, output_dir: str | os.PathLike, *,
                 backend: str = "Vitis", io_type: str = "io_parallel",
                 strategy: str = "Latency", reuse_factor: int = 1,
                 part: str = DEFAULT_PART, clock_period_ns: float = 5.0,
                 project_name: str | None = None, hls_config: dict | None = None,
                 features: dict[str, Any] | None = None, timeout: float | None = 1800
                 ) -> Path:
    """Convert a Keras 3 / HGQ2 ``.keras`` file into a firmware directory (see the module
    docstring); returns the directory (``triginfer.load(it)`` gives its Firmware)."""
    from triginfer.untrusted import check_keras_file

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: model file not found")
    check_keras_file(path)      # code in the file is refused here, before any Keras runs
    if io_type not in ("io_parallel", "io_stream"):
        raise UnsupportedModelError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    if strategy.lower() not in ("latency", "resource", "distributed_arithmetic"):
        raise UnsupportedModelError(f"strategy must be Latency, Resource or "
                                    f"distributed_arithmetic, got {strategy!r}")
    if reuse_factor < 1:
        raise UnsupportedModelError(f"reuse_factor must be >= 1, got {reuse_factor}")
    options = {"backend": backend, "io_type": io_type, "strategy": strategy,
               "reuse_factor": int(reuse_factor), "part": part,
               "clock_period_ns": float(clock_period_ns), "project_name": project_name,
               "hls_config": hls_config, "features": features or {}}
    output_dir = Path(output_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(options, fh)
        opt_path = fh.name
    try:
        _run_worker(["convert", str(path.resolve()), str(output_dir.resolve()), opt_path],
                    f"converting {path}", timeout)
    finally:
        os.unlink(opt_path)
    return output_dir


def da4ml_predict_many(jobs: list[tuple[str | os.PathLike, np.ndarray, str]],
                       threads: int = 1, timeout: float | None = 1800, repeats: int = 1
                       ) -> list[tuple[np.ndarray, dict]]:
    """HGQ2's bit-exact reference for each ``(model file, x, input type)``: da4ml's
    ``trace_model`` of the Keras 3 model (inputs of the firmware's input type) and
    ``comb_trace(...).predict`` with ``threads`` threads, all in one run of the Keras 3
    environment (``repeats`` timed calls each, the best kept). Returns
    ``(outputs (n, n_out), timing)`` per job; each file is checked as
    untrusted first, and ``x`` is converted to the input type (the values the firmware
    sees, as the C simulation converts them)."""
    from triginfer.quantization.fixed import FixedType
    from triginfer.untrusted import check_keras_file

    with tempfile.TemporaryDirectory(prefix="triginfer-da4ml-") as tmp:
        specs = []
        for k, (path, x, input_type) in enumerate(jobs):
            check_keras_file(path)
            t = FixedType.parse(input_type)
            x = np.asarray(x, np.float64)
            x = t.to_float(t.quantize(x)).reshape(len(x), -1)
            xp, yp = Path(tmp) / f"x{k}.npy", Path(tmp) / f"y{k}.npy"
            np.save(xp, np.ascontiguousarray(x))
            specs.append({"model": str(Path(path).resolve()), "x": str(xp), "y": str(yp),
                          "input_type": str(t), "threads": int(threads),
                          "repeats": int(repeats)})
        jobs_path = Path(tmp) / "jobs.json"
        jobs_path.write_text(json.dumps(specs))
        reply = _run_worker(["da4ml", str(jobs_path)], "da4ml's comb.predict", timeout)
        return [(np.load(s["y"]), r) for s, r in zip(specs, reply["jobs"], strict=True)]


def da4ml_predict(path: str | os.PathLike, x: np.ndarray, input_type: str,
                  threads: int = 1, timeout: float | None = 1800) -> tuple[np.ndarray, dict]:
    """:func:`da4ml_predict_many` for one model."""
    return da4ml_predict_many([(path, x, input_type)], threads, timeout)[0]


__all__ = ["Keras3EnvMissing", "convert_file", "da4ml_predict", "da4ml_predict_many",
           "find_python",
           "is_keras3_file", "keras_version_of"]
