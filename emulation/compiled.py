"""The compiled engine: one C function generated from each FirmwareSpec, bit-exact by construction.

The spec is first reduced to the program of operations the RTL flow uses
(:func:`triginfer.emulation.program.build_program` with ``engine=True``): linear
maps (dense layers and every convolution, as patch index maps and constant
matrices), data movement as index maps, elementwise operations, tables filled by
the emulator itself, merges, pooling, softmax. Each operation, followed by the
conversion to its layer's fixed-point type (rounding, then overflow), becomes a
loop of C over a block of ``B`` events held side by side (``[value][event]``), so
every loop vectorises across events whatever the layer's shape: the matrix
product, its conversion and the activation run while the block is in cache.
Data movement (flatten, reshape, transpose, concatenation, padding) costs
nothing: an output element is the same row of the block as its source. Zero
weights (pruned) are skipped. Blocks run on OpenMP threads.

Exactness: every value is held as a float64 real whose bits are the firmware's.
An interval analysis follows every tensor through the program (its range and the
grid ``2**-frac`` its values lie on, from the input types, the constant weights
and tables): each sum, product and conversion is generated only where it proves
every value, partial sums included, below 2**52 units of its grid, so every
operation is exact; a conversion (``v * 2**f``, rounded by the type's mode,
wrapped or saturated, ``* 2**-f``) keeps only the steps that can act (no
rounding where the values have no bits below the type's LSB, no overflow step
where they cannot leave its range). This also admits specs whose declared types
are wider than 52 bits while the values that occur are not (hls4ml's wide
default accumulators). Linear maps whose products and partial sums are proven
below 2**24 run in float32 (twice the lanes); those whose sums need more than 52
bits run in int64 (below 2**62), their results held as int64 mantissas for the
linear maps and relus that read them. The numpy emulator stays the reference: the
tests compare the two in every rounding and overflow mode and with hls4ml's C
simulation on every model of the zoo.

The source is compiled once with the system C compiler (``-O3 -march=native
-fopenmp``, never ``-ffast-math``) and cached under ``$TRIGINFER_CACHE`` by the
hash of the source, flags and CPU (tables over 4096 entries are handed over at
load time rather than compiled in); the emulator falls back to numpy (and logs
why once) when a spec has an operation without a C form, values neither path can
hold exactly, or there is no compiler.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass

import numpy as np

from triginfer.errors import InputFileError, TrigInferError, UnsupportedModelError
from triginfer.firmware import ops as _ops
from triginfer.firmware.ops import LinearOp, Op, Program, ReluOp
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

#: Bytes of one block's working set the block size aims for (L2-sized).
BLOCK_BYTES = 512 * 1024
FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-fopenmp", "-fno-math-errno",
         "-fno-trapping-math"]


class NoCForm(TrigInferError):
    """The spec has an operation the generated engine does not express exactly."""


def _fmt(x: float) -> str:
    return repr(float(x)) if np.isfinite(x) else ("INFINITY" if x > 0 else "-INFINITY")


def _lit(v: int) -> str:
    """An integer as an exact constant of the arithmetic type ``T`` (below 2**53 here)."""
    return f"((T){int(v)}LL)"


def _c_array(ctype: str, name: str, values) -> str:
    values = np.asarray(values).reshape(-1)
    if values.size == 0:
        values = np.zeros(1)
    if ctype == "double":
        body = ",".join(_fmt(v) for v in values.tolist())
    elif ctype == "float":      # values exact in float32 (checked by the caller)
        body = ",".join(_fmt(v) + "f" for v in values.tolist())
    else:
        body = ",".join(str(int(v)) for v in values.tolist())
    return f"static const {ctype} {name}[{values.size}] = {{{body}}};\n"


#: every value the engine computes stays below this many LSBs of its grid (float64 exact)
EXACT_LIMIT = 2.0 ** 52


@dataclass(frozen=True)
class Rng:
    """What the generator knows of a tensor's values: the interval ``[lo, hi]`` and the grid
    ``2**-frac`` they lie on (every value is a multiple of it)."""

    lo: float
    hi: float
    frac: int

    @property
    def amax(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    def union(self, other: Rng) -> Rng:
        return Rng(min(self.lo, other.lo), max(self.hi, other.hi), max(self.frac, other.frac))

    @staticmethod
    def of_type(t: FixedType) -> Rng:
        return Rng(t.min_value, t.max_value, t.frac)

    @staticmethod
    def of_values(values) -> Rng:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size == 0:
            return Rng(0.0, 0.0, 0)
        return Rng(float(v.min()), float(v.max()), _frac_of(v))


def _frac_of(values: np.ndarray) -> int:
    """The fewest fractional bits that hold every (dyadic) value exactly."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[v != 0]
    if v.size == 0:
        return 0
    _, exp = np.frexp(v)                          # v = m 2**exp, 0.5 <= |m| < 1
    mant = np.ldexp(v, 53 - exp).astype(np.int64)  # 53-bit integer mantissas
    tz = np.zeros(v.shape, dtype=np.int64)         # trailing zero bits of each
    m = np.abs(mant)
    for bit in (32, 16, 8, 4, 2, 1):
        low = (m & ((1 << bit) - 1)) == 0
        tz[low] += bit
        m[low] >>= bit
    return int(np.max(53 - exp - tz))


def _mul(a: Rng, b: Rng) -> Rng:
    ends = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return Rng(min(ends), max(ends), a.frac + b.frac)


class _Types:
    """One inline conversion function per fixed-point type and the steps it needs: rounding
    only where values have bits below the type's LSB, overflow only where they can leave its
    range (the generator's interval analysis decides)."""

    def __init__(self) -> None:
        self.names: dict[tuple, str] = {}
        self.code: list[str] = []

    def conv(self, t: FixedType | None, r: Rng, what: str, full: bool = False
             ) -> tuple[str | None, Rng]:
        """The conversion of values in ``r`` to ``t``: (function name or None for the identity,
        the range after it). ``full``: both steps, for values known only to be below 2**52
        LSBs (the caller's inputs)."""
        if full:
            r = Rng(-np.inf, np.inf, t.frac + 1)
        elif r.amax * 2.0 ** r.frac >= EXACT_LIMIT:
            raise NoCForm(f"{what}: values of up to 2**{np.log2(r.amax * 2.0 ** r.frac):.0f} "
                          "LSBs, beyond float64's exact range")
        if t is None:
            return None, r
        lo_m, hi_m = t.min_mantissa, t.max_mantissa
        if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
            lo_m = -hi_m
        do_round = r.frac > t.frac
        lo, hi = r.lo, r.hi
        if do_round:
            lo, hi = lo - t.lsb, hi + t.lsb
        do_ovf = lo < lo_m * t.lsb or hi > hi_m * t.lsb
        if do_ovf:
            if t.width > 52 and not full:
                raise NoCForm(f"{what}: {t} may overflow and is wider than float64's exact "
                              "integers")
            out = Rng(lo_m * t.lsb, hi_m * t.lsb, t.frac)
        else:
            out = Rng(lo, hi, t.frac if do_round else min(r.frac, t.frac))
        if not (do_round or do_ovf):
            return None, out
        key = (t.width, t.integer, t.signed, t.rounding, t.overflow, do_round, do_ovf)
        if key in self.names:
            return self.names[key], out
        name = f"cv{len(self.names)}"
        self.names[key] = name
        rnd = {"TRN": "floor(v)", "TRN_ZERO": "trunc(v)", "RND_CONV": "rint(v)",
               "RND": "floor(v + 0.5)", "RND_MIN_INF": "ceil(v - 0.5)",
               "RND_ZERO": "(v >= 0 ? ceil(v - 0.5) : floor(v + 0.5))",
               "RND_INF": "(v >= 0 ? floor(v + 0.5) : ceil(v - 0.5))"}[t.rounding]
        lo_c, hi_c = _lit(lo_m), _lit(hi_m)
        if not do_ovf:
            ovf = ""
        elif t.overflow in ("SAT", "SAT_SYM"):
            ovf = f"m = m < {lo_c} ? {lo_c} : m; m = m > {hi_c} ? {hi_c} : m;"
        elif t.overflow == "SAT_ZERO":
            ovf = f"m = (m < {lo_c} || m > {hi_c}) ? 0.0 : m;"
        else:   # WRAP: r - M floor(r / M) with M a power of two is exact (and vectorises)
            ovf = (f"{{ T r = m - {lo_c}; r -= {_lit(1 << t.width)} * floor(r * "
                   f"{_fmt(2.0 ** -t.width)}); m = r + {lo_c}; }}")
        self.code.append(
            f"/* {t}{'' if do_round else ', no rounding'}{'' if do_ovf else ', no overflow'} */\n"
            f"static inline T {name}(T x) {{\n"
            f"    T v = x * {_fmt(2.0 ** t.frac)}; T m = {rnd if do_round else 'v'}; {ovf}\n"
            f"    return m * {_fmt(2.0 ** -t.frac)};\n}}\n")
        return name, out


