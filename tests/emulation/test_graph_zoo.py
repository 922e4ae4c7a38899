"""Any model in: the graph zoo, every layer kind of the registry, Emulator == C simulation.

Each zoo model (``tests/zoo.py``: GRAPH_ZOO, models as users bring them: no input
quantizer, float Keras with hls4ml's default precision, softmax in every
implementation, graphs with skip connections, two inputs and two outputs, a
user configuration whose accumulator wraps) is converted with hls4ml, compiled
with g++ (all compiles in parallel, once per session) and run on 10k events
including inputs far outside the input range. The emulator must equal the C
simulation on the full arrays, the bit-exact ONNX graph must equal the
emulator, and the estimator must give a number or say "not estimated".
"""

from __future__ import annotations

import pytest

from tests.zoo import GRAPH_ZOO, graph_inputs
from tests.zoo import assert_outputs_equal as _assert_equal
from triginfer.emulation import Emulator
from triginfer.firmware import kinds
from triginfer.hls_export import FirmwareSpec

N_EVENTS = 10_000


@pytest.mark.slow
@pytest.mark.parametrize("entry", GRAPH_ZOO, ids=[e.name for e in GRAPH_ZOO])
def test_graph_zoo_bit_exact(entry, graph_zoo, tmp_path):
    model, firmware = graph_zoo[entry.name]
    if isinstance(firmware, Exception):
        raise firmware
    spec = FirmwareSpec.load(firmware.output_dir)     # read back from disk, as a user would
    present = {layer.kind for layer in spec.layers}
    assert set(entry.kinds) <= present, f"expected kinds {entry.kinds}, spec has {present}"
    x = graph_inputs(model, entry, N_EVENTS)
    x = x if len(x) > 1 else x[0]
    csim = firmware.csim_predict(x)
    emulator = Emulator(spec)
    emulated, report = emulator.predict(x, monitor=True)       # the numpy reference path
    _assert_equal(f"{entry.name} emulator vs C-sim", emulated, csim)
    engine = Emulator(spec, threads=2, engine_min_events=0)     # the generated C engine
    if emulator.float_mode:
        assert engine.generated_engine() is not None, engine.engine_reason
    _assert_equal(f"{entry.name} generated engine vs C-sim", engine.predict(x), csim)
    from triginfer.errors import UnsupportedModelError
    from triginfer.gpu_runtime import Session, export_bitexact_onnx

    if emulator.float_mode:
        onnx = Session(export_bitexact_onnx(spec, tmp_path / "bx.onnx"), device="cpu")
        _assert_equal(f"{entry.name} bit-exact ONNX vs emulator", onnx.run(x), emulated)
    else:  # accumulators beyond float64's exact range: an explicit refusal, nothing written
        with pytest.raises(UnsupportedModelError, match="cannot be proven exact"):
            export_bitexact_onnx(spec, tmp_path / "bx.onnx")
        assert not (tmp_path / "bx.onnx").exists()
        print(f"{entry.name}: bit-exact ONNX refused (values beyond 2**51)")
    from triginfer.latency_bench.fpga_estimate import estimate

    est = estimate(spec)
    assert est["latency_cycles"] >= 1
    for layer in est["layers"]:
        assert layer["estimated"] or f"{layer['layer']} ({layer['kind']})" in est["not_estimated"]
    if entry.name == "narrow_accumulator":
        accum = [s for s in report.stats if s.layer == "fc1" and s.stage == "accum"]
        assert accum, "no accumulator statistics for fc1"
        assert accum[0].count > 0, "the narrow accumulator should wrap"


@pytest.mark.slow
def test_every_registered_kind_is_in_the_zoo(graph_zoo):
    from tests.zoo import ZOO  # noqa: F401  (the chain zoo covers the default kinds too)

    seen = set()
    for _, firmware in graph_zoo.values():
        if not isinstance(firmware, Exception):
            seen |= {layer.kind for layer in firmware.spec.layers}
    from tests.keras3.hgq2_zoo_names import HGQ2_ONLY_KINDS

    # kinds only the Keras 3 front end produces: the HGQ2 zoo covers them (tests/keras3)
    missing = set(kinds.registry()) - seen - set(HGQ2_ONLY_KINDS)
    assert not missing, f"kinds without a zoo model: {sorted(missing)}"
