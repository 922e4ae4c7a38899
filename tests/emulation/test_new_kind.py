"""A layer kind added by registration alone, in a module of the test's own, reaches every
target with no edit elsewhere: spec validation, the numpy reference, the generated engine,
the bit-exact ONNX graph, the FPGA estimator and the RTL program, and every "supported"
list derived from the registry. (The hls4ml reader needs an hls4ml layer class to match,
which a test kind has none of; the CMSSW plugin is built from the HLS project, not from
the kinds.)"""

from __future__ import annotations

import numpy as np
import pytest

from triginfer.firmware import FirmwareSpec, SpecLayer, kinds
from triginfer.firmware.kinds.activations import ElementwiseKind
from triginfer.firmware.kinds.base import EmuTensor


@pytest.fixture
def clip_kind():
    kinds.registry()

    @kinds.register
    class ClipTest(ElementwiseKind):
        """``clip_test``: values clipped to [lo, hi] (``params``), then the result type."""

        kind = "clip_test"
        summary = "clip to [lo, hi] (a kind defined by a test)"

        @staticmethod
        def _bounds(layer, frac: int) -> tuple[float, float]:
            scale = 2.0 ** frac
            return float(np.ceil(layer.params["lo"] * scale)), float(
                np.floor(layer.params["hi"] * scale))

        def emulate(self, layer, plan, xs, ctx):
            x = xs[0]
            lo, hi = self._bounds(layer, x.frac)
            return EmuTensor(np.clip(x.m, lo, hi).astype(x.m.dtype), x.frac)

        def onnx(self, g, layer, plan, xs):
            m, frac = xs[0]
            lo, hi = self._bounds(layer, frac)
            return g.op("Clip", [m, g.const(lo), g.const(hi)]), frac

    yield ClipTest
    kinds._REGISTRY.pop("clip_test")


def _spec() -> FirmwareSpec:
    rng = np.random.default_rng(3)
    layers = [
        SpecLayer("inputs", "input", (8,), (8,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("d1", "dense", (8,), (6,),
                  {"weight": "fixed<8,1>", "bias": "fixed<8,3>", "accum": "fixed<22,9>",
                   "result": "fixed<12,5,RND_CONV,SAT>"}, {"n_in": 8, "n_out": 6},
                  {"weight": rng.integers(-100, 100, (8, 6)), "bias": rng.integers(-60, 60, 6)}),
        SpecLayer("clip", "clip_test", (6,), (6,), {"result": "fixed<10,4,RND_CONV,SAT>"},
                  {"lo": -1.5, "hi": 2.25}),
        SpecLayer("out", "dense", (6,), (2,),
                  {"weight": "fixed<8,1>", "accum": "fixed<24,10>", "result": "fixed<24,10>"},
                  {"n_in": 6, "n_out": 2}, {"weight": rng.integers(-100, 100, (6, 2))}),
    ]
    return FirmwareSpec("with_clip", layers)


def test_a_registered_kind_reaches_every_target(clip_kind, tmp_path):
    from triginfer.emulation import Emulator
    from triginfer.emulation.program import build_program, rtl_kinds
    from triginfer.gpu_runtime import Session, export_bitexact_onnx
    from triginfer.latency_bench.fpga_estimate import estimate

    spec = FirmwareSpec.load(_spec().save(tmp_path / "fw"))       # validated by its kind
    x = np.random.default_rng(0).normal(0, 3, (30_000, 8))
    reference = Emulator(spec, compiled=False)
    want = reference.predict(x)
    assert np.std(want) > 0.1
    clipped = reference.run_layer("clip", [np.arange(-600, 600)[:, None].repeat(6, 1)])
    t = spec.layer("clip").fixed("result")
    assert clipped.min() * t.lsb == -1.5
    assert clipped.max() * t.lsb == 2.25                           # the kind's own arithmetic
    engine = Emulator(spec, engine_min_events=1)
    assert np.array_equal(engine.predict(x), want)
    assert engine.engine_reason == "", engine.engine_reason      # the generated engine ran it
    onnx = Session(export_bitexact_onnx(spec, tmp_path / "bx.onnx"), device="cpu").run(x)
    assert np.array_equal(onnx, want)
    layer = next(e for e in estimate(spec)["layers"] if e["layer"] == "clip")
    assert layer["estimated"]
    assert layer["LUT"] > 0
    program, _ = build_program(spec)
    assert next(op for op in program.ops if op.name == "clip").op == "table"
    assert "clip_test" in rtl_kinds()
    for target in ("emulator", "onnx", "estimate"):
        assert "clip_test" in kinds.supported(target), target


def test_every_registered_kind_is_lowered_or_refused_by_name():
    """Each target, for each registered kind: an implementation, or a refusal that names it."""
    from triginfer.emulation.program import rtl_kinds
    from triginfer.firmware.kinds.base import LayerKind

    lowered = set(rtl_kinds())
    for name, kind in kinds.registry().items():
        assert name in kinds.supported("emulator")
        assert (name in kinds.supported("onnx")) == kind.has_onnx
        has_estimate = type(kind).estimate is not LayerKind.estimate
        assert (name in kinds.supported("estimate")) == has_estimate, name
        assert name in lowered, f"{name}: no lowering for the engine and the RTL flow"