#: values held as int64 mantissas stay below this many LSBs (every sum exact, no overflow)
INT64_LIMIT = 2.0 ** 62


def _int_conv(t: FixedType, frac: int, name: str) -> str:
    """C of ``int64_t name(int64_t m)``: mantissas with ``frac`` fractional bits converted to
    ``t``'s mantissas (rounding from the dropped bits, then overflow), as FixedType does on
    its int64 path."""
    shift = frac - t.frac
    lines = [f"/* {t}, from int64 mantissas with {frac} fractional bits */",
             f"static inline int64_t {name}(int64_t m) {{"]
    if shift > 0:
        up = {"TRN": "0", "TRN_ZERO": "(r != 0 && m < 0)", "RND": "(r >= h)",
              "RND_ZERO": "(r > h || (r == h && m < 0))", "RND_MIN_INF": "(r > h)",
              "RND_INF": "(r > h || (r == h && m >= 0))",
              "RND_CONV": "(r > h || (r == h && (f & 1)))"}[t.rounding]
        lines.append(f"    const int64_t f = m >> {shift}, r = m & ((INT64_C(1) << {shift}) - 1), "
                     f"h = INT64_C(1) << {shift - 1}; (void)h;")
        lines.append(f"    m = f + {up};")
    elif shift < 0:
        lines.append(f"    m = (int64_t)((uint64_t)m << {-shift});")
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        lo = -hi
    if t.overflow in ("SAT", "SAT_SYM"):
        lines.append(f"    m = m < INT64_C({lo}) ? INT64_C({lo}) : (m > INT64_C({hi}) ? INT64_C({hi}) : m);")
    elif t.overflow == "SAT_ZERO":
        lines.append(f"    m = (m < INT64_C({lo}) || m > INT64_C({hi})) ? 0 : m;")
    else:
        mask = (1 << t.width) - 1
        lines.append(f"    m = (int64_t)(((uint64_t)m - (uint64_t)INT64_C({lo})) & UINT64_C({mask})) "
                     f"+ INT64_C({lo});")
    lines.append("    return m;\n}\n")
    return "\n".join(lines)


def _ap(fn: str | None, expr: str) -> str:
    """``fn(expr)``, or ``expr`` when there is no conversion to apply."""
    return f"{fn}({expr})" if fn else f"({expr})"


