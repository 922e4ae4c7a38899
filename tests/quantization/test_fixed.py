"""quantization.fixed against C++ ap_fixed: exhaustive over every rounding and overflow mode.

A small C++ harness, compiled with g++ against the ap_types headers that
hls4ml ships, converts every value of a fine grid (a quarter LSB, twice the
range) to ``ap_fixed``/``ap_ufixed<W, I, Q, O>`` for all widths W <= 8, several
integer widths, all 7 rounding and all 4 overflow modes, and prints the
mantissas; wider types (up to 32 bits) are checked on sampled values. The
numpy implementation must agree exactly.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from triginfer.quantization.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType

NARROW = [(w, i) for w in range(1, 9) for i in sorted({-1, 1, w // 2, w + 1})]
WIDE = [(12, 4), (18, 8), (24, 2), (32, 10)]


def _grid(width: int, integer: int) -> np.ndarray:
    """Every multiple of a quarter LSB in twice the signed range."""
    frac = width - integer
    k = np.arange(-(2 ** (width + 2)), 2 ** (width + 2))
    return np.ldexp(k.astype(np.float64), -(frac + 2))


def _sampled(width: int, integer: int, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(width * 100 + integer)
    frac = width - integer
    k = rng.integers(-(2 ** (width + 2)), 2 ** (width + 2), n)
    return np.ldexp(k.astype(np.float64), -(frac + 2))


CASES = [(w, i, s, q, o) for (w, i) in NARROW + WIDE for s in (True, False)
         for q in ROUNDING_MODES for o in OVERFLOW_MODES]


def _values(w: int, i: int) -> np.ndarray:
    return _grid(w, i) if w <= 8 else _sampled(w, i)


@pytest.fixture(scope="module")
def ap_fixed_results(tmp_path_factory) -> dict:
    import hls4ml

    if shutil.which("g++") is None:
        pytest.fail("g++ is required for the ap_fixed harness")
    include = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    work = tmp_path_factory.mktemp("apfixed")
    lines = ['#include <cstdio>', '#include <cmath>', '#include "ap_fixed.h"',
             "template <class T> void run(int w, int i, int s, int q, int o, int frac,",
             "                            const double* x, int n) {",
             '  printf("%d %d %d %d %d", w, i, s, q, o);',
             "  for (int k = 0; k < n; ++k) { T v = x[k];",
             '    printf(" %lld", (long long)std::ldexp(v.to_double(), frac)); }',
             '  printf("\\n");', "}", "int main() {"]
    for w, i in NARROW + WIDE:
        values = _values(w, i)
        lines.append("  { static const double x[] = {" + ",".join(repr(float(v)) for v in values)
                     + "};")
        for s, (qi, q), (oi, o) in itertools.product((1, 0), enumerate(ROUNDING_MODES),
                                                     enumerate(OVERFLOW_MODES)):
            t = f"ap_{'' if s else 'u'}fixed<{w},{i},AP_{q},AP_{o}>"
            lines.append(f"    run<{t} >({w}, {i}, {s}, {qi}, {oi}, {w - i}, x, {len(values)});")
        lines.append("  }")
    lines += ["  return 0;", "}"]
    source = work / "harness.cpp"
    source.write_text("\n".join(lines))
    binary = work / "harness"
    subprocess.run(["g++", "-O0", "-std=c++14", f"-I{include}", str(source), "-o", str(binary)],
                   check=True, capture_output=True)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    results = {}
    for line in out.splitlines():
        head = line.split()
        w, i, s, qi, oi = map(int, head[:5])
        results[(w, i, bool(s), ROUNDING_MODES[qi], OVERFLOW_MODES[oi])] = np.array(
            head[5:], dtype=np.int64)
    return results


@pytest.mark.slow
def test_matches_ap_fixed_everywhere(ap_fixed_results):
    assert len(ap_fixed_results) == len(CASES)
    failures = []
    for w, i, s, q, o in CASES:
        ftype = FixedType(w, i, s, q, o)
        x = _values(w, i)
        want = ap_fixed_results[(w, i, s, q, o)]
        got = ftype.quantize(x)
        # The same conversion from an integer mantissa with 2 more fractional bits.
        from_mantissa = ftype.requantize(np.round(np.ldexp(x, w - i + 2)).astype(np.int64),
                                         w - i + 2)
        # And the emulator's float64 path.
        from_float = ftype.apply_overflow(ftype.round_only(np.ldexp(x, w - i + 2), w - i + 2))
        for label, arr in (("quantize", got), ("requantize", from_mantissa),
                           ("float path", from_float)):
            bad = np.flatnonzero(arr != want)
            if len(bad):
                failures.append(f"{ftype} {label}: {len(bad)}/{len(x)} differ, e.g. x={x[bad[0]]}"
                                f" -> {arr[bad[0]]}, ap_fixed {want[bad[0]]}")
    print(f"{len(CASES)} types checked, {sum(len(_values(w, i)) for w, i, *_ in CASES)} values")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def test_parse_forms():
    assert FixedType.parse("fixed<16,6>") == FixedType(16, 6)
    assert FixedType.parse("ufixed<8,0,RND_CONV,SAT>") == FixedType(8, 0, False, "RND_CONV", "SAT")
    assert FixedType.parse("ap_fixed<18,8,AP_RND,AP_SAT>") == FixedType(18, 8, True, "RND", "SAT")
    assert FixedType.parse("ap_int<8>") == FixedType(8, 8)
    assert FixedType.parse("ap_uint<4>") == FixedType(4, 4, False)
    assert FixedType.parse("fixed<22,7,TRN,WRAP,0>") == FixedType(22, 7)
    t = FixedType.parse("ufixed<2,32,TRN,WRAP,0>")
    assert t.frac == -30
    assert str(FixedType(16, 6, True, "RND", "SAT")) == "fixed<16,6,RND,SAT>"
    for bad in ("float", "fixed<>", "ap_int<8,2>", "fixed<8,2,FOO>"):
        with pytest.raises(ValueError):  # noqa: PT011
            FixedType.parse(bad)


def test_ranges_and_examples():
    t = FixedType(8, 3, True, "RND_CONV", "SAT")
    assert t.lsb == 1 / 32
    assert (t.min_value, t.max_value) == (-4.0, 4.0 - 1 / 32)
    np.testing.assert_array_equal(t.quantize([0.015625, 0.046875, 100, -100]), [0, 2, 127, -128])
    wrap = FixedType(4, 4, True, "TRN", "WRAP")
    np.testing.assert_array_equal(wrap.quantize([8, 9, -9]), [-8, -7, 7])
    sym = FixedType(4, 4, True, "TRN", "SAT_SYM")
    np.testing.assert_array_equal(sym.quantize([-100, 100]), [-7, 7])
