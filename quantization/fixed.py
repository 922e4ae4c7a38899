"""Fixed-point semantics of ``ap_fixed``: the project's one implementation.

:class:`FixedType` is ``ap_fixed<W, I, Q, O>`` (or ``ap_ufixed``): ``width`` bits
in all, ``integer`` of them above the binary point (the sign bit included for
signed types, as in ap_fixed), a quantization (rounding) mode and an overflow
mode. Values are held as int64 *mantissas* ``m`` with ``value = m * 2**-frac``
where ``frac = width - integer``.

Rounding modes (applied when bits below the LSB are dropped):

=============  ==============================================
``TRN``        toward -inf (floor; ap_fixed's default)
``TRN_ZERO``   toward zero
``RND``        to nearest, ties toward +inf
``RND_ZERO``   to nearest, ties toward zero
``RND_MIN_INF`` to nearest, ties toward -inf
``RND_INF``    to nearest, ties away from zero
``RND_CONV``   to nearest, ties to even (convergent)
=============  ==============================================

Overflow modes: ``WRAP`` (two's complement wrap, ap_fixed's default), ``SAT``
(clamp to the range), ``SAT_ZERO`` (an overflowing value becomes 0),
``SAT_SYM`` (clamp to the symmetric range ``[-max, max]`` of a signed type).

Types up to 1024 bits (``ap_fixed``'s limit) parse and print; mantissa
arithmetic is exact in int64 for widths up to 62 bits (the emulator narrows a
wider declared type to an equivalent one when it can prove the values fit); the same
operations also accept integer-valued float64 mantissas below 2**52 (exact
there, and much faster in numpy), which the emulator uses when it can prove
the bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

_TYPE_RE = re.compile(
    r"^\s*(?:ap_)?(?P<kind>u?fixed|u?int)\s*<\s*(?P<args>[^>]*)>\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed``/``ap_ufixed``/``ap_int``/``ap_uint`` type (see the module docstring)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= 1024:
            raise ValueError(f"fixed-point width must lie in 1..1024, got {self.width}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unknown rounding mode {self.rounding!r}; one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unknown overflow mode {self.overflow!r}; one of {OVERFLOW_MODES}")

    # --- parsing and printing -------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse ``fixed<16,6>``, ``ufixed<8,0,RND_CONV,SAT>``, ``ap_fixed<18,8,AP_RND,AP_SAT>``,
        ``ap_int<8>``, ``ap_uint<4>``, ``fixed<22,7,TRN,WRAP,0>`` (hls4ml's form)."""
        match = _TYPE_RE.match(text)
        if not match:
            raise ValueError(f"not a fixed-point type: {text!r}")
        kind = match["kind"].lower()
        args = [a.strip().upper().removeprefix("AP_") for a in match["args"].split(",")
                if a.strip()]
        signed = not kind.startswith("u")
        try:
            width = int(args[0])
            if kind.endswith("int"):
                if len(args) != 1:
                    raise ValueError
                return cls(width, width, signed)
            integer = int(args[1])
        except (IndexError, ValueError) as exc:
            raise ValueError(f"not a fixed-point type: {text!r}") from exc
        rounding = args[2] if len(args) > 2 else "TRN"
        overflow = args[3] if len(args) > 3 else "WRAP"
        if len(args) > 4 and int(args[4]) != 0:
            raise ValueError(f"saturation bits other than 0 are not supported: {text!r}")
        return cls(width, integer, signed, rounding, overflow)

    def __str__(self) -> str:
        prefix = "fixed" if self.signed else "ufixed"
        return f"{prefix}<{self.width},{self.integer},{self.rounding},{self.overflow}>"

    def ap_type(self) -> str:
        """The C++ ``ap_fixed``/``ap_ufixed`` spelling."""
        prefix = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{prefix}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    # --- range ----------------------------------------------------------------------------
    @property
    def frac(self) -> int:
        """Bits below the binary point (may be negative)."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        """Value of one mantissa step."""
        return 2.0 ** -self.frac

    @property
    def min_mantissa(self) -> int:
        """Smallest representable mantissa."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_mantissa(self) -> int:
        """Largest representable mantissa."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min_value(self) -> float:
        """Smallest representable value."""
        return self.min_mantissa * self.lsb

    @property
    def max_value(self) -> float:
        """Largest representable value."""
        return self.max_mantissa * self.lsb

    # --- conversions ----------------------------------------------------------------------
    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Mantissas (int64) of ``x`` (float) converted to this type, as ap_fixed would."""
        return self.apply_overflow(self.round_float(x))

    def round_float(self, x: np.ndarray) -> np.ndarray:
        """Float values rounded to this type's LSB (int64 mantissas), before the overflow step.

        Magnitudes beyond ``2**62`` LSBs are clipped there first (they overflow any type).
        """
        scaled = np.clip(np.ldexp(np.asarray(x, dtype=np.float64), self.frac),
                         -(2.0**62), 2.0**62 - 1024)
        if np.all(np.abs(scaled) < 2.0**52):
            return self.round_scaled(scaled).astype(np.int64)
        floor = np.floor(scaled)
        rest = scaled - floor  # in [0, 1), exact
        return self._round(floor.astype(np.int64), rest, 0.5, scaled < 0, scaled.shape)

    def round_scaled(self, v: np.ndarray, inplace: bool = False) -> np.ndarray:
        """Round float64 values given in LSB units (|v| < 2**52, so every step is exact).

        With ``inplace`` the result overwrites ``v`` where the mode allows.
        """
        mode = self.rounding
        out = v if inplace else None
        if mode == "TRN":
            return np.floor(v, out=out)
        if mode == "TRN_ZERO":
            return np.trunc(v, out=out)
        if mode == "RND_CONV":
            return np.rint(v, out=out)
        if mode == "RND":
            return np.floor(np.add(v, 0.5, out=out), out=out)
        if mode == "RND_MIN_INF":
            return np.ceil(np.subtract(v, 0.5, out=out), out=out)
        up, down = np.floor(v + 0.5), np.ceil(v - 0.5)
        if mode == "RND_ZERO":
            return np.where(v >= 0, down, up)
        return np.where(v >= 0, up, down)  # RND_INF

    def requantize(self, mantissa: np.ndarray, frac: int) -> np.ndarray:
        """Convert int64 mantissas with ``frac`` fractional bits into this type's mantissas."""
        return self.apply_overflow(self.round_only(mantissa, frac))

    def to_float(self, mantissa: np.ndarray) -> np.ndarray:
        """Values (float64) of mantissas of this type (exact for widths up to 53)."""
        return np.ldexp(np.asarray(mantissa, dtype=np.float64), -self.frac)

    def overflows(self, mantissa: np.ndarray) -> np.ndarray:
        """Boolean mask: which (already rounded) mantissas lie outside the range."""
        m = np.asarray(mantissa)
        return (m < self.min_mantissa) | (m > self.max_mantissa)

    def round_only(self, mantissa: np.ndarray, frac: int, inplace: bool = False) -> np.ndarray:
        """Like :meth:`requantize` but without the overflow step (to count overflows).

        int64 mantissas use integer shifts; float64 mantissas (integer-valued, below
        2**52, as the emulator's fast path holds them) use exact float rounding (a
        power-of-two scaling, then the rounding) and stay float64, overwriting the
        input with ``inplace``.
        """
        m = np.asarray(mantissa)
        shift = frac - self.frac
        if m.dtype.kind == "f":
            if shift == 0:
                return m
            scaled = np.multiply(m, 2.0**-shift, out=m if inplace else None)
            return self.round_scaled(scaled, inplace=True) if shift > 0 else scaled
        m = m.astype(np.int64, copy=False)
        if shift <= 0:
            return m << np.int64(-shift) if shift < 0 else m.copy()
        floor = m >> np.int64(shift)
        rest = m & np.int64((1 << shift) - 1)
        return self._round(floor, rest, 1 << (shift - 1), m < 0, m.shape)

    # --- the two steps --------------------------------------------------------------------
    def _round(self, floor, rest, half, negative, shape) -> np.ndarray:
        """Add the rounding increment to ``floor`` given the dropped ``rest`` (0 <= rest < 2*half)."""
        mode = self.rounding
        if mode == "TRN":
            up = np.zeros(shape, dtype=bool)
        elif mode == "TRN_ZERO":
            up = (rest != 0) & negative
        elif mode == "RND":
            up = rest >= half
        elif mode == "RND_ZERO":
            up = (rest > half) | ((rest == half) & negative)
        elif mode == "RND_MIN_INF":
            up = rest > half
        elif mode == "RND_INF":
            up = (rest > half) | ((rest == half) & ~negative)
        else:  # RND_CONV
            up = (rest > half) | ((rest == half) & ((floor & 1) == 1))
        return np.asarray(floor, dtype=np.int64) + up.astype(np.int64)

    def apply_overflow(self, m: np.ndarray, inplace: bool = False) -> np.ndarray:
        """Apply this type's overflow mode to rounded mantissas (int64 or integer-valued float64).

        ``inplace`` lets saturation overwrite ``m``.
        """
        lo, hi = self.min_mantissa, self.max_mantissa
        mode = self.overflow
        if mode == "WRAP":
            if m.size == 0 or (m.min() >= lo and m.max() <= hi):
                return m
            if m.dtype.kind == "f":
                return np.mod(m - lo, float(1 << self.width)) + lo
            modulus = np.int64(1) << np.int64(self.width)
            return (np.mod(m - lo, modulus) + lo).astype(np.int64)
        if mode == "SAT":
            return np.clip(m, lo, hi, out=m if inplace else None)
        if mode == "SAT_ZERO":
            return np.where((m < lo) | (m > hi), 0, m).astype(m.dtype)
        # SAT_SYM (a 1-bit signed type has no symmetric range: ap_fixed saturates as SAT)
        sym_lo = -hi if self.signed and self.width > 1 else lo
        return np.clip(m, sym_lo, hi, out=m if inplace else None)