class _Gen:
    """C source of one program (see the module docstring)."""

    def __init__(self, program: Program, arrays: dict, emulator) -> None:
        self.program = program
        self.arrays = arrays
        self.emu = emulator
        self.types = _Types()
        self.data: list[str] = []
        self.external: list[np.ndarray] = []
        self.set_data: list[str] = []
        self.body: list[str] = []
        self.rows: dict[str, np.ndarray] = {}     # tensor -> row of each element in the arena
        self.held: dict[str, FixedType] = {}
        self.range: dict[str, Rng] = {}           # tensor -> what is known of its values
        self.f32_rows = 1                         # float32 copies a linear op makes at once
        #: tensors held as int64 mantissas (their grid's fractional bits): values beyond
        #: float64's exact range; only linear maps and relu read them
        self.wide: dict[str, int] = {}
        self.i64_rows = 1                         # int64 copies a wide linear op makes at once
        self.n_rows = 1                           # row 0: zeros
        self.consts: dict[float, int] = {0.0: 0}
        self.n = 0

    # --- helpers ---------------------------------------------------------------------------
    def uid(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def const_row(self, value: float) -> int:
        value = float(value)
        if value not in self.consts:
            self.consts[value] = self.n_rows
            self.n_rows += 1
        return self.consts[value]

    def alloc(self, size: int) -> np.ndarray:
        rows = np.arange(self.n_rows, self.n_rows + size, dtype=np.int64)
        self.n_rows += size
        return rows

    def table(self, ctype: str, stem: str, values) -> str:
        name = self.uid(stem)
        values = np.asarray(values)
        if values.size > EXTERNAL_MIN:   # big tables: passed at load time, not compiled in
            dtype = {"double": np.float64, "float": np.float32}.get(ctype, np.int32)
            self.external.append(np.ascontiguousarray(values.reshape(-1), dtype=dtype))
            self.data.append(f"static const {ctype} *{name};   /* {values.size} values */\n")
            self.set_data.append(f"    {name} = (const {ctype} *)p[{len(self.external) - 1}];\n")
        else:
            self.data.append(_c_array(ctype, name, values))
        return name

    def src_rows(self, names: list[str], index: np.ndarray) -> np.ndarray:
        """Arena rows of ``index`` into the concatenated flat tensors (-1: the zero row)."""
        cat = np.concatenate([self.rows[n] for n in names])
        index = np.asarray(index, dtype=np.int64)
        return np.where(index < 0, 0, cat[np.clip(index, 0, None)])

    def conv(self, t, r: Rng, what: str) -> tuple[str | None, Rng]:
        return self.types.conv(t, r, what)

    def emit_map(self, op: Op, in_rows: list[np.ndarray], expr: str, value: Rng,
                 pre: str = "") -> None:
        """``out[i] = conv(expr)`` for every output element i, vectorised over events;
        ``expr`` reads ``a[e]`` (``b[e]``) from the element's input rows and may use ``i``;
        ``value`` is the range of ``expr``."""
        size = len(in_rows[0])
        out = self.alloc(size)
        cv, self.range[op.name] = self.conv(op.type, value, f"layer {op.name!r}")
        names = []
        for k, rows in enumerate(in_rows):
            names.append(self.table("int32_t", f"r{k}_", rows))
        ptrs = "".join(f" const T *{'ab'[k]} = A + (int64_t){n}[i] * B;"
                       for k, n in enumerate(names))
        self.body.append(
            f"    /* {op.name} ({op.op}) */\n"
            f"    for (int i = 0; i < {size}; ++i) {{{ptrs}\n"
            f"        T *y = A + (int64_t)({int(out[0])} + i) * B; {pre}\n"
            f"        SIMD for (int e = 0; e < B; ++e) y[e] = {_ap(cv, expr)};\n    }}\n")
        self.rows[op.name] = out

    def rng(self, name: str) -> Rng:
        return self.range[name]

    def int_conv(self, t: FixedType, frac: int) -> str:
        name = self.uid("cvi")
        self.types.code.append(_int_conv(t, frac, name))
        return name

    def store(self, op: Op, m_frac: int, value: Rng) -> tuple[str, str]:
        """How an op whose result is an int64 mantissa ``m`` (with ``m_frac`` fractional bits,
        values in ``value``) converts and stores it: (conversion function, store statement
        for ``y[e]``); the tensor is held as int64 where float64 cannot hold it."""
        t = op.type
        cvi = self.int_conv(t, m_frac)
        out = Rng(max(value.lo - t.lsb, t.min_value), min(value.hi + t.lsb, t.max_value), t.frac)
        self.range[op.name] = out
        if out.amax * 2.0 ** t.frac < EXACT_LIMIT:
            return cvi, f"y[e] = (T)({cvi}(m)) * {_fmt(2.0 ** -t.frac)};"
        self.wide[op.name] = t.frac
        return cvi, f"st_i64(y + e, {cvi}(m));"

    def linear_int64(self, op: Op, x: Rng, wr: Rng, br: Rng, total: float, lo: float,
                     hi: float, prow, ks, colptr, col_w, b, out, what: str) -> None:
        """A linear map whose sums need more than float64's 52 bits: int64 mantissas."""
        if op.round_products:
            raise NoCForm(f"{what}: per-product rounding on values beyond float64")
        wide_src = op.src in self.wide
        xf = self.wide[op.src] if wide_src else x.frac
        fw = wr.frac
        frac = max(xf + fw, br.frac)
        if total * 2.0 ** frac >= INT64_LIMIT:
            raise NoCForm(f"{what}: sums of up to 2**{np.log2(total * 2.0 ** frac):.0f} LSBs, "
                          "beyond int64")
        positions, k_in = prow.shape
        n_out = len(colptr) - 1
        slots, slot_of = np.unique(prow, return_inverse=True)    # source rows as int64, once
        self.i64_rows = max(self.i64_rows, len(slots))
        t_slots = self.table("int32_t", "islot", slots)
        t_prow = self.table("int32_t", "iprow", slot_of.reshape(positions, k_in))
        t_ptr = self.table("int32_t", "colptr", colptr)
        t_k = self.table("int32_t", "colk", ks)
        t_w = self.table("int64_t", "colwi", np.round(col_w * 2.0 ** fw).astype(np.int64))
        t_b = self.table("int64_t", "biasi", np.round(b * 2.0 ** frac).astype(np.int64))
        shift = frac - (xf + fw)
        read = ("ld_i64(src + e)" if wide_src
                else f"(int64_t)(src[e] * {_fmt(2.0 ** xf)})")
        acc_t = op.accum
        value = Rng(lo, hi, frac)
        if acc_t is not None:
            at = acc_t
            cva = self.int_conv(at, frac)
            value = Rng(max(lo - at.lsb, at.min_value), min(hi + at.lsb, at.max_value), at.frac)
            acc_expr, m_frac = f"{cva}(acc[e] + bj)", at.frac
        else:
            acc_expr, m_frac = "acc[e] + bj", frac
        cvi, stmt = self.store(op, m_frac, value)
        name = op.name
        self.body.append(
            f"    /* {name} (linear {positions}x{k_in} -> {n_out}, int64: sums beyond float64) */\n"
            f"    for (int s = 0; s < {len(slots)}; ++s) {{ const T *src = A + "
            f"(int64_t){t_slots}[s] * B; int64_t *dst = I + (int64_t)s * B;\n"
            f"        for (int e = 0; e < B; ++e) dst[e] = {read}; }}\n"
            f"    for (int p = 0; p < {positions}; ++p) {{\n"
            f"        const int32_t *pr = {t_prow} + (int64_t)p * {k_in};\n"
            f"        for (int j = 0; j < {n_out}; ++j) {{\n"
            f"            VI accv[NV]; const int64_t *acc = (const int64_t *)accv; "
            f"const int64_t bj = {t_b}[j];\n"
            f"            for (int v = 0; v < NV; ++v) accv[v] = (VI){{0}};\n"
            f"            for (int q = {t_ptr}[j]; q < {t_ptr}[j + 1]; ++q) {{\n"
            f"                const VI wv = (VI){{0}} + {t_w}[q] * INT64_C({1 << shift}); "
            f"const VI *xv = (const VI *)(I + (int64_t)pr[{t_k}[q]] * B);\n"
            f"                for (int v = 0; v < NV; ++v) accv[v] += wv * xv[v];\n"
            f"            }}\n"
            f"            T *y = A + (int64_t)({int(out[0])} + p * {n_out} + j) * B;\n"
            f"            for (int e = 0; e < B; ++e) {{ const int64_t m = {acc_expr}; {stmt} }}\n"
            f"        }}\n    }}\n")
        self.rows[name] = out

    # --- operations ------------------------------------------------------------------------
    def op_input(self, op: Op) -> None:
        self.rows[op.name] = self.alloc(int(op.size))
        self.range[op.name] = Rng.of_type(op.type)

    def op_gather(self, op: Op) -> None:
        rows = self.src_rows(op.srcs, self.arrays[op.index])
        value = Rng(0.0, 0.0, 0)                  # padding reads zeros
        for src in op.srcs:
            value = value.union(self.rng(src))
        cv, out = self.conv(op.type, value, f"layer {op.name!r}")
        if cv is None:
            self.rows[op.name] = rows          # pure data movement: no code
            self.range[op.name] = out
            return
        self.emit_map(op, [rows], "a[e]", value)

    def op_linear(self, op: Op) -> None:
        name = op.name
        index = np.asarray(self.arrays[op.index], dtype=np.int64)      # (P, K)
        w = np.asarray(self.arrays[op.weight], dtype=np.float64)        # (K, J)
        b = np.asarray(self.arrays[op.bias], dtype=np.float64)          # (J,)
        positions, k_in = index.shape
        n_out = w.shape[1]
        x = self.rng(op.src)
        if (index < 0).any():
            x = x.union(Rng(0.0, 0.0, 0))
        wr, br = Rng.of_values(w), Rng.of_values(b)
        pos, neg = np.clip(w, 0, None), np.clip(w, None, 0)
        hi = float(np.max(pos.sum(0) * x.hi + neg.sum(0) * x.lo + b))
        lo = float(np.min(pos.sum(0) * x.lo + neg.sum(0) * x.hi + b))
        total = float(np.max(np.abs(w).sum(0) * x.amax + np.abs(b)))   # every partial sum
        frac = max(x.frac + wr.frac, br.frac)
        what = f"layer {name!r}"
        prow = self.src_rows([op.src], index.reshape(-1)).reshape(positions, k_in)
        js, ks = np.nonzero(w.T)          # sorted by output j, then k
        colptr = np.searchsorted(js, np.arange(n_out + 1)) if len(js) else np.zeros(n_out + 1)
        col_w = w[ks, js] if len(js) else np.zeros(0)
        if total * 2.0 ** frac >= EXACT_LIMIT or op.src in self.wide:
            out = self.alloc(positions * n_out)
            self.linear_int64(op, x, wr, br, total, lo, hi, prow, ks, colptr, col_w, b, out, what)
            return
        out = self.alloc(positions * n_out)
        t_prow = self.table("int32_t", "prow", prow)
        t_ptr = self.table("int32_t", "colptr", colptr)
        t_k = self.table("int32_t", "colk", ks)
        t_w = self.table("double", "colw", col_w)
        t_b = self.table("double", "bias", b)
        f32 = (not op.round_products and total * 2.0 ** frac < 2.0 ** 24
               and x.amax * 2.0 ** x.frac < 2.0 ** 24 and wr.amax * 2.0 ** wr.frac < 2.0 ** 24)
        if f32:      # every product and partial sum exact in float32: twice the lanes
            slots, slot_of = np.unique(prow, return_inverse=True)
            self.f32_rows = max(self.f32_rows, len(slots))
            t_slots = self.table("int32_t", "fslot", slots)
            t_fprow = self.table("int32_t", "fprow", slot_of.reshape(positions, k_in))
            t_wf = self.table("float", "colwf", col_w)
            acc_cv, acc = self.conv(op.accum, Rng(lo, hi, frac), what)
            out_cv, self.range[name] = self.conv(op.type, acc, what)
            final = _ap(out_cv, _ap(acc_cv, "(T)acc[e] + bj"))
            self.body.append(
                f"    /* {name} (linear {positions}x{k_in} -> {n_out}, {len(col_w)} nonzero "
                f"weights, float32: exact) */\n"
                f"    for (int s = 0; s < {len(slots)}; ++s) {{ const T *src = A + "
                f"(int64_t){t_slots}[s] * B; float *dst = F + (int64_t)s * B;\n"
                f"        for (int e = 0; e < B; ++e) dst[e] = (float)src[e]; }}\n"
                f"    for (int p = 0; p < {positions}; ++p) {{\n"
                f"        const int32_t *pr = {t_fprow} + (int64_t)p * {k_in};\n"
                f"        for (int j = 0; j < {n_out}; ++j) {{\n"
                f"            VF accv[NVF]; const float *acc = (const float *)accv; "
                f"const double bj = {t_b}[j];\n"
                f"            for (int v = 0; v < NVF; ++v) accv[v] = (VF){{0}};\n"
                f"            for (int q = {t_ptr}[j]; q < {t_ptr}[j + 1]; ++q) {{\n"
                f"                const VF wv = (VF){{0}} + {t_wf}[q]; const VF *xv = (const VF *)"
                f"(F + (int64_t)pr[{t_k}[q]] * B);\n"
                f"                for (int v = 0; v < NVF; ++v) accv[v] += wv * xv[v];\n"
                f"            }}\n"
                f"            T *y = A + (int64_t)({int(out[0])} + p * {n_out} + j) * B;\n"
                f"            for (int e = 0; e < B; ++e) y[e] = {final};\n"
                f"        }}\n    }}\n")
            self.rows[name] = out
            return
        if op.round_products:     # each product converted alone: scalar lanes
            term_cv, term = self.conv(op.accum, _mul(x, wr), what)
            n_terms = int(np.max((w != 0).sum(0))) if w.size else 0
            acc_in = Rng(n_terms * term.lo + min(br.lo, 0), n_terms * term.hi + max(br.hi, 0),
                         max(term.frac, br.frac))
            inner = (f"                for (int e = 0; e < B; ++e) acc[e] += "
                     f"{_ap(term_cv, 'w * x[e]')};\n")
        else:                             # explicit vectors: the compiler vectorises events
            acc_in = Rng(lo, hi, frac)
            inner = ("                const V wv = (V){0} + w; const V *xv = (const V *)x;\n"
                     "                for (int v = 0; v < NV; ++v) accv[v] += wv * xv[v];\n")
        acc_cv, acc = self.conv(op.accum, acc_in, what)
        out_cv, self.range[name] = self.conv(op.type, acc, what)
        final = _ap(out_cv, _ap(acc_cv, "acc[e] + bj"))
        decl = "V accv[NV]; T *acc = (T *)accv; for (int v = 0; v < NV; ++v) accv[v] = (V){0};"
        self.body.append(
            f"    /* {name} (linear {positions}x{k_in} -> {n_out}, "
            f"{len(col_w)} nonzero weights) */\n"
            f"    for (int p = 0; p < {positions}; ++p) {{\n"
            f"        const int32_t *pr = {t_prow} + (int64_t)p * {k_in};\n"
            f"        for (int j = 0; j < {n_out}; ++j) {{\n"
            f"            {decl} const double bj = {t_b}[j];\n"
            f"            for (int q = {t_ptr}[j]; q < {t_ptr}[j + 1]; ++q) {{\n"
            f"                const double w = {t_w}[q]; const double *x = A + (int64_t)pr[{t_k}[q]] * B;\n"
            + inner +
            f"            }}\n"
            f"            T *y = A + (int64_t)({int(out[0])} + p * {n_out} + j) * B;\n"
            f"            for (int e = 0; e < B; ++e) y[e] = {final};\n"
            f"        }}\n    }}\n")
        self.rows[name] = out

    def op_relu(self, op: Op) -> None:
        x = self.rng(op.src)
        if op.src in self.wide:          # int64 mantissas: max(m, 0), then the conversion
            out = self.alloc(len(self.rows[op.src]))
            t_rows = self.table("int32_t", "r0_", self.rows[op.src])
            cvi, stmt = self.store(op, self.wide[op.src], Rng(max(x.lo, 0.0), max(x.hi, 0.0),
                                                                 x.frac))
            self.body.append(
                f"    /* {op.name} (relu on int64 mantissas) */\n"
                f"    for (int i = 0; i < {len(out)}; ++i) {{ const T *a = A + "
                f"(int64_t){t_rows}[i] * B;\n"
                f"        T *y = A + (int64_t)({int(out[0])} + i) * B;\n"
                f"        for (int e = 0; e < B; ++e) {{ const int64_t v = ld_i64(a + e), m = v > 0 ? v : 0; "
                f"{stmt} }}\n    }}\n")
            self.rows[op.name] = out
            return
        self.emit_map(op, [self.rows[op.src]], "a[e] > 0.0 ? a[e] : 0.0",
                      Rng(max(x.lo, 0.0), max(x.hi, 0.0), x.frac))

    def op_binary(self, op: Op) -> None:
        ra = self.rows[op.a][np.asarray(self.arrays[op.a_index])]
        rb = self.rows[op.b][np.asarray(self.arrays[op.b_index])]
        a, b = self.rng(op.a), self.rng(op.b)
        f = max(a.frac, b.frac)
        fn = op.fn
        value = {"add": lambda: Rng(a.lo + b.lo, a.hi + b.hi, f),
                 "sub": lambda: Rng(a.lo - b.hi, a.hi - b.lo, f),
                 "avg": lambda: Rng((a.lo + b.lo) / 2, (a.hi + b.hi) / 2, f + 1),
                 "mul": lambda: _mul(a, b),
                 "max": lambda: Rng(max(a.lo, b.lo), max(a.hi, b.hi), f),
                 "min": lambda: Rng(min(a.lo, b.lo), min(a.hi, b.hi), f)}[fn]()
        expr = {"add": "a[e] + b[e]", "sub": "a[e] - b[e]", "avg": "(a[e] + b[e]) * 0.5",
                "mul": "a[e] * b[e]", "max": "a[e] > b[e] ? a[e] : b[e]",
                "min": "a[e] < b[e] ? a[e] : b[e]"}[fn]
        self.emit_map(op, [ra, rb], expr, value)

    def op_affine(self, op: Op) -> None:
        rows = self.rows[op.src]
        size = len(rows)
        scale = np.broadcast_to(np.asarray(self.arrays[op.scale], np.float64).reshape(-1),
                                (size,))
        bias = np.broadcast_to(np.asarray(self.arrays[op.bias], np.float64).reshape(-1),
                               (size,))
        x = self.rng(op.src)
        ends = np.stack([x.lo * scale, x.hi * scale]) + bias
        value = Rng(float(ends.min()), float(ends.max()),
                    max(x.frac + _frac_of(scale), _frac_of(bias)))
        ts, tb = self.table("double", "scale", scale), self.table("double", "shift", bias)
        self.emit_map(op, [rows], "a[e] * s + c", value,
                      pre=f"const double s = {ts}[i], c = {tb}[i];")

    def op_reduce(self, op: Op) -> None:
        name = op.name
        index = np.asarray(self.arrays[op.index], dtype=np.int64)     # (outputs, window)
        src = self.rows[op.src]
        pad_value = float(op.pad)
        pad = self.const_row(pad_value)
        rows = np.where(index < 0, pad, src[np.clip(index, 0, None)])
        n_out, window = rows.shape
        out = self.alloc(n_out)
        t = self.table("int32_t", "win", rows)
        value = self.rng(op.src)
        if (index < 0).any():
            value = value.union(Rng(pad_value, pad_value, _frac_of([pad_value])))
        acc_cv, acc = self.conv(op.accum, value, f"layer {name!r}")
        out_cv, self.range[name] = self.conv(op.type, acc, f"layer {name!r}")
        self.body.append(
            f"    /* {name} (max over {window}) */\n"
            f"    for (int i = 0; i < {n_out}; ++i) {{\n"
            f"        T m[B]; const int32_t *w = {t} + (int64_t)i * {window};\n"
            f"        for (int e = 0; e < B; ++e) m[e] = A[(int64_t)w[0] * B + e];\n"
            f"        for (int q = 1; q < {window}; ++q) {{ const T *x = A + (int64_t)w[q] * B;\n"
            f"            for (int e = 0; e < B; ++e) m[e] = x[e] > m[e] ? x[e] : m[e]; }}\n"
            f"        T *y = A + (int64_t)({int(out[0])} + i) * B;\n"
            f"        for (int e = 0; e < B; ++e) y[e] = {_ap(out_cv, _ap(acc_cv, 'm[e]'))};\n"
            f"    }}\n")
        self.rows[name] = out

    def op_avgpool(self, op: Op) -> None:
        name = op.name
        what = f"layer {name!r}"
        index = np.asarray(self.arrays[op.index], dtype=np.int64)
        lengths = np.asarray(self.arrays[op.lengths], dtype=np.int64).reshape(-1)
        src = self.rows[op.src]
        n_out, window = index.shape
        # the valid entries of each window first, their count beside
        rows = np.zeros_like(index)
        count = np.zeros(n_out, dtype=np.int64)
        for i in range(n_out):
            valid = index[i][index[i] >= 0]
            rows[i, :len(valid)] = src[valid]
            count[i] = len(valid)
        out = self.alloc(n_out)
        add_cv, term = self.conv(op.addend, self.rng(op.src), what)
        accum = op.accum
        acc_type = Rng.of_type(accum).union(term)
        acc_cv, _ = self.conv(accum, Rng(acc_type.lo + term.lo, acc_type.hi + term.hi,
                                         acc_type.frac), what)
        acc_f = accum.frac
        out_cv, self.range[name] = self.conv(op.type, Rng.of_type(accum), what)
        term_e = _ap(add_cv, "x[e]")
        t_rows, t_cnt = self.table("int32_t", "win", rows), self.table("int32_t", "cnt", count)
        t_len = self.table("double", "len", lengths.astype(np.float64))
        self.body.append(
            f"    /* {name} (average over {window}) */\n"
            f"    for (int i = 0; i < {n_out}; ++i) {{\n"
            f"        T s[B]; const int32_t *w = {t_rows} + (int64_t)i * {window};\n"
            f"        const int c = {t_cnt}[i]; const double len = {t_len}[i];\n"
            f"        T *y = A + (int64_t)({int(out[0])} + i) * B;\n"
            f"        if (c == 0) {{ for (int e = 0; e < B; ++e) y[e] = {_ap(out_cv, '0.0')}; "
            f"continue; }}\n"
            f"        {{ const T *x = A + (int64_t)w[0] * B;\n"
            f"          for (int e = 0; e < B; ++e) s[e] = {_ap(acc_cv, term_e)}; }}\n"
            f"        for (int q = 1; q < c; ++q) {{ const T *x = A + (int64_t)w[q] * B;\n"
            f"            for (int e = 0; e < B; ++e) s[e] = {_ap(acc_cv, 's[e] + ' + term_e)}; }}\n"
            f"        for (int e = 0; e < B; ++e) y[e] = "
            f"{_ap(out_cv, f'trunc(s[e] * {_fmt(2.0 ** acc_f)} / len) * {_fmt(2.0 ** -acc_f)}')};\n"
            f"    }}\n")
        self.rows[name] = out

    def op_quantize(self, op: Op) -> None:
        """HGQ's per-value quantizer: each value converted to its own type (a loop per
        distinct type over its values; pruned values are the zero row), then to the
        layer's result type."""
        name = op.name
        rows = self.rows[op.src]
        x = self.rng(op.src)
        out = self.alloc(len(rows))
        group = np.asarray(self.arrays[op.group], dtype=np.int64)
        value: Rng | None = None
        for g, t in enumerate(op.types):
            members = np.nonzero(group == g)[0]
            if members.size == 0:
                continue
            if t is None:
                expr, r = "0.0", Rng(0.0, 0.0, 0)
            else:
                cv, r = self.conv(t, x, f"layer {name!r}")
                expr = _ap(cv, "a[e]")
            cv2, r = self.conv(op.type, r, f"layer {name!r}")
            value = r if value is None else value.union(r)
            src = self.table("int32_t", "r0_", rows[members])
            dst = self.table("int32_t", "d_", out[members])
            self.body.append(
                f"    /* {name} (quantize, {t if t else 'pruned'}) */\n"
                f"    for (int j = 0; j < {members.size}; ++j) {{ const T *a = A + "
                f"(int64_t){src}[j] * B; T *y = A + (int64_t){dst}[j] * B;\n"
                f"        SIMD for (int e = 0; e < B; ++e) y[e] = {_ap(cv2, expr)};\n    }}\n")
        self.range[name] = value or Rng(0.0, 0.0, 0)
        self.rows[name] = out

    def op_table(self, op: Op) -> None:
        in_pos = np.asarray(self.arrays[op.in_pos], dtype=np.int64)
        table_id = np.asarray(self.arrays[op.table_id], dtype=np.int64)
        tables = np.asarray(self.arrays[op.tables], dtype=np.float64)
        t_in = op.in_type
        rows = self.rows[op.src][in_pos]
        t = self.table("double", "tab", tables)
        offs = self.table("int32_t", "toff", table_id * tables.shape[1])
        self.emit_map(op, [rows], f"tb[(int)(a[e] * {_fmt(2.0 ** t_in.frac)}) - "
                      f"({t_in.min_mantissa})]", Rng.of_values(tables),
                      pre=f"const double *tb = {t} + {offs}[i];")

    def op_table_index(self, op: Op) -> None:
        rows = self.rows[op.src]
        table = np.asarray(self.arrays[op.table], dtype=np.float64)
        t = self.table("double", "tab", table)
        size, half, span = int(op.size), int(op.half), float(op.span)
        tcv, value = self.conv(op.table_type, Rng.of_values(table), f"layer {op.name!r}")
        self.emit_map(op, [rows], _ap(tcv, f"{t}[(int)idx_clip(trunc(a[e] / {_fmt(span)} * "
                      f"{_fmt(size)}) + {half}.0, {size - 1}.0)]"), value)

    def op_elu(self, op: Op) -> None:
        rows = self.rows[op.src]
        table = np.asarray(self.arrays[op.table], dtype=np.float64)
        t = self.table("double", "tab", table)
        size = int(op.size)
        x = self.rng(op.src)
        lam, alpha = float(op.lam), float(op.alpha)
        pos = _mul(Rng(0.0, max(x.hi, 0.0), x.frac), Rng(lam, lam, _frac_of([lam])))
        neg = _mul(Rng.of_values(table), Rng(alpha, alpha, _frac_of([alpha])))
        self.emit_map(op, [rows], f"a[e] >= 0.0 ? a[e] * {_fmt(lam)} : {t}[(int)idx_clip("
                      f"trunc(a[e] / -8.0 * {_fmt(size)}), {size - 1}.0)] * {_fmt(alpha)}",
                      pos.union(neg))

    def op_select_pos(self, op: Op) -> None:
        alpha = np.asarray(self.arrays[op.alpha], dtype=np.float64)
        t = self.table("double", "alpha", alpha)
        x = self.rng(op.src)
        scaled = _mul(Rng(min(x.lo, 0.0), 0.0, x.frac), Rng.of_values(alpha))
        value = Rng(max(x.lo, 0.0) if x.lo > 0 else 0.0, max(x.hi, 0.0), x.frac).union(scaled)
        self.emit_map(op, [self.rows[op.src]], "a[e] > 0.0 ? a[e] : a[e] * al", value,
                      pre=f"const double al = {t}[i];")

    def op_threshold(self, op: Op) -> None:
        x = self.rng(op.src)
        keep = f"a[e] > {_fmt(op.theta)}"
        if op.negative_passes:      # ap_fixed's signed/unsigned comparison
            keep = f"({keep} || a[e] < 0.0)"
        self.emit_map(op, [self.rows[op.src]], f"{keep} ? a[e] : 0.0",
                      x.union(Rng(0.0, 0.0, 0)))

    def op_ternary(self, op: Op) -> None:
        hi = self.table("double", "hi", self.arrays[op.hi])
        lo = self.table("double", "lo", self.arrays[op.lo])
        self.emit_map(op, [self.rows[op.src]], "a[e] > h ? 1.0 : (a[e] > l ? 0.0 : -1.0)",
                      Rng(-1.0, 1.0, 0), pre=f"const double h = {hi}[i], l = {lo}[i];")

    def op_hard(self, op: Op) -> None:
        slope, shift = float(op.slope), float(op.shift)
        x = self.rng(op.src)
        inner = _mul(x, Rng(slope, slope, _frac_of([slope])))
        inner = Rng(inner.lo + shift, inner.hi + shift, max(inner.frac, _frac_of([shift])))
        self.conv(None, inner, f"layer {op.name!r}")          # exactness of slope x + shift
        h = f"clamp01(a[e] * {_fmt(slope)} + {_fmt(shift)})"
        value = Rng(-1.0 if op.twice else 0.0, 1.0, inner.frac)
        self.emit_map(op, [self.rows[op.src]], f"{h} * 2.0 - 1.0" if op.twice else h,
                      value)

    def op_sign(self, op: Op) -> None:
        low = float(op.low)
        self.emit_map(op, [self.rows[op.src]], f"a[e] < 0.0 ? {_fmt(low)} : 1.0",
                      Rng(min(low, 1.0), 1.0, 0))

    def op_embed(self, op: Op) -> None:
        table = np.asarray(self.arrays[op.table], dtype=np.float64)
        n_rows, depth = table.shape
        src = self.rows[op.src]
        rows = np.repeat(src, depth)
        t = self.table("double", "emb", table)
        self.emit_map(op, [rows], f"{t}[(int)idx_clip(floor(a[e]), {n_rows - 1}.0) * {depth} + "
                      f"i % {depth}]", Rng.of_values(table))

    def op_dot(self, op: Op) -> None:
        name = op.name
        what = f"layer {name!r}"
        ra, rb = self.rows[op.a], self.rows[op.b]
        out = self.alloc(1)
        accum = op.accum
        prod_cv, prod = self.conv(accum, _mul(self.rng(op.a), self.rng(op.b)), what)
        held = Rng.of_type(accum).union(prod)
        acc_cv, _ = self.conv(accum, Rng(held.lo + prod.lo, held.hi + prod.hi, held.frac), what)
        out_cv, self.range[name] = self.conv(op.type, held, what)
        ta, tb = self.table("int32_t", "da", ra), self.table("int32_t", "db", rb)
        self.body.append(
            f"    /* {name} (dot of {len(ra)}) */\n"
            f"    {{ T s[B]; T *y = A + (int64_t){int(out[0])} * B;\n"
            f"      for (int e = 0; e < B; ++e) s[e] = "
            f"{_ap(prod_cv, f'A[(int64_t){ta}[0] * B + e] * A[(int64_t){tb}[0] * B + e]')};\n"
            f"      for (int q = 1; q < {len(ra)}; ++q) {{ const T *x = A + (int64_t){ta}[q] * B,"
            f" *z = A + (int64_t){tb}[q] * B;\n"
            f"          for (int e = 0; e < B; ++e) s[e] = "
            f"{_ap(acc_cv, 's[e] + ' + _ap(prod_cv, 'x[e] * z[e]'))}; }}\n"
            f"      for (int e = 0; e < B; ++e) y[e] = {_ap(out_cv, 's[e]')}; }}\n")
        self.rows[name] = out

    def op_softmax(self, op: Op) -> None:
        src = self.rows[op.src]
        n_outer, n_slice, n_inner = int(op.n_outer), int(op.n_slice), int(op.n_inner)
        slices = []
        for o in range(n_outer):
            for c in range(n_inner):
                slices.append([o * n_slice * n_inner + j * n_inner + c for j in range(n_slice)])
        pos = np.asarray(slices, dtype=np.int64)                 # (slices, n_slice)
        out = self.alloc(len(src))
        t_src = self.table("int32_t", "sm_in", src[pos])
        t_dst = self.table("int32_t", "sm_out", out[pos])
        name = op.name
        what = f"layer {name!r}"
        head = (f"    /* {name} (softmax {op.implementation}, {len(slices)} x {n_slice}) */\n"
                f"    for (int s = 0; s < {len(slices)}; ++s) {{\n"
                f"        const T *x[{n_slice}]; T *y[{n_slice}];\n"
                f"        for (int j = 0; j < {n_slice}; ++j) {{ x[j] = A + (int64_t){t_src}"
                f"[s * {n_slice} + j] * B; y[j] = A + (int64_t){t_dst}[s * {n_slice} + j] * B; }}\n")
        if op.implementation == "argmax":
            out_cv, self.range[name] = self.conv(op.type, Rng(0.0, 1.0, 0), what)
            out_cv = out_cv or ""
            self.body.append(
                head + f"        SIMD for (int e = 0; e < B; ++e) {{ int best = 0;\n"
                f"            for (int j = 1; j < {n_slice}; ++j) if (x[j][e] > x[best][e]) best = j;\n"
                f"            for (int j = 0; j < {n_slice}; ++j) y[j][e] = {out_cv}(j == best ? 1.0 : 0.0); }}\n"
                f"    }}\n")
            self.rows[name] = out
            return
        if op.implementation == "legacy":
            se, si = int(op.exp_size), int(op.inv_size)
            exp_v = np.asarray(self.arrays[op.exp_table], dtype=np.float64)
            inv_v = np.asarray(self.arrays[op.inv_table], dtype=np.float64)
            exp_t, inv_t = self.table("double", "exp", exp_v), self.table("double", "inv", inv_v)
            x = self.rng(op.src)
            self.conv(None, Rng(x.lo - x.hi, x.hi - x.lo, x.frac), what)   # the differences
            held = Rng.of_type(op.table_type).union(Rng.of_values(exp_v)).union(
                Rng(1.0, 1.0, 0))
            tcv, _ = self.conv(op.table_type, Rng(2 * min(held.lo, 0), 2 * max(held.hi, 0),
                                                     held.frac), what)
            tcv = tcv or ""
            out_cv, self.range[name] = self.conv(op.type, Rng.of_values(inv_v), what)
            out_cv = out_cv or ""
            self.body.append(
                head + f"        SIMD for (int e = 0; e < B; ++e) for (int i = 0; i < {n_slice}; ++i) {{\n"
                f"            T acc = 0.0;\n"
                f"            for (int j = 0; j < {n_slice}; ++j) acc = {tcv}(acc + (i == j ? 1.0 : "
                f"{exp_t}[(int)idx_clip(trunc((x[j][e] - x[i][e]) * {_fmt(se)} / 16.0) + "
                f"{se // 2}.0, {se - 1}.0)]));\n"
                f"            y[i][e] = {out_cv}({inv_t}[(int)idx_clip(trunc(acc * {_fmt(si)} / 64.0), "
                f"{si - 1}.0)]);\n        }}\n    }}\n")
            self.rows[name] = out
            return
        key = op.key_type
        x = self.rng(op.src)
        key_cv, _ = self.conv(key, Rng(x.lo - x.hi, x.hi - x.lo, x.frac), what)
        key_cv = key_cv or ""
        exp_v = np.asarray(self.arrays[op.exp_table], dtype=np.float64)
        inv_v = np.asarray(self.arrays[op.inv_table], dtype=np.float64)
        held = Rng.of_type(op.accum).union(Rng.of_values(exp_v))
        pair = Rng(2 * min(held.lo, 0), 2 * max(held.hi, 0), held.frac)
        accum, _ = self.conv(op.accum, pair, what)
        accum = accum or ""
        inv_inp_t = op.inv_inp
        inv_inp, _ = self.conv(inv_inp_t, pair, what)
        inv_inp = inv_inp or ""
        out_cv, self.range[name] = self.conv(op.type, _mul(Rng.of_values(exp_v),
                                                             Rng.of_values(inv_v)), what)
        out_cv = out_cv or ""
        exp_t, inv_t = self.table("double", "exp", exp_v), self.table("double", "inv", inv_v)

        def top_bits(value: str, t: FixedType, bits: int) -> str:
            fp = t.frac - (t.width - bits)
            return (f"top_bits(({value}) * {_fmt(2.0 ** fp)}, {_fmt(2.0 ** bits)}, "
                    f"{_fmt(2.0 ** -bits)})")

        def tree(items: list[str]) -> str:
            if len(items) == 1:
                return items[0]
            left = 1 << ((len(items) - 1).bit_length() - 1)
            return f"{accum}({tree(items[:left])} + {tree(items[left:])})"

        lines = [head, "        SIMD for (int e = 0; e < B; ++e) {\n"]
        lines.append(f"            T k[{n_slice}], ex[{n_slice}];\n")
        if op.implementation == "stable":
            lines.append("            T mx = x[0][e];\n"
                         f"            for (int j = 1; j < {n_slice}; ++j) mx = x[j][e] > mx ? "
                         "x[j][e] : mx;\n"
                         f"            for (int j = 0; j < {n_slice}; ++j) k[j] = {key_cv}"
                         "(mx - x[j][e]);\n")
        else:
            lines.append(f"            for (int j = 0; j < {n_slice}; ++j) k[j] = x[j][e];\n")
        lines.append(f"            for (int j = 0; j < {n_slice}; ++j) ex[j] = {exp_t}"
                     f"[(int){top_bits('k[j]', key, int(op.exp_bits))}];\n")
        total = tree([f"ex[{j}]" for j in range(n_slice)])
        lines.append(f"            const T tot = {inv_inp}({total});\n")
        lines.append(f"            const T inv = {inv_t}"
                     f"[(int){top_bits('tot', inv_inp_t, int(op.inv_bits))}];\n")
        lines.append(f"            for (int j = 0; j < {n_slice}; ++j) y[j][e] = {out_cv}"
                     "(ex[j] * inv);\n        }\n    }\n")
        self.body.append("".join(lines))
        self.rows[name] = out

    # --- the whole program -----------------------------------------------------------------
    def source(self) -> tuple[str, int, list[int], list[int]]:
        ops = self.program.ops
        for op in ops:
            self.held[op.name] = op.type
            handler = _EMITTERS.get(type(op))
            if handler is None:
                raise NoCForm(f"layer {op.name!r}: operation {op.op!r} has no C form")
            if not isinstance(op, LinearOp | ReluOp) and any(
                    s in self.wide for s in op.sources()):
                raise NoCForm(f"layer {op.name!r}: {op.op} of values beyond float64 (the "
                              "engine takes those only into linear maps and relu)")
            handler(self, op)
        in_rows = [self.rows[name] for name in self.program.inputs]
        out_rows = [self.rows[name] for name in self.program.outputs]
        n_rows = self.n_rows
        block = 16
        while block < 64 and n_rows * (block * 2) * 8 <= BLOCK_BYTES:
            block *= 2
        in_types = [self.held[name] for name in self.program.inputs]
        out_types = [self.held[name] for name in self.program.outputs]
        parts = ["#include <math.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n",
                 "typedef double T;   /* every value exact: the emulator's float path */\n",
                 f"#define B {block}\n#define NV (B / 8)\n#define NVF (B / 16)\n",
                 "typedef double V __attribute__((vector_size(64)));\n",
                 "typedef float VF __attribute__((vector_size(64)));\n",
                 "typedef int64_t VI __attribute__((vector_size(64)));\n",
                 "#define SIMD _Pragma(\"omp simd\")   /* events are independent */\n",
                 "/* int64 mantissas in arena rows (memcpy: no aliasing of the doubles) */\n"
                 "static inline int64_t ld_i64(const T *p) { int64_t m; memcpy(&m, p, 8); return m; }\n"
                 "static inline void st_i64(T *p, int64_t m) { memcpy(p, &m, 8); }\n",
                 "static inline T idx_clip(T v, T hi) "
                 "{ return v < 0.0 ? 0.0 : (v > hi ? hi : v); }\n",
                 "static inline T clamp01(T v) "
                 "{ return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }\n",
                 "static inline T top_bits(T m, T n, T inv) "
                 "{ m = floor(m); return m - n * floor(m * inv); }\n"]
        # input conversion (from the caller's float64 values), as FixedType.round_float
        for rows in in_rows:    # the input conversion writes the rows as one block
            assert np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))
        conv_in = [_input_conversion(j, t, len(rows), self.types.conv(t, None, '', full=True)[0])
                   for j, (t, rows) in enumerate(zip(in_types, in_rows, strict=True))]
        parts += self.types.code
        if self.external:   # the data's hash names the library: one library, one data set
            digest = hashlib.sha256(b"".join(a.tobytes() for a in self.external)).hexdigest()
            parts.append(f"/* external data {digest} */\n")
        parts += self.data
        parts.append("void set_data(const void *const *p) {\n" + "".join(self.set_data) + "}\n")
        for j, rows in enumerate(in_rows):
            parts.append(_c_array("int32_t", f"in_rows{j}", rows))
        conv_out = []
        for j, (t, rows) in enumerate(zip(out_types, out_rows, strict=True)):
            parts.append(_c_array("int32_t", f"out_rows{j}", rows))
            value = ("ld_i64(y + e)" if self.program.outputs[j] in self.wide
                     else f"(int64_t)(y[e] * {_fmt(2.0 ** t.frac)})")
            conv_out.append(
                f"    for (int i = 0; i < {len(rows)}; ++i) {{ const T *y = A + "
                f"(int64_t)out_rows{j}[i] * B;\n"
                f"        for (int e = 0; e < ne; ++e) out[{j}][(start + e) * {len(rows)} + i] = "
                f"{value}; }}\n")
        consts = "".join(
            f"    for (int e = 0; e < B; ++e) A[(int64_t){row} * B + e] = {_fmt(v)};\n"
            for v, row in self.consts.items())
        parts.append(
            "static void block(T *A, float *F, int64_t *I, const double *const *in, "
            "int64_t *const *out, "
            "int64_t start, int ne) {\n" + "".join(conv_in) + "".join(self.body)
            + "".join(conv_out) + "}\n")
        parts.append(
            f"int run(const double *const *in, int64_t *const *out, int64_t n, int threads) {{\n"
            f"    const int64_t nb = (n + B - 1) / B;\n"
            f"    int failed = 0;\n"
            f"    #pragma omp parallel num_threads(threads)\n"
            f"    {{\n"
            f"        T *A = (T *)aligned_alloc(64, (size_t){n_rows} * B * sizeof(T));\n"
            f"        float *F = (float *)aligned_alloc(64, (size_t){self.f32_rows} * B * "
            f"sizeof(float));\n"
            f"        int64_t *I = (int64_t *)aligned_alloc(64, (size_t){self.i64_rows} * B * "
            f"sizeof(int64_t));\n"
            f"        if (!A || !F || !I) {{\n            free(A); free(F); free(I);\n"
            f"            #pragma omp atomic write\n            failed = 1;\n"
            f"        }} else {{\n"
            f"            memset(A, 0, (size_t){n_rows} * B * sizeof(T));\n{consts}"
            f"            #pragma omp for schedule(dynamic, 16)\n"
            f"            for (int64_t b = 0; b < nb; ++b) {{\n"
            f"                const int64_t start = b * B;\n"
            f"                const int ne = (int)(n - start < B ? n - start : B);\n"
            f"                block(A, F, I, in, out, start, ne);\n"
            f"            }}\n"
            f"            free(A); free(F); free(I);\n        }}\n    }}\n    return failed;\n}}\n")
        parts.append(f"int block_size(void) {{ return B; }}\nint arena_rows(void) "
                     f"{{ return {n_rows}; }}\n")
        return "".join(parts), block, [len(r) for r in in_rows], [len(r) for r in out_rows]


