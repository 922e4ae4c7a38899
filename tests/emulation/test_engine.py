"""The compiled one-pass conversion equals the numpy reference bit for bit, in every rounding
and overflow mode, and the emulator gives the same answers with and without it."""

from __future__ import annotations

import numpy as np
import pytest

from triginfer.emulation import Emulator, engine
from triginfer.quantization.fixed import FixedType

ROUNDINGS = ["TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV"]
OVERFLOWS = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]

needs_engine = pytest.mark.skipif(engine.library() is None, reason="no C compiler")


@needs_engine
@pytest.mark.parametrize("overflow", OVERFLOWS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize(("sign", "width", "integer", "frac_in"),
                         [("fixed", 8, 3, 10), ("ufixed", 6, 2, 9), ("fixed", 16, 6, 6),
                          ("fixed", 12, 4, 2), ("fixed", 1, 1, 4)])
def test_requantize_equals_numpy(rounding, overflow, sign, width, integer, frac_in):
    t = FixedType.parse(f"{sign}<{width},{integer},{rounding},{overflow}>")
    rng = np.random.default_rng(width * 31 + frac_in)
    m = np.concatenate([rng.integers(-2**18, 2**18, 20000),
                        np.arange(-300, 300)]).astype(np.float64)   # every tie and edge near 0
    want = t.apply_overflow(t.round_only(m.copy(), frac_in))
    got = engine.requantize(m.copy(), frac_in, t, inplace=True)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float64


def test_emulator_with_and_without_the_kernels(tmp_path):
    from tests.emulation.test_files import _dnn_spec

    spec = _dnn_spec(3)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (50_000, 21))
    reference = Emulator(spec, threads=1, compiled=False).predict(x)
    for threads in (1, 2):
        for chunk in (1000, 4096):
            got = Emulator(spec, chunk_size=chunk, threads=threads).predict(x)
            np.testing.assert_array_equal(got, reference)


def test_numpy_fallback_without_a_compiler(monkeypatch):
    monkeypatch.setattr(engine, "_lib", None)
    monkeypatch.setattr(engine, "_why_not", None)
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    assert engine.library() is None
    assert "no C compiler" in engine._why_not
    t = FixedType.parse("fixed<8,3,RND,SAT>")
    assert engine.requantize(np.arange(10.0), 4, t, inplace=False) is None
