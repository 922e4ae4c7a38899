"""The cross-check: QKeras == hls4ml C simulation == numpy emulator on a zoo of models.

Each zoo model is converted (bit_exact), compiled with g++ and run on 10k
events including inputs far outside the input range; the C simulation must
equal QKeras, the emulator must equal the C simulation, the bit-exact ONNX
graph must equal the emulator and the tf2onnx export must equal QKeras, on
the full array.
(hls4ml's batch normalization is not bit-exact with QKeras's QBatchNormalization,
which computes in float; there the emulator must still equal the C simulation.)
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.zoo import ZOO, assert_outputs_equal, build, inputs_for
from triginfer.emulation import Emulator
from triginfer.hls_export import FirmwareSpec, convert

N_EVENTS = 10_000


def _assert_equal(name: str, got: np.ndarray, want: np.ndarray) -> None:
    assert_outputs_equal(name, got, want, min_std=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("entry", ZOO, ids=[e.name for e in ZOO])
def test_qkeras_csim_emulator_agree(entry, tmp_path):
    model = build(entry)
    firmware = convert(model, tmp_path / "prj", io_type=entry.io_type,
                       reuse_factor=entry.reuse_factor, strategy=entry.strategy)
    assert (tmp_path / "prj" / "build_prj.tcl").exists()
    assert (tmp_path / "prj" / "firmware" / f"{firmware.project_name}.cpp").exists()
    firmware.compile()
    x = inputs_for(model, entry, N_EVENTS)
    qkeras = np.asarray(model.predict(x, batch_size=4096, verbose=0), np.float64).reshape(len(x), -1)
    csim = firmware.csim_predict(x)
    assert csim.dtype == np.float64
    if entry.qkeras_exact:
        _assert_equal(f"{entry.name} C-sim vs QKeras", csim, qkeras)
    else:  # the firmware differs from QKeras here; it must still be close
        assert np.median(np.abs(csim - qkeras)) < 0.1 * np.std(qkeras)
    # The emulator reads the spec back from disk, as a user would.
    spec = FirmwareSpec.load(tmp_path / "prj")
    emulated, report = Emulator(spec).predict(x, monitor=True)
    _assert_equal(f"{entry.name} emulator vs C-sim", emulated, csim)
    engine = Emulator(spec, engine_min_events=0)              # the generated C engine
    assert engine.generated_engine() is not None, engine.engine_reason
    _assert_equal(f"{entry.name} generated engine vs C-sim", engine.predict(x), csim)
    # The bit-exact ONNX graph equals the emulator; the tf2onnx export equals QKeras.
    from triginfer.gpu_runtime import Session, export_bitexact_onnx, export_onnx

    onnx_bitexact = Session(export_bitexact_onnx(spec, tmp_path / "bx.onnx"), device="cpu")
    _assert_equal(f"{entry.name} bit-exact ONNX vs emulator", onnx_bitexact.run(x), emulated)
    if entry.name != "sigmoid_tanh":  # float sigmoid/tanh differ between TF and ORT in ulps
        onnx_qkeras = Session(export_onnx(model, tmp_path / "q.onnx"), device="cpu")
        _assert_equal(f"{entry.name} QKeras ONNX vs QKeras",
                      onnx_qkeras.run(x.astype(np.float32)),
                      np.asarray(model.predict(x.astype(np.float32), batch_size=4096, verbose=0),
                                 np.float64).reshape(len(x), -1))
    input_stat = report.stats[0]
    assert input_stat.count > 0, "the test inputs should saturate the input quantizer"
    if entry.name == "sigmoid_tanh":
        assert {layer.kind for layer in spec.layers} >= {"sigmoid", "tanh"}
    if entry.name == "saturating":
        relu = [s for s in report.stats if s.layer == "relu_1"][0]
        assert relu.count > 0