def _input_conversion(j: int, t: FixedType, size: int, cv: str) -> str:
    """The caller's float64 inputs rounded to the input type, then its overflow (as
    :meth:`FixedType.round_float` and :meth:`FixedType.apply_overflow`): one vectorised
    conversion per row; values of 2**52 LSBs and more (integers already) take an int64
    path, lane by lane."""
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        lo = -hi
    if t.overflow in ("SAT", "SAT_SYM"):
        ovf = f"m = m < {lo}LL ? {lo}LL : (m > {hi}LL ? {hi}LL : m);"
    elif t.overflow == "SAT_ZERO":
        ovf = f"m = (m < {lo}LL || m > {hi}LL) ? 0 : m;"
    else:
        ovf = (f"if (m < {lo}LL || m > {hi}LL) {{ int64_t r = (int64_t)((uint64_t)m - "
               f"(uint64_t)({lo}LL)) & (int64_t)((1ULL << {t.width}) - 1ULL); m = r + ({lo}LL); }}")
    scale = _fmt(2.0 ** t.frac)
    return (f"    {{ T *y0 = A + (int64_t)in_rows{j}[0] * B;   /* the rows are contiguous */\n"
            f"      for (int e = 0; e < ne; ++e) {{ const double *src = in[{j}] + (start + e) * "
            f"{size};\n"
            f"        for (int i = 0; i < {size}; ++i) y0[(int64_t)i * B + e] = src[i]; }} }}\n"
            f"    for (int i = 0; i < {size}; ++i) {{ T *y = A + (int64_t)in_rows{j}[i] * B;"
            f" int big = 0;\n"
            f"        _Pragma(\"omp simd reduction(|:big)\")\n"
            f"        for (int e = 0; e < ne; ++e) big |= !(fabs(y[e] * {scale}) < "
            f"4503599627370496.0);\n"
            f"        for (int e = ne; e < B; ++e) y[e] = 0.0;\n"
            f"        if (big) {{ for (int e = 0; e < ne; ++e) {{\n"
            f"            T v = y[e] * {scale};\n"
            f"            if (fabs(v) < 4503599627370496.0) {{ y[e] = {cv}(y[e]); continue; }}\n"
            f"            v = v < -4611686018427387904.0 ? -4611686018427387904.0 : "
            f"(v > 4611686018427386880.0 ? 4611686018427386880.0 : v);\n"
            f"            int64_t m = (int64_t)v; {ovf}\n"
            f"            y[e] = (T)m * {_fmt(2.0 ** -t.frac)}; }}\n"
            f"            for (int e = ne; e < B; ++e) y[e] = {cv}(y[e]);\n"
            f"        }} else {{ for (int e = 0; e < B; ++e) y[e] = {cv}(y[e]); }}\n    }}\n")


