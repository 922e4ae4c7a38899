"""The FPGA estimator: its rules on hand-made weights, and its error against stored
Vivado HLS synthesis reports (benchmarks/reference/hls4ml_tutorial)."""

from __future__ import annotations

import numpy as np
import pytest

from triginfer.firmware.spec import FirmwareSpec, SpecLayer
from triginfer.latency_bench.fpga_estimate import csd_digits, estimate, product_costs
from triginfer.latency_bench.validation import summary_table, validate


def _naf_weight(v: int) -> int:
    v, n = abs(v), 0
    while v:
        if v & 1:
            n += 1
            v = v - 1 if (v & 3) == 1 else v + 1
        v >>= 1
    return n


def test_csd_digits_match_the_naf_definition():
    values = np.arange(-5000, 5000)
    assert csd_digits(values).tolist() == [_naf_weight(int(v)) for v in values]
    assert csd_digits(np.array([0, 1, 3, 7, 11, 255])).tolist() == [0, 1, 2, 2, 3, 2]


def test_product_costs_share_equal_magnitudes_and_gate_narrow_inputs():
    # row 0: 11 and -11 (one shared DSP product), 4 (a shift), 0 (pruned), 3 (one LUT adder)
    w = np.array([[11, -11, 4, 0, 3]])
    wide = product_costs(w, in_width=16)
    assert wide == {"dsp": 1, "lut_products": 1, "lut_adder_bits": 16 + 2, "shifts": 1}
    narrow = product_costs(w, in_width=6)
    assert narrow["dsp"] == 0
    assert narrow["lut_products"] == 2
    # 11 = 16 - 4 - 1 needs two adders of (6 + 4) bits, 3 one adder of (6 + 2) bits
    assert narrow["lut_adder_bits"] == 2 * (6 + 4) + (6 + 2)


def _dense_spec(w: np.ndarray, reuse: int = 1) -> FirmwareSpec:
    layers = [SpecLayer("input", "input", (w.shape[0],), (w.shape[0],),
                        types={"result": "fixed<16,6>"}),
              SpecLayer("fc", "dense", (w.shape[0],), (w.shape[1],),
                        types={"weight": "fixed<16,6>", "bias": "fixed<16,6>",
                               "accum": "fixed<16,6>", "result": "fixed<16,6>"},
                        arrays={"weight": w, "bias": np.zeros(w.shape[1], dtype=np.int64)})]
    return FirmwareSpec("t", layers, settings={"reuse_factor": reuse, "clock_period_ns": 5.0})


def test_reuse_factor_divides_dsps_and_adds_cycles():
    rng = np.random.default_rng(1)
    w = rng.integers(-500, 500, size=(16, 8))
    one, four = estimate(_dense_spec(w)), estimate(_dense_spec(w, reuse=4))
    assert four["resources"]["DSP"] == -(-four["multiplications"] // 4)
    assert four["latency_cycles"] == one["latency_cycles"] + 3
    assert four["initiation_interval"] == 4


def test_estimator_error_against_synthesis_reports():
    result = validate()
    for name, model in result["models"].items():
        for row in model["layers"]:
            if "DSP" in row:
                assert abs(row["DSP"]["error"]) <= 0.15, (name, row)
            assert abs(row["LUT"]["error"]) <= (0.6 if row["layer"].startswith("relu") else 0.2), \
                (name, row)
    for name in ("model_1", "model_2"):
        total = result["models"][name]["total"]
        assert abs(total["DSP"]["error"]) <= 0.05
        assert abs(total["LUT"]["error"]) <= 0.10
        assert abs(total["FF"]["error"]) <= 0.40
        cycles = total["latency_cycles"]
        assert abs(cycles["estimate"] - cycles["synthesis"]) <= 1
    assert "model_3" in result["models"]
    assert "total" not in result["models"]["model_3"]
    assert "| model_1 | fc2 |" in summary_table(result)


def test_missing_reference_set_is_a_clear_error(tmp_path):
    from triginfer.errors import InputFileError
    with pytest.raises(InputFileError, match="reference set"):
        validate(tmp_path)


def test_io_parallel_conv_shares_multipliers_across_partitions():
    rng = np.random.default_rng(2)
    w = rng.integers(-500, 500, size=(2, 3, 4))          # filt_width 2, 3 channels, 4 filters
    params = {"in_width": 5, "n_chan": 3, "n_filt": 4, "filt_width": 2, "stride_width": 1,
              "pad_left": 0, "pad_right": 0, "out_width": 4}

    def spec(extra):
        layers = [SpecLayer("input", "input", (5, 3), (5, 3), types={"result": "fixed<16,6>"}),
                  SpecLayer("conv", "conv1d", (5, 3), (4, 4),
                            types={"weight": "fixed<16,6>", "bias": "fixed<16,6>",
                                   "accum": "fixed<16,6>", "result": "fixed<16,6>"},
                            params={**params, **extra},
                            arrays={"weight": w, "bias": np.zeros(4, dtype=np.int64)})]
        return FirmwareSpec("c", layers, settings={"reuse_factor": 1})

    one_per_position, two_per_cycle = estimate(spec({})), estimate(spec({"n_partitions": 2}))
    per_position_dsp = product_costs(w.reshape(6, 4), 16)["dsp"]
    assert one_per_position["resources"]["DSP"] == per_position_dsp
    assert one_per_position["initiation_interval"] == 4
    assert two_per_cycle["resources"]["DSP"] == 2 * per_position_dsp
    assert two_per_cycle["initiation_interval"] == 2
    assert one_per_position["latency_cycles"] == two_per_cycle["latency_cycles"] + 2
