"""The C simulation of an HLS project directory, without hls4ml, Keras or TensorFlow.

hls4ml writes, next to the firmware sources, a bridge (``<project>_bridge.cpp``) whose
``<project>_double`` function converts one event's doubles to the input types, runs the
top function and converts the outputs back. :class:`CSim` compiles the project and the
bridge with g++ exactly as hls4ml's ``build_lib.sh`` does (the same flags, the same
``WEIGHTS_DIR``) -- without running that script, which is a file of the directory -- and
calls the bridge through ctypes, event by event, as hls4ml's own ``predict`` does. So a
firmware directory converted anywhere (any front end, any machine) can be checked against
its C simulation, the oracle the emulator equals.

Compiling and loading a project runs its C++: do it for projects you trust.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from triginfer.errors import InputFileError, ShapeError, TrigInferError
from triginfer.firmware.spec import FirmwareSpec

log = logging.getLogger(__name__)


def _std_flag() -> str:
    """``-std=c++23`` where g++ takes it (hls4ml's check), else ``-std=c++11``."""
    probe = subprocess.run(["g++", "-Werror", "-fsyntax-only", "-std=c++23", "-xc++", "-",
                            "-o", "/dev/null"], input="", capture_output=True, text=True)
    return "-std=c++23" if probe.returncode == 0 else "-std=c++11"


class CSim:
    """The compiled C simulation of the HLS project in ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike, spec: FirmwareSpec | None = None) -> None:
        self.directory = Path(directory).resolve()
        self.spec = spec or FirmwareSpec.load(self.directory)
        self.project = str(self.spec.settings.get("project_name") or self.spec.name)
        bridge = self.directory / f"{self.project}_bridge.cpp"
        top = self.directory / "firmware" / f"{self.project}.cpp"
        for path in (bridge, top):
            if not path.exists():
                raise InputFileError(f"{self.directory}: no HLS project {self.project!r} "
                                     f"({path.name} missing); write one with "
                                     "`triginfer export-hls`")
        if shutil.which("g++") is None:
            raise TrigInferError("g++ not found on PATH; install it (apt-get install g++) to "
                                 "build the C simulation")
        self.lib = ctypes.CDLL(str(self._build(bridge, top)))
        self.fn = getattr(self.lib, f"{self.project}_double")
        self.fn.restype = None
        self.in_sizes = [int(np.prod(s)) for s in self.spec.input_shapes]
        self.out_sizes = self.spec.output_sizes

    def _build(self, bridge: Path, top: Path) -> Path:
        """The shared library, compiled once per source state (cached beside the project)."""
        digest = hashlib.sha256()
        for path in sorted((self.directory / "firmware").rglob("*")):
            if path.is_file() and path.suffix in (".cpp", ".h", ".txt"):
                digest.update(path.read_bytes())
        digest.update(bridge.read_bytes())
        lib = self.directory / "firmware" / f"triginfer-csim-{digest.hexdigest()[:12]}.so"
        if lib.exists():
            return lib
        flags = ["-O3", "-fPIC", _std_flag(), "-Ifirmware/ap_types/",
                 f'-DWEIGHTS_DIR="{self.directory / "firmware" / "weights"}"']
        objs = []
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        try:
            for src in (top, bridge):
                obj = self.directory / f".{src.stem}.{os.getpid()}.o"
                objs.append(obj)
                subprocess.run(["g++", *flags, "-c", str(src), "-o", str(obj)],
                               cwd=self.directory, check=True, capture_output=True, text=True,
                               timeout=900)
            subprocess.run(["g++", "-O3", "-fPIC", "-shared", *map(str, objs), "-o", str(tmp)],
                           cwd=self.directory, check=True, capture_output=True, text=True,
                           timeout=900)
            os.replace(tmp, lib)
        except subprocess.CalledProcessError as exc:
            first = (exc.stderr or "").strip().splitlines()[:1]
            raise TrigInferError(f"{self.directory}: the C simulation does not compile "
                                 f"({first[0] if first else exc})") from exc
        finally:
            for path in (*objs, tmp):
                path.unlink(missing_ok=True)
        log.info("compiled the C simulation of %s", self.project)
        return lib

    def predict(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Every event through the C simulation: one ``(n, size)`` float64 array per output."""
        if len(arrays) != len(self.in_sizes):
            raise ShapeError(f"{self.project}: {len(arrays)} inputs given, the firmware takes "
                             f"{len(self.in_sizes)}")
        n = len(arrays[0])
        ins = [np.ascontiguousarray(np.asarray(a, np.float64).reshape(n, -1)) for a in arrays]
        for a, size, name in zip(ins, self.in_sizes, self.spec.inputs, strict=True):
            if a.shape[1] != size:
                raise ShapeError(f"{self.project}: input {name!r} has {a.shape[1]} values per "
                                 f"event, the firmware takes {size}")
        outs = [np.zeros((n, size), np.float64) for size in self.out_sizes]
        dp = ctypes.POINTER(ctypes.c_double)
        in_ptr = [a.ctypes.data for a in ins]
        out_ptr = [o.ctypes.data for o in outs]
        in_step = [8 * s for s in self.in_sizes]
        out_step = [8 * s for s in self.out_sizes]
        for i in range(n):
            args = [ctypes.cast(p + i * st, dp) for p, st in zip(in_ptr, in_step, strict=True)]
            args += [ctypes.cast(p + i * st, dp) for p, st in zip(out_ptr, out_step, strict=True)]
            self.fn(*args)
        return outs
