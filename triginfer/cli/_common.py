"""What every subcommand shares: argument types, logging set-up, output checks, the one-line
usage errors, and the command registry (:func:`command`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("triginfer")


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(func: Callable[[argparse.Namespace], int]):
        HANDLERS[name] = func
        return func

    return register


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (robust to redirection)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


#: Third-party loggers silenced unless -v (TensorFlow's Python logger among them).
_NOISY_LOGGERS = ("tensorflow", "absl", "h5py", "numba", "distributed", "pytriton",
                  "tritonclient", "matplotlib", "hls4ml", "tf2onnx", "urllib3")


def _quiet_third_party(verbosity: int) -> None:
    """Silence TensorFlow's C++ and Python logging and third-party warnings (shown with -v).

    Runs before TensorFlow is imported (the subcommands import it lazily)."""
    if verbosity >= 1:
        return
    import warnings

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"       # C++ start-up lines, cuDNN/cuFFT/cuBLAS too
    os.environ.setdefault("PYTHONWARNINGS", "ignore")   # subprocesses (Dask workers, servers)
    warnings.filterwarnings("ignore")             # third-party deprecation/user warnings
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Dask logs a worker's exception with its traceback; the CLI reports it as one line
    # (the environment variable reaches the worker processes, which log on their own)
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port 1..65535."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port 1..65535, got {value}")
    return value


def batch_sizes(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated integers >= 1."""
    sizes = tuple(positive_int(t.strip()) for t in text.split(",") if t.strip())
    if not sizes:
        raise argparse.ArgumentTypeError(f"give comma-separated integers >= 1, got {text!r}")
    return sizes


def opset(text: str) -> int:
    """argparse type: an ONNX opset the exporters and ONNX Runtime both support."""
    value = positive_int(text)
    if not 13 <= value <= 21:
        raise argparse.ArgumentTypeError(f"must be an opset 13..21, got {value}")
    return value


def part(text: str) -> str:
    """argparse type: an AMD/Xilinx part name (e.g. xcvu13p-flga2577-2-e)."""
    if not re.fullmatch(r"x[a-z0-9]+(-[a-z0-9]+)+", text.strip().lower()):
        raise argparse.ArgumentTypeError(f"not an FPGA part name: {text!r} (e.g. "
                                         "xcvu13p-flga2577-2-e)")
    return text.strip()


def setup_logging(verbosity: int) -> None:
    _quiet_third_party(verbosity)
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s" if verbosity <= 0
                                           else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("triginfer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def require_keras2(what: str) -> None:
    """The Keras 2 / QKeras stack (extra ``keras2``), checked before any work."""
    from triginfer.extras import require

    for module in ("tensorflow", "qkeras"):
        require(module, what)


def features_arg(args: argparse.Namespace, model) -> dict:
    """The spec's feature record from --features/--columns (muon feature sets by default for
    models of their input shape only when asked)."""
    if args.columns is not None:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        if not columns:
            from triginfer.errors import ConfigError

            raise ConfigError(f"--columns {args.columns!r}: give comma-separated column names")
        return {"columns": columns}
    if args.features:
        return {"set": args.features}
    return {}


def served_model(args: argparse.Namespace):
    from triginfer.gpu_runtime.serving import model_from_firmware, model_from_onnx

    if bool(args.onnx) == bool(args.firmware):
        from triginfer.errors import ConfigError

        raise ConfigError("give exactly one of --onnx (an ONNX model) or --firmware (a "
                          "FirmwareSpec directory: its bit-exact emulator)")
    if args.onnx:
        return model_from_onnx(args.onnx, args.name, device=args.device)
    return model_from_firmware(args.firmware, args.name)


#: What each command writes (argument, "file" or "dir"): checked before any work. Files are
#: replaced atomically (written beside, then renamed); directories are created or updated.
OUTPUTS = {
    "simulate": [("out", "file")], "run": [("out", "dir")], "train": [("out", "dir")],
    "export-hls": [("out", "dir"), ("write_config", "file")],
    "export-cmssw": [("out", "dir")], "patterns": [("out", "file")],
    "export-bdt": [("out", "dir")], "export-rtl": [("out", "dir")],
    "emulate": [("out", "file")], "export-onnx": [("out", "file")],
    "export-triton": [("repo", "dir")], "bench": [("out", "dir")],
    "loadtest": [("out", "file")],
}


def check_output(path: str | os.PathLike, kind: str) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory where a
    file goes (or the reverse), a file in the way of a parent directory, a read-only
    parent. Missing parent directories are fine (they are created)."""
    from triginfer.errors import InputFileError

    path = Path(path)
    if path.exists() and kind == "file" and path.is_dir():
        raise InputFileError(f"{path}: is a directory; give a file name for this output")
    if path.exists() and kind == "dir" and not path.is_dir():
        raise InputFileError(f"{path}: is a file; give a directory for this output")
    parent = path if kind == "dir" and path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputFileError(f"{path}: {parent} is a file, not a directory; choose another "
                             "output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputFileError(f"{path}: {parent} is not writable; choose a writable path")


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so ``finally``/``except BaseException`` clean-ups
    (temporary files of writers) run as for Ctrl-C."""


def threading_main() -> bool:
    """Whether this is the main thread (signal handlers can only be set there)."""
    import threading

    return threading.current_thread() is threading.main_thread()


class Parser(argparse.ArgumentParser):
    """Usage errors as the project's one line: ``triginfer: error: <command>: <problem>``
    (``--help`` shows the usage), exit status 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("triginfer").strip()
        where = f"{command}: " if command else ""
        print(f"triginfer: error: {where}{' '.join(message.split())} (see `{self.prog} --help`)",
              file=sys.stderr)
        raise SystemExit(2)