#: tables bigger than this are handed to the library at load time (compiling megabytes of
#: initialisers takes seconds)
EXTERNAL_MIN = 4096
#: The C emitter of each operation class (``_Gen.op_<tag>``).
_EMITTERS = {cls: getattr(_Gen, f"op_{tag}") for tag, cls in _ops.OPS.items()
             if hasattr(_Gen, f"op_{tag}")}

_EXTERNAL: dict[str, list[np.ndarray]] = {}
_LOAD_LOCK = threading.Lock()


class CompiledModel:
    """A spec's generated engine, compiled and loaded (see the module docstring)."""

    def __init__(self, spec, emulator, table_bits: int = 12) -> None:
        from triginfer.emulation import engine
        from triginfer.emulation.program import build_program

        started = time.perf_counter()
        try:
            program, arrays = build_program(spec, emulator, table_bits=table_bits, engine=True)
        except UnsupportedModelError as exc:
            raise NoCForm(str(exc)) from exc
        gen = _Gen(program, arrays, emulator)
        source, self.block, self.in_sizes, self.out_sizes = gen.source()
        # TRIGINFER_ENGINE_OPT (e.g. -O1) trades speed for compile time: the spec fuzzer
        # compiles hundreds of one-off specs; the default is FLAGS' -O3
        opt = os.environ.get("TRIGINFER_ENGINE_OPT")
        flags = [opt, *FLAGS[1:]] if opt in ("-O0", "-O1", "-O2", "-O3") else FLAGS
        path = engine._compile("spec", source, flags=flags, timeout=600)
        with _LOAD_LOCK:
            self.lib = ctypes.CDLL(str(path))
            if str(path) not in _EXTERNAL:   # the library's tables point into these for good
                _EXTERNAL[str(path)] = gen.external
                ptrs = (ctypes.c_void_p * max(1, len(gen.external)))(
                    *[a.ctypes.data for a in gen.external])
                self.lib.set_data(ptrs)
        self.lib.run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
        self.lib.run.restype = ctypes.c_int
        self.source_bytes = len(source)
        self.source = source
        self.seconds = time.perf_counter() - started

    def run(self, inputs: list[np.ndarray], threads: int) -> list[np.ndarray]:
        """Output mantissas (int64) for float64 inputs ``(n, size)`` (one array per input)."""
        n = len(inputs[0])
        ins = [np.ascontiguousarray(a.reshape(n, -1), dtype=np.float64) for a in inputs]
        outs = [np.empty((n, size), dtype=np.int64) for size in self.out_sizes]
        in_ptrs = (ctypes.c_void_p * len(ins))(*[a.ctypes.data for a in ins])
        out_ptrs = (ctypes.c_void_p * len(outs))(*[a.ctypes.data for a in outs])
        if self.lib.run(in_ptrs, out_ptrs, n, max(1, int(threads))):
            raise MemoryError("compiled engine: no memory for a block's arena")
        return outs


def build(spec, emulator) -> tuple[CompiledModel | None, str]:
    """The emulator's compiled engine, or ``(None, reason)`` when it cannot be built."""
    if os.environ.get("TRIGINFER_NO_ENGINE"):
        return None, "TRIGINFER_NO_ENGINE is set"
    from triginfer.firmware.spec import SPEC_FAULTS

    try:
        return CompiledModel(spec, emulator), ""
    except SPEC_FAULTS as exc:   # the numpy reference ran this spec: a corrupt spec, told once
        raise InputFileError(f"firmware {spec.name!r}: the generated engine cannot be built "
                             f"({type(exc).__name__}: {str(exc)[:200]}); the spec is "
                             "inconsistent, re-export the firmware") from exc
    except (NoCForm, OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return None, (str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
