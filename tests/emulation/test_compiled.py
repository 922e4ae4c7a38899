"""The generated C engine (``emulation/compiled.py``) equals the numpy reference emulator bit
for bit: every rounding and overflow mode (inputs and layers), the mixed graph of the RTL
tests (dense with per-product rounding, conv, pooling, merges, batch norm, tables), wide
elementwise kinds (hls4ml's table index, elu), wide declared types whose values stay
narrow, and it falls back to numpy with a reason where float64 would not be exact. The zoo tests compare it with hls4ml's C simulation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.hls_export.test_rtl import _elu, _mixed_spec
from triginfer.emulation import Emulator, engine
from triginfer.firmware.kinds.tables import activation_table
from triginfer.hls_export import FirmwareSpec, SpecLayer
from triginfer.quantization.fixed import FixedType

ROUNDINGS = ["TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV"]
OVERFLOWS = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]

needs_cc = pytest.mark.skipif(engine.library() is None, reason="no C compiler")


def _events(shape, n: int, lsb: float, seed: int = 0) -> np.ndarray:
    """Spread values, far-out values and exact ties (half an LSB) of the input type."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 4, (n, *shape))
    x[: n // 10] *= 40
    ties = (rng.integers(-400, 400, (n // 5, *shape)) + 0.5) * lsb
    x[n // 10: n // 10 + n // 5] = ties
    return x


def _compare(spec: FirmwareSpec, x, n_threads=(1, 2)) -> Emulator:
    want = Emulator(spec, threads=1, compiled=False).predict_mantissa(x)
    emu = Emulator(spec, engine_min_events=0)
    assert emu.generated_engine() is not None, emu.engine_reason
    assert emu.engine_reason == ""
    for threads in n_threads:
        emu.threads = threads
        got = emu.predict_mantissa(x)
        for g, w in zip(got if isinstance(got, list) else [got],
                        want if isinstance(want, list) else [want], strict=True):
            assert g.dtype == np.int64
            assert g.shape == w.shape
            bad = np.flatnonzero(np.any(g != w, axis=1))
            assert len(bad) == 0, f"{len(bad)} events differ, first {bad[:3]}: {g[bad[:3]]} " \
                                  f"vs {w[bad[:3]]}"
    return emu


def _modes_spec() -> FirmwareSpec:
    """One dense layer per rounding x overflow mode, inputs converted in unusual modes."""
    rng = np.random.default_rng(5)
    layers = [SpecLayer("a", "input", (6,), (6,), {"result": "fixed<12,4,RND_ZERO,WRAP>"}),
              SpecLayer("b", "input", (6,), (6,), {"result": "ufixed<9,3,RND_INF,SAT_ZERO>"}),
              SpecLayer("cat", "concatenate", (6,), (12,), {"result": "fixed<14,5>"},
                        {"axis": -1}, inputs=["a", "b"])]
    outputs = []
    for r in ROUNDINGS:
        for o in OVERFLOWS:
            name = f"d_{r}_{o}".lower()
            layers.append(SpecLayer(
                name, "dense", (12,), (5,),
                {"weight": "fixed<7,1>", "bias": "fixed<7,2>", "accum": "fixed<24,9>",
                 "result": f"fixed<7,2,{r},{o}>"}, {"n_in": 12, "n_out": 5},
                {"weight": rng.integers(-63, 64, (12, 5)), "bias": rng.integers(-63, 64, 5)},
                inputs=["cat"]))
            outputs.append(name)
    return FirmwareSpec("modes", layers, inputs=["a", "b"], outputs=outputs)


@needs_cc
def test_every_rounding_and_overflow_mode():
    spec = _modes_spec()
    n = 30_000
    _compare(spec, [_events((6,), n, 2.0 ** -8, 1), _events((6,), n, 2.0 ** -6, 2)])


@needs_cc
def test_mixed_graph_and_odd_event_counts():
    spec = _mixed_spec()
    for n in (1, 63, 20_001):       # a partial block, one event, many blocks
        _compare(spec, [_events((8,), n, 2.0 ** -6, 3), _events((6, 2), n, 2.0 ** -6, 4)])


@needs_cc
def test_wide_elementwise_kinds():
    """elu on a 16-bit input: hls4ml's float index into its table (no RTL form); a sigmoid
    table of 16384 entries (handed to the library at load time, not compiled in)."""
    _compare(_elu(16), _events((4,), 20_000, 2.0 ** -12, 5))
    table_t = FixedType.parse("ufixed<12,0>")
    layers = [SpecLayer("x", "input", (5,), (5,), {"result": "fixed<16,5,RND,SAT>"}),
              SpecLayer("s", "sigmoid", (5,), (5,), {"table": str(table_t),
                                                     "result": "ufixed<10,0,RND,SAT>"},
                        {"table_size": 16384, "table_range": 16},
                        {"table": activation_table("sigmoid", 16384, table_t)})]
    emu = _compare(FirmwareSpec("sig", layers), _events((5,), 20_000, 2.0 ** -11, 6))
    assert emu.generated_engine().source_bytes < 100_000


def _wide_dense(weight: int, accum: str = "fixed<60,14>") -> FirmwareSpec:
    layers = [SpecLayer("x", "input", (4,), (4,), {"result": "fixed<30,10>"}),
              SpecLayer("d", "dense", (4,), (2,), {"weight": "fixed<30,2>", "bias": "fixed<8,2>",
                                                    "accum": accum, "result": accum},
                        {"n_in": 4, "n_out": 2},
                        {"weight": np.full((4, 2), weight), "bias": np.ones(2, np.int64)},
                        inputs=["x"]),
              SpecLayer("r", "relu", (2,), (2,), {"result": "ufixed<12,6,RND,SAT>"},
                        inputs=["d"])]
    return FirmwareSpec("wide", layers, outputs=["d", "r"])


@needs_cc
def test_wide_declared_types_with_narrow_values_use_the_engine():
    """60-bit types the emulator holds in int64: the values that occur (30-bit inputs times
    small weights) stay exact in float64, and the overflow step is left out."""
    spec = _wide_dense(3)
    assert not Emulator(spec).float_mode
    _compare(spec, _events((4,), 20_000, 2.0 ** -20, 6))


@needs_cc
def test_sums_beyond_float64_run_in_int64():
    """58-bit sums (30-bit inputs times 27-bit weights) in a 62-bit accumulator: the linear map
    in int64, its result held as int64 mantissas (an output and a relu's input)."""
    spec = _wide_dense(2**27 - 1, accum="fixed<62,14,TRN,WRAP>")
    assert not Emulator(spec).float_mode
    emu = _compare(spec, _events((4,), 20_000, 2.0 ** -20, 7))
    assert "int64" in emu.generated_engine().source


def test_per_product_rounding_beyond_float64_falls_back_to_numpy():
    spec = _wide_dense(2**27 - 1)       # 57-bit products rounded one by one to 60 bits
    emu = Emulator(spec, engine_min_events=0)
    assert not emu.float_mode
    x = np.random.default_rng(0).normal(0, 100, (500, 4))
    for got, want in zip(emu.predict_mantissa(x), Emulator(spec, compiled=False)
                         .predict_mantissa(x), strict=True):
        np.testing.assert_array_equal(got, want)
    assert emu.generated_engine() is None
    assert "layer 'd': per-product rounding on values beyond float64" in emu.engine_reason


def test_small_calls_and_switches_keep_numpy(monkeypatch):
    spec = _mixed_spec()
    x = [_events((8,), 100, 2.0 ** -6), _events((6, 2), 100, 2.0 ** -6)]
    emu = Emulator(spec)                      # default threshold: 100 events stay in numpy
    emu.predict(x)
    assert emu.engine_reason is None
    assert Emulator(spec, compiled=False, engine_min_events=0).generated_engine() is None
    monkeypatch.setenv("TRIGINFER_NO_ENGINE", "1")
    emu = Emulator(spec, engine_min_events=0)
    assert emu.generated_engine() is None
    assert "TRIGINFER_NO_ENGINE" in emu.engine_reason


@needs_cc
def test_int64_conversions_equal_fixedtype_in_every_mode():
    """The engine's int64 conversions (``_int_conv``) against FixedType's int64 path: every
    rounding x overflow mode, ties included, from 48 fractional bits down to 6 and up to 50."""
    import ctypes

    from triginfer.emulation import compiled

    types = [FixedType.parse(f"fixed<12,6,{r},{o}>") for r in ROUNDINGS for o in OVERFLOWS]
    types += [FixedType.parse("ufixed<60,10,RND_CONV,SAT>")]        # a left shift (frac 50)
    src = ["#include <stdint.h>\n"]
    for k, t in enumerate(types):
        src.append(compiled._int_conv(t, 48, f"cvi{k}"))
        src.append(f"void run{k}(const int64_t *m, int64_t *out, int64_t n) "
                   f"{{ for (int64_t i = 0; i < n; ++i) out[i] = cvi{k}(m[i]); }}\n")
    lib = ctypes.CDLL(str(engine._compile("int_conv_test", "".join(src))))
    rng = np.random.default_rng(9)
    half = np.int64(1) << np.int64(41)
    m = np.concatenate([rng.integers(-2**58, 2**58, 20_000),
                        (rng.integers(-5000, 5000, 5000) << 42) + half,      # exact ties
                        (rng.integers(-5000, 5000, 5000) << 42),
                        rng.integers(-2**45, 2**45, 5000)]).astype(np.int64)
    for k, t in enumerate(types):
        out = np.empty_like(m)
        getattr(lib, f"run{k}")(ctypes.c_void_p(m.ctypes.data), ctypes.c_void_p(out.ctypes.data),
                                ctypes.c_int64(len(m)))
        np.testing.assert_array_equal(out, t.requantize(m, 48), err_msg=str(t))
