"""Runs inside the Keras 3 environment (``.venv-keras3``), started by
:mod:`triginfer.hls_export.keras3`; prints one JSON line (the result, or ``{"error": ...}``).

    python -m triginfer.hls_export.keras3_worker convert MODEL.keras OUT_DIR OPTIONS.json
    python -m triginfer.hls_export.keras3_worker convert-onnx MODEL.onnx OUT_DIR OPTIONS.json
    python -m triginfer.hls_export.keras3_worker da4ml JOBS.json

Only the TF-free core of triginfer is imported here (the spec reader, the layer kinds),
with numpy 2; the caller has already checked the file's config for code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import warnings


def _quiet() -> None:
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)


def _load(path: str):
    import hgq  # noqa: F401  (registers HGQ2's layers with Keras)
    import keras

    from triginfer.errors import InputFileError

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise InputFileError(f"{path}: cannot load as a Keras 3 / HGQ2 model ({first})") from exc


def _hls_layer_problem(exc: Exception) -> str:
    """What failed, naming the hls4ml layer (or Keras layer) hls4ml was working on: the
    innermost frame of the traceback holding a ``layer``/``node`` with a name."""
    import traceback

    text = (str(exc).strip().splitlines() or [""])[0][:300]
    where, place = None, None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        for key in ("layer", "node"):
            obj = frame.f_locals.get(key)
            name = getattr(obj, "name", None)
            if isinstance(name, str):
                cls = getattr(obj, "class_name", None) or type(obj).__name__
                where = f"layer {name!r} ({cls})"
                try:
                    src = obj.get_input_node()
                    where += f", which reads {src.name!r} ({src.class_name})"
                except Exception:  # not an hls4ml layer, or no input: the name alone
                    pass
        tb = tb.tb_next
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    if last:
        place = f"{os.path.basename(last[0].filename)}:{last[0].lineno}"
    what = f"{type(exc).__name__}{': ' + text if text else ''}"
    if where:
        return (f"{where}: hls4ml {'(' + place + ') ' if place else ''}fails on it ({what}); "
                "replace that layer or its input layer (hls4ml 1.3 does not convert "
                "the pair)")
    return what


def convert(path: str, out: str, options_path: str) -> dict:
    """Convert, leaving nothing written when anything is refused."""
    import shutil

    existed = os.path.exists(out)
    try:
        return _convert(path, out, options_path)
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _convert(path: str, out: str, options_path: str) -> dict:
    import hls4ml

    from triginfer.errors import UnsupportedModelError
    from triginfer.hls_export.converter import _project_name, spec_from_hls_model

    with open(options_path) as fh:
        opts = json.load(fh)
    model = _load(path)
    project = _project_name(opts.get("project_name") or model.name)
    config = opts.get("hls_config") or {"Model": {"Precision": "ap_fixed<32,16>",
                                                  "ReuseFactor": int(opts["reuse_factor"]),
                                                  "Strategy": opts["strategy"]}}
    config.setdefault("Model", {}).setdefault("Strategy", opts["strategy"])
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            hls_model = hls4ml.converters.convert_from_keras_model(
                model, hls_config=config, output_dir=out, project_name=project,
                backend=opts["backend"], io_type=opts["io_type"], part=opts["part"],
                clock_period=opts["clock_period_ns"])
    except Exception as exc:  # hls4ml raises bare Exceptions for what it does not convert
        raise UnsupportedModelError(f"hls4ml could not convert the Keras 3 model "
                                    f"{model.name!r}: {_hls_layer_problem(exc)}") from exc
    import keras

    settings = {"backend": opts["backend"], "io_type": opts["io_type"],
                "strategy": str(config["Model"].get("Strategy", opts["strategy"])),
                "reuse_factor": int(config["Model"].get("ReuseFactor", opts["reuse_factor"])),
                "part": opts["part"], "clock_period_ns": float(opts["clock_period_ns"]),
                "project_name": project, "hls4ml_version": hls4ml.__version__,
                "bit_exact": True, "front_end": "keras3",
                "keras_version": keras.__version__, "hgq2_version": _version("hgq2"),
                "user_hls_config": bool(opts.get("hls_config"))}
    spec = spec_from_hls_model(hls_model, model.name, settings, opts.get("features"))
    with contextlib.redirect_stdout(io.StringIO()):
        hls_model.write()
    spec.save(out)
    return {"ok": True, "name": model.name, "project": project,
            "layers": [[layer.name, layer.kind] for layer in spec.layers],
            "seconds": round(time.perf_counter() - t0, 3)}


def convert_onnx(path: str, out: str, options_path: str) -> dict:
    """An ONNX / QONNX model through qonnx's passes and hls4ml (see hls_export/qonnx.py);
    nothing written when anything is refused."""
    import shutil

    existed = os.path.exists(out)
    try:
        return _convert_onnx(path, out, options_path)
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _convert_onnx(path: str, out: str, options_path: str) -> dict:
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    from triginfer.errors import UnsupportedModelError
    from triginfer.hls_export.converter import _project_name, spec_from_hls_model

    with open(options_path) as fh:
        opts = json.load(fh)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model = cleanup_model(ModelWrapper(path))
            model = model.transform(ConvertToChannelsLastAndClean())
            model = model.transform(GemmToMatMul())
            model = cleanup_model(model)
    except Exception as exc:  # qonnx's passes raise what they raise
        raise UnsupportedModelError(f"qonnx could not prepare {os.path.basename(path)} "
                                    f"(cleanup, channels last): {_hls_layer_problem(exc)}") \
            from exc
    project = _project_name(opts["project_name"])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            config = hls4ml.utils.config.config_from_onnx_model(
                model, granularity="name", backend=opts["backend"],
                default_precision=opts["default_precision"],
                default_reuse_factor=int(opts["reuse_factor"]),
                max_precision=opts.get("max_precision"))
            config["Model"]["Strategy"] = opts["strategy"]
            hls_model = hls4ml.converters.convert_from_onnx_model(
                model, output_dir=out, project_name=project, backend=opts["backend"],
                hls_config=config, io_type=opts["io_type"], part=opts["part"],
                clock_period=opts["clock_period_ns"])
    except Exception as exc:  # hls4ml raises bare Exceptions for what it does not convert
        raise UnsupportedModelError(f"hls4ml could not convert the ONNX model "
                                    f"{os.path.basename(path)!r}: {_hls_layer_problem(exc)}") \
            from exc
    settings = {"backend": opts["backend"], "io_type": opts["io_type"],
                "strategy": opts["strategy"], "reuse_factor": int(opts["reuse_factor"]),
                "part": opts["part"], "clock_period_ns": float(opts["clock_period_ns"]),
                "project_name": project, "hls4ml_version": hls4ml.__version__,
                "bit_exact": False, "front_end": "qonnx" if opts.get("qonnx") else "onnx",
                "qonnx_version": _version("qonnx"), "user_hls_config": False}
    spec = spec_from_hls_model(hls_model, opts["project_name"], settings, opts.get("features"))
    with contextlib.redirect_stdout(io.StringIO()):
        hls_model.write()
    spec.save(out)
    return {"ok": True, "project": project,
            "layers": [[layer.name, layer.kind] for layer in spec.layers],
            "seconds": round(time.perf_counter() - t0, 3)}


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def da4ml(jobs_path: str) -> dict:
    """Each job ``{model, x, y, input_type, threads}``: da4ml's trace of the model with
    inputs of ``input_type``, ``comb_trace(...).predict`` on ``x`` (.npy), outputs to ``y``."""
    import numpy as np
    from da4ml.converter import trace_model
    from da4ml.trace import comb_trace

    from triginfer.quantization.fixed import FixedType

    with open(jobs_path) as fh:
        jobs = json.load(fh)
    results = []
    for job in jobs:
        model = _load(job["model"])
        t = FixedType.parse(job["input_type"])
        kif = (int(t.signed), t.integer - int(t.signed), t.frac)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            inp, out = trace_model(model, inputs_kif=kif)
            comb = comb_trace(inp, out)
        traced = time.perf_counter() - t0
        x = np.ascontiguousarray(np.load(job["x"]), np.float64)
        threads = int(job.get("threads", 1))
        comb.predict(x[:16], n_threads=threads)          # warm (the interpreter's set-up)
        predicted = float("inf")
        for _ in range(max(1, int(job.get("repeats", 1)))):
            t0 = time.perf_counter()
            y = comb.predict(x, n_threads=threads)
            predicted = min(predicted, time.perf_counter() - t0)
        np.save(job["y"], np.asarray(y, np.float64).reshape(len(x), -1))
        results.append({"model": job["model"], "trace_s": round(traced, 4),
                        "predict_s": predicted, "events": int(len(x)), "threads": threads})
    return {"ok": True, "jobs": results}


def main(argv: list[str] | None = None) -> int:
    _quiet()
    argv = list(sys.argv[1:] if argv is None else argv)
    from triginfer.errors import TrigInferError

    commands = {"convert": convert, "convert-onnx": convert_onnx, "da4ml": da4ml}
    try:
        if not argv or argv[0] not in commands:
            raise TrigInferError(f"usage: keras3_worker {{{'|'.join(commands)}}} ...")
        reply = commands[argv[0]](*argv[1:])
    except TrigInferError as exc:
        reply = {"error": str(exc), "type": type(exc).__name__}
    except Exception as exc:  # anything else: one line back, not a traceback
        reply = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}",
                 "type": "TrigInferError"}
    print(json.dumps(reply), flush=True)
    return 0 if "error" not in reply else 2


if __name__ == "__main__":
    sys.exit(main())
