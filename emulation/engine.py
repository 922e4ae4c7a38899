"""Compiled kernels for the emulator's hot loop: a fixed-point conversion in one pass.

The numpy emulator converts a tensor to its type in several passes over memory (scale by a
power of two, round, then clip or wrap, with a min/max pass to see whether wrapping is
needed). :func:`requantize` does the same IEEE operations in one pass of C, compiled once per
machine with the system C compiler (``cc``/``gcc``) and cached under
``$TRIGINFER_CACHE`` (default ``~/.cache/triginfer``) by the hash of its source and the
compiler flags. It operates on integer-valued float64 mantissas (the emulator's float path,
every value provably below 2**51), so every operation is exact and the result equals the
numpy path bit for bit (checked by the tests). Without a compiler the emulator keeps the
numpy path and logs why once.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

ROUNDING = {"NONE": 0, "TRN": 1, "TRN_ZERO": 2, "RND_CONV": 3, "RND": 4, "RND_MIN_INF": 5,
            "RND_ZERO": 6, "RND_INF": 7}
OVERFLOW = {"WRAP": 0, "SAT": 1, "SAT_ZERO": 2, "SAT_SYM": 3}

SOURCE = r"""
#include <math.h>
#include <stdint.h>

/* One loop per rounding mode (the compiler vectorises each; rint/floor/ceil/trunc become
   single SSE4.1/AVX instructions). x[i] = overflow(round(x[i] * scale)), the same IEEE
   operations as the numpy path. */
#define ROUND_LOOP(EXPR)                                                  \
    for (int64_t i = 0; i < n; ++i) { double v = src[i] * scale; x[i] = (EXPR); }

static void round_all(const double *src, double *x, int64_t n, double scale, int rounding) {
    switch (rounding) {
        case 1: ROUND_LOOP(floor(v)) break;
        case 2: ROUND_LOOP(trunc(v)) break;
        case 3: ROUND_LOOP(rint(v)) break;                    /* half to even */
        case 4: ROUND_LOOP(floor(v + 0.5)) break;
        case 5: ROUND_LOOP(ceil(v - 0.5)) break;
        case 6: ROUND_LOOP(v >= 0 ? ceil(v - 0.5) : floor(v + 0.5)) break;
        case 7: ROUND_LOOP(v >= 0 ? floor(v + 0.5) : ceil(v - 0.5)) break;
        default: if (scale != 1.0 || src != x) { ROUND_LOOP(v) } break;
    }
}

/* x may be src (in place) */
void requantize(const double *src, double *x, int64_t n, double scale, int rounding,
                int overflow, double lo, double hi, double modulus) {
    round_all(src, x, n, scale, rounding);
    switch (overflow) {
        case 1: case 3:                                        /* SAT, SAT_SYM (lo given) */
            for (int64_t i = 0; i < n; ++i) {
                double v = x[i];
                v = v < lo ? lo : v;
                x[i] = v > hi ? hi : v;
            }
            break;
        case 2:                                                /* SAT_ZERO */
            for (int64_t i = 0; i < n; ++i) {
                double v = x[i];
                x[i] = (v < lo || v > hi) ? 0.0 : v;
            }
            break;
        default:                                               /* WRAP */
            for (int64_t i = 0; i < n; ++i) {
                double v = x[i];
                if (v < lo || v > hi) {
                    double r = fmod(v - lo, modulus);
                    if (r < 0) r += modulus;
                    x[i] = r + lo;
                }
            }
    }
}
"""
FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math"]

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_why_not: str | None = None


def _cache_dir() -> Path:
    return Path(os.environ.get("TRIGINFER_CACHE") or Path.home() / ".cache" / "triginfer")


def _cpu_tag() -> str:
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {flags}"


def library() -> ctypes.CDLL | None:
    """The compiled kernels (built on first use), or None when they cannot be built."""
    global _lib, _why_not
    if _lib is not None or _why_not is not None:
        return _lib
    with _lock:
        if _lib is not None or _why_not is not None:
            return _lib
        if os.environ.get("TRIGINFER_NO_ENGINE"):
            _why_not = "TRIGINFER_NO_ENGINE is set"
        else:
            try:
                _lib = _build()
            except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
                _why_not = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        if _lib is None:
            log.info("compiled emulator kernels unavailable (%s): using numpy", _why_not)
        return _lib


def _compile(name: str, source: str, flags: list[str] | None = None, timeout: float = 120
             ) -> Path:
    """Compile ``source`` into a shared object cached by the hash of source, flags and CPU."""
    flags = FLAGS if flags is None else flags
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc/gcc) on PATH")
    digest = hashlib.sha256("\n".join([source, *flags, _cpu_tag()]).encode()).hexdigest()[:16]
    path = _cache_dir() / f"{name}-{digest}.so"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            src = Path(tmp) / f"{name}.c"
            src.write_text(source)
            so = Path(tmp) / f"{name}.so"
            done = subprocess.run([compiler, *flags, str(src), "-o", str(so), "-lm"],
                                  capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                raise RuntimeError(f"{compiler} failed: {done.stderr.strip()[:300]}")
            os.replace(so, path)   # atomic: concurrent builders agree
    return path


_extras: dict[str, ctypes.CDLL | None] = {}


def extra_library(name: str, source: str, signatures: dict[str, tuple[list, Any]]
                  ) -> ctypes.CDLL | None:
    """Another compiled kernel library (e.g. the BDT walk), built like the engine's own on
    first use and cached; ``signatures`` maps function names to (argtypes, restype).
    None (and the reason logged once) when it cannot be built."""
    with _lock:
        if name in _extras:
            return _extras[name]
        lib = None
        if os.environ.get("TRIGINFER_NO_ENGINE"):
            why = "TRIGINFER_NO_ENGINE is set"
        else:
            try:
                lib = ctypes.CDLL(str(_compile(name, source)))
                for fn, (argtypes, restype) in signatures.items():
                    getattr(lib, fn).argtypes = argtypes
                    getattr(lib, fn).restype = restype
            except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
                lib = None
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        if lib is None:
            log.info("compiled %s kernels unavailable (%s): using numpy", name, why)
        _extras[name] = lib
        return lib


def _build() -> ctypes.CDLL:
    path = _compile("engine", SOURCE)
    lib = ctypes.CDLL(str(path))
    lib.requantize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_double,
                               ctypes.c_int, ctypes.c_int, ctypes.c_double, ctypes.c_double,
                               ctypes.c_double]
    lib.requantize.restype = None
    return lib


def requantize(m: np.ndarray, frac: int, ftype: FixedType, inplace: bool) -> np.ndarray | None:
    """``ftype``'s conversion of integer-valued float64 mantissas with ``frac`` fractional
    bits (rounding, then overflow), in one compiled pass; ``None`` when the kernels are not
    available or ``m`` is not a float64 array (the caller then takes the numpy path)."""
    lib = library()
    if lib is None or m.dtype != np.float64:
        return None
    src = m if m.flags.c_contiguous else np.ascontiguousarray(m)
    out = src if inplace and src.flags.writeable else np.empty_like(src)
    shift = frac - ftype.frac
    rounding = ROUNDING[ftype.rounding] if shift > 0 else 0
    lo, hi = float(ftype.min_mantissa), float(ftype.max_mantissa)
    if ftype.overflow == "SAT_SYM" and ftype.signed and ftype.width > 1:
        lo = -hi
    lib.requantize(src.ctypes.data, out.ctypes.data, out.size, 2.0 ** -shift, rounding,
                   OVERFLOW[ftype.overflow], lo, hi, float(1 << ftype.width))
    return out
