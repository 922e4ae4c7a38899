"""The base class of a layer kind, and the helpers several kinds share.

A layer kind (dense, conv2d, softmax, add, ...) is one subclass of
:class:`LayerKind`, registered by its name with :func:`register`. It says, in
one place, everything the project knows about that kind of layer:

* ``hls_classes`` / :meth:`LayerKind.matches` and :meth:`LayerKind.read`: which
  hls4ml layers it stands for and how to read their parameters and integer
  arrays from the converted ModelGraph (the converter calls these);
* :meth:`LayerKind.validate`: what a spec loaded from disk must hold for it;
* :meth:`LayerKind.bound`: the largest magnitude (in LSBs) any value it computes
  can reach, given the types of its inputs; the emulator uses it to prove that
  float64 arithmetic is exact (every value below 2**51);
* :meth:`LayerKind.emulate`: the firmware's arithmetic, vectorised in numpy on
  integer mantissas (int64, or integer-valued float64 when the bound allows);
* :meth:`LayerKind.onnx`: the same arithmetic as bit-exact ONNX nodes
  (``None`` when the kind has no ONNX form: an explicit refusal);
* :meth:`LayerKind.estimate`: its FPGA latency and resources (``None`` means
  "not estimated", never a silent zero).

``emulate`` and ``onnx`` return the layer's value *before* the conversion to
its result type, with its number of fractional bits; the caller converts it
(rounding and overflow of the result type) unless ``converts_result`` is False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from triginfer.quantization.fixed import FixedType

#: Largest magnitude a float64 mantissa may reach for the float64 path to be exact.
FLOAT64_LIMIT = 2.0**51
#: Largest magnitude the int64 path handles.
INT64_LIMIT = 2.0**62


@dataclass
class EmuTensor:
    """Mantissas of one tensor, ``(n_events, *shape)``, with ``frac`` fractional bits."""

    m: np.ndarray
    frac: int


class LayerKind:
    """One kind of layer (see the module docstring). Subclasses set ``kind`` and override."""

    kind: str = ""
    #: hls4ml ``class_name`` values this kind reads (see :meth:`matches`).
    hls_classes: tuple[str, ...] = ()
    #: One line for the README's table of supported kinds.
    summary: str = ""
    #: Whether the caller converts the value returned by ``emulate``/``onnx`` to the result type.
    converts_result: bool = True
    #: Whether a bit-exact ONNX translation exists (``onnx`` is implemented).
    has_onnx: bool = True
    #: Number of tensors the layer reads (None: any number >= 1).
    n_inputs: int | None = 1
    #: Whether the layer maps every input value to one output value (same size in and out).
    elementwise: bool = False

    # --- reading ---------------------------------------------------------------------------
    def matches(self, hls_layer) -> bool:
        """Whether this kind stands for ``hls_layer`` (an hls4ml layer)."""
        return hls_layer.class_name in self.hls_classes

    def read(self, hls_layer, layer, cpp: dict[str, Any]) -> None:
        """Fill ``layer.params``/``layer.arrays``/``layer.types`` from the hls4ml layer.

        ``cpp`` holds what the generated C++ declares for it (``config`` text,
        ``function`` call text).
        """

    def validate(self, layer, producers: list) -> None:
        """Raise ``ValueError``/``KeyError`` if a loaded layer lacks what this kind needs."""
        if self.n_inputs is not None and len(producers) != self.n_inputs:
            raise ValueError(f"reads {len(producers)} tensors, a {self.kind} layer reads "
                             f"{self.n_inputs}")
        if self.elementwise and math.prod(layer.output_shape) != math.prod(layer.input_shape):
            raise ValueError(f"an elementwise {self.kind} layer maps {list(layer.input_shape)} "
                             f"to {list(layer.output_shape)}")
        for key in self.required_arrays(layer):
            if key not in layer.arrays:
                raise KeyError(f"array {key!r} missing")
        for key in self.required_types(layer):
            if key not in layer.types:
                raise KeyError(f"type of {key!r} missing")

    def required_arrays(self, layer) -> tuple[str, ...]:
        """Arrays a layer of this kind must hold."""
        return ()

    def required_types(self, layer) -> tuple[str, ...]:
        """Types (besides ``result``) a layer of this kind must declare."""
        return ()

    # --- emulation -------------------------------------------------------------------------
    def prepare(self, layer, in_types: list[FixedType]) -> dict[str, Any]:
        """Precompute what :meth:`emulate` needs (weights as arrays, tables, indices)."""
        return {}

    def bound(self, layer, plan: dict[str, Any], in_types: list[FixedType]) -> float:
        """Largest |value| in LSBs of any value the layer computes (default: its inputs')."""
        return max(max_abs(t) for t in in_types)

    def emulate(self, layer, plan: dict[str, Any], xs: list[EmuTensor], ctx) -> EmuTensor:
        """The layer's value before the result conversion (see the module docstring)."""
        raise NotImplementedError

    def value_range(self, layer, plan: dict[str, Any], in_types: list[FixedType]
                    ) -> tuple[float, float, int] | None:
        """``(lowest, highest, frac)`` of the value before the result conversion, when known.

        Lets the emulator hold a result type wider than 62 bits (hls4ml's bit-exact pass
        can declare 127) as an equivalent narrow one. None: not known.
        """
        return None

    # --- ONNX ------------------------------------------------------------------------------
    def onnx(self, g, layer, plan: dict[str, Any], xs: list[tuple[str, int]]) -> tuple[str, int]:
        """ONNX nodes computing :meth:`emulate`'s value on float64 mantissas; ``(name, frac)``."""
        raise NotImplementedError

    # --- FPGA estimate ---------------------------------------------------------------------
    def estimate(self, layer, ctx) -> dict[str, Any] | None:
        """Latency (``cycles``) and resources (LUT, FF, DSP, BRAM_18K); None: not estimated."""
        return None


def type_range(t: FixedType) -> tuple[float, float, int]:
    """``(lowest, highest, frac)`` of a type's values."""
    return t.min_value, t.max_value, t.frac


def narrowest_holding(lo: float, hi: float, frac: int, like: FixedType) -> FixedType | None:
    """The narrowest type with ``frac`` fractional bits and ``like``'s sign holding [lo, hi]."""
    for integer in range(-frac + 1, like.integer + 1):
        width = integer + frac
        if width < 1 or width > 62:
            continue
        t = FixedType(width, integer, like.signed, "TRN", "WRAP")
        if t.min_value <= lo and hi <= t.max_value:
            return t
    return None


def negative_compares_greater(data: FixedType, other: FixedType) -> bool:
    """Whether ``data > other`` in ap_fixed's C simulation holds for every negative ``data``.

    ap_fixed compares two types by aligning their fractional bits (the one with fewer gets
    ``F1 - F2`` more bits; the data side one more when it is the one widened) and comparing
    the raw integers in C++. A signed value against an unsigned one of 32 bits or more (and
    at least as wide) then goes through C's usual conversions: the negative value becomes a
    huge unsigned one. Measured with hls4ml 1.3's ap_types (a negative ap_fixed<23,6> is
    greater than ap_ufixed<2,32>(0), not than ap_ufixed<2,10>(0)); hls4ml's bit-exact
    flow declares thresholded-relu thresholds as ap_ufixed<2,32>.
    """
    if not data.signed or other.signed:
        return False
    f1, f2 = data.frac, other.frac
    w_s, w_u = data.width, other.width
    if f1 > f2:
        w_u = max(other.width + f1 - f2, 1)
    elif f1 < f2:
        w_s = max(data.width + f2 - f1 + 1, 1)
    return w_u >= 32 and w_s <= w_u


def max_abs(t: FixedType) -> float:
    """Largest |mantissa| of a type."""
    return float(max(abs(t.min_mantissa), abs(t.max_mantissa)))


# --- helpers shared by several kinds ---------------------------------------------------------
def shl(m: np.ndarray, bits: int) -> np.ndarray:
    """Multiply mantissas by 2**bits (bits >= 0), int64 or float64, exactly."""
    if bits == 0:
        return m
    return np.ldexp(m, bits) if m.dtype.kind == "f" else m << np.int64(bits)


def align(xs: list[EmuTensor]) -> tuple[list[np.ndarray], int]:
    """The tensors' mantissas brought to a common number of fractional bits (exact)."""
    top = max(x.frac for x in xs)
    return [shl(x.m, top - x.frac) for x in xs], top


def tree_reduce(values: list, op) -> Any:
    """hls4ml's ``nnet::reduce``: a balanced tree, the left part the largest power of two < N."""
    n = len(values)
    if n == 1:
        return values[0]
    if n == 2:
        return op(values[0], values[1])
    left = 2 ** int(math.floor(math.log2(n - 1)))
    return op(tree_reduce(values[:left], op), tree_reduce(values[left:], op))


# --- C float functions, as the generated C++ evaluates them -----------------------------------
_LIBM = None


def _libm():
    global _LIBM
    if _LIBM is None:
        name = ctypes.util.find_library("m")
        try:
            lib = ctypes.CDLL(name) if name else None
            if lib is not None:
                for fn in ("expf", "tanhf"):
                    getattr(lib, fn).restype = ctypes.c_float
                    getattr(lib, fn).argtypes = [ctypes.c_float]
        except OSError:
            lib = None
        _LIBM = lib or False
    return _LIBM or None


def _c_float(fn: str, x: np.ndarray, fallback) -> np.ndarray:
    """The C library's float function ``fn`` on every value (``fallback`` in float64 rounded
    to float32 when the library cannot be loaded)."""
    x = np.asarray(x, dtype=np.float32)
    lib = _libm()
    if lib is None:
        return fallback(x.astype(np.float64)).astype(np.float32)
    call = getattr(lib, fn)
    return np.array([call(float(v)) for v in x.ravel()], dtype=np.float32).reshape(x.shape)


def expf(x: np.ndarray) -> np.ndarray:
    """``std::exp(float)`` as the C library computes it (the one the C simulation links)."""
    return _c_float("expf", x, np.exp)


def tanhf(x: np.ndarray) -> np.ndarray:
    """``tanh(float)`` as the C++ of hls4ml's tables calls it (the float overload, ``tanhf``
    of the C library; its double ``tanh`` rounds 17 of the 524,288 entries of a large tanh
    table differently)."""
    return _c_float("tanhf", x, np.tanh)


# --- parsing hls4ml's generated C++ ----------------------------------------------------------
def cpp_const(config: str, name: str, default: Any = None) -> str | None:
    """The initialiser of ``static const ... name = VALUE;`` in a config struct (text)."""
    match = re.search(rf"\b{name}\s*=\s*([^;]+);", config or "")
    return match.group(1).strip() if match else default


def cpp_typedef(config: str, name: str) -> str | None:
    """The type text of ``typedef TYPE name;`` in a config struct."""
    match = re.search(rf"typedef\s+(.+?)\s+{name}\s*;", config or "")
    return match.group(1).strip() if match else None


def call_args(function: str) -> list[str]:
    """The arguments of the generated call ``nnet::f<...>(a, b, c);``."""
    match = re.search(r"\)\s*;\s*$", function or "")
    if not match:
        return []
    depth, start = 0, None
    text = function.strip()
    # the argument list is the last top-level parenthesised group
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                start = i
                break
    if start is None:
        return []
    inner = text[start + 1:text.rindex(")")]
    return [a.strip() for a in inner.split(",") if a.strip()]
