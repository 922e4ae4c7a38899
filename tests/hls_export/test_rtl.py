"""The open-source RTL path: program building and refusals (no tools), and the whole flow
(da4ml -> Verilog -> Verilator, yosys) on small models when the RTL environment is there.

The RTL must equal the emulator on every event; every rounding and overflow mode the flow
claims is in the mixed graph below (dense, relu, conv1d, max pooling, flatten,
concatenate, merges add/mul/max, batch norm as constants, a lookup-table activation,
two inputs and two outputs).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from triginfer.emulation import Emulator
from triginfer.errors import UnsupportedModelError
from triginfer.firmware.kinds.tables import activation_table
from triginfer.hls_export import FirmwareSpec, SpecLayer, rtl
from triginfer.quantization.fixed import FixedType


def _tools_or_skip():
    try:
        return rtl.find_tools()
    except rtl.RtlToolMissing as exc:
        pytest.skip(str(exc))


def _mixed_spec() -> FirmwareSpec:
    rng = np.random.default_rng(11)
    dense_t = {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<22,9>"}
    layers = [
        SpecLayer("a", "input", (8,), (8,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("seq", "input", (6, 2), (6, 2), {"result": "fixed<9,3,RND,SAT>"}),
        # an accumulator coarser than the products (each product rounded) that wraps
        SpecLayer("d1", "dense", (8,), (6,), {**dense_t, "accum": "fixed<10,4>",
                                              "result": "fixed<12,5,RND_CONV,SAT>"},
                  {"n_in": 8, "n_out": 6},
                  {"weight": rng.integers(-31, 32, (8, 6)), "bias": rng.integers(-31, 32, 6)},
                  inputs=["a"]),
        SpecLayer("r1", "relu", (6,), (6,), {"result": "ufixed<7,3,RND_CONV,SAT>"},
                  inputs=["d1"]),
        SpecLayer("c1", "conv1d", (6, 2), (5, 3),
                  {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<22,9>",
                   "result": "fixed<8,3,RND_MIN_INF,SAT_SYM>"},
                  {"in_width": 6, "n_chan": 2, "n_filt": 3, "filt_width": 2, "stride_width": 1,
                   "pad_left": 0, "pad_right": 0, "out_width": 5},
                  {"weight": rng.integers(-31, 32, (2, 2, 3)), "bias": rng.integers(-31, 32, 3)},
                  inputs=["seq"]),
        SpecLayer("p1", "maxpool1d", (5, 3), (2, 3),
                  {"accum": "fixed<8,3>", "result": "fixed<8,3>"},
                  {"n_in": 5, "n_out": 2, "n_filt": 3, "pool_width": 2, "stride_width": 2,
                   "pad_left": 0, "pad_right": 0, "count_pad": False}, inputs=["c1"]),
        SpecLayer("f1", "flatten", (2, 3), (6,), {"result": "fixed<8,3>"}, inputs=["p1"]),
        SpecLayer("add", "merge", (6,), (6,), {"result": "fixed<9,4,TRN,WRAP>"},
                  {"op": "add"}, inputs=["r1", "f1"]),
        SpecLayer("mul", "merge", (6,), (6,), {"result": "fixed<10,4,RND,SAT>"},
                  {"op": "multiply"}, inputs=["r1", "f1"]),
        SpecLayer("mx", "merge", (6,), (6,), {"result": "fixed<8,3,RND_CONV,WRAP>"},
                  {"op": "maximum"}, inputs=["add", "mul"]),
        SpecLayer("cat", "concatenate", (6,), (12,), {"result": "fixed<14,5>"},
                  {"axis": -1}, inputs=["mx", "mul"]),
        SpecLayer("bn", "batchnorm", (12,), (12,),
                  {"scale": "fixed<8,2>", "bias": "fixed<8,3>",
                   "result": "fixed<14,5,RND_CONV,SAT>"}, {},
                  {"scale": rng.integers(-127, 128, 12), "bias": rng.integers(-127, 128, 12)},
                  inputs=["cat"]),
        SpecLayer("d2", "dense", (12,), (4,), {**dense_t, "accum": "fixed<26,9>",
                                              "result": "fixed<10,4,RND,SAT>"},
                  {"n_in": 12, "n_out": 4},
                  {"weight": rng.integers(-31, 32, (12, 4)), "bias": rng.integers(-31, 32, 4)},
                  inputs=["bn"]),
        SpecLayer("tern", "ternary_tanh", (4,), (4,), {"threshold_hi": "fixed<8,3>",
                                                         "threshold_lo": "fixed<8,3>",
                                                         "result": "fixed<2,2>"}, {},
                  {"threshold_hi": np.array([8, 4, 0, 16]), "threshold_lo": np.array(
                      [-8, -4, 0, -16])}, inputs=["d2"]),
        # with table_bits=8 (as the RTL test runs it) these take their direct forms ...
        SpecLayer("lk", "leaky_relu", (4,), (4,), {"param": "fixed<8,1>",
                                                     "result": "fixed<10,4,RND_CONV,SAT>"},
                  {"param": 0.3}, {"param": np.array([38])}, inputs=["d2"]),
        SpecLayer("sg", "sigmoid", (6,), (6,), {"table": "ufixed<10,0>",
                                                  "result": "ufixed<8,0,RND,SAT>"},
                  {"table_size": 1024, "table_range": 16},
                  {"table": activation_table("sigmoid", 1024, FixedType.parse("ufixed<10,0>"))},
                  inputs=["d1"]),
        SpecLayer("ap", "avgpool1d", (5, 3), (3, 3),
                  {"accum": "fixed<10,4,RND,WRAP>", "result": "fixed<8,3,RND_CONV,SAT>"},
                  {"n_in": 5, "n_out": 3, "n_filt": 3, "pool_width": 2, "stride_width": 2,
                   "pad_left": 0, "pad_right": 1, "count_pad": False}, inputs=["c1"]),
        # ... and this one (8-bit input) a lookup table filled by the emulator
        SpecLayer("hs", "hard_sigmoid", (2, 3), (2, 3),
                  {"slope": "fixed<8,1>", "shift": "fixed<8,1>",
                   "result": "ufixed<6,1,RND_CONV,SAT>"}, {"slope": 0.2, "shift": 0.5},
                  {"slope": np.array([13]), "shift": np.array([32])}, inputs=["p1"]),
    ]
    return FirmwareSpec("mixed", layers, inputs=["a", "seq"],
                        outputs=["d2", "tern", "lk", "sg", "ap", "hs"])


TABLE_BITS = 8


def test_program_covers_the_mixed_graph():
    spec = _mixed_spec()
    program, arrays = rtl.build_program(spec, table_bits=TABLE_BITS)
    ops = {op.name: op.op for op in program.ops}
    assert ops == {"a": "input", "seq": "input", "d1": "linear", "r1": "relu", "c1": "linear",
                   "p1": "reduce", "f1": "gather", "add": "binary", "mul": "binary",
                   "mx": "binary", "cat": "gather", "bn": "affine", "d2": "linear",
                   "tern": "ternary", "lk": "select_pos", "sg": "table_index",
                   "ap": "avgpool", "hs": "table"}
    # with the default 12 bits the 10-bit ternary input is a table the emulator fills
    program, arrays = rtl.build_program(spec)
    assert {op.name: op.op for op in program.ops}["tern"] == "table"
    # the conv's patches come from the emulator's im2col: position 0 reads seq[0:2, :]
    index = arrays["c1/index"]
    assert index.shape == (5, 4)
    assert index[0].tolist() == [0, 1, 2, 3]
    # the ternary table: the emulator's own answers, -1/0/+1
    assert set(np.unique(arrays["tern/tables"])) <= {-1.0, 0.0, 1.0}
    d1 = next(op for op in program.ops if op.name == "d1")
    assert d1.round_products
    assert str(d1.accum) == "fixed<10,4,TRN,WRAP>"


def _one_layer(kind, types, params=None, arrays=None, shape=(4,)):
    layers = [SpecLayer("x", "input", shape, shape, {"result": "fixed<10,4>"}),
              SpecLayer("y", kind, shape, shape, types, params or {}, arrays or {})]
    return FirmwareSpec("one", layers)


@pytest.mark.parametrize("rounding", ["TRN_ZERO", "RND_ZERO", "RND_INF"])
def test_rounding_without_rtl_form_is_refused_naming_the_layer(rounding):
    spec = _one_layer("relu", {"result": f"ufixed<6,3,{rounding},SAT>"})
    with pytest.raises(UnsupportedModelError, match=f"layer 'y'.*{rounding}"):
        rtl.build_program(spec)


def test_sat_zero_is_refused():
    spec = _one_layer("relu", {"result": "ufixed<6,3,RND,SAT_ZERO>"})
    with pytest.raises(UnsupportedModelError, match="layer 'y'.*SAT_ZERO"):
        rtl.build_program(spec)


def _elu(width: int) -> FirmwareSpec:
    layers = [SpecLayer("x", "input", (4,), (4,), {"result": f"fixed<{width},4>"}),
              SpecLayer("y", "elu", (4,), (4,), {"param": "fixed<8,1>", "table": "fixed<10,2>",
                                                 "result": "fixed<10,3>"}, {"param": 1.0,
                                                                             "table_size": 1024},
                        {"param": np.array([64]),
                         "table": activation_table("elu", 1024, FixedType.parse("fixed<10,2>"))})]
    return FirmwareSpec("elu", layers)


def test_wide_table_is_refused_with_the_limit():
    with pytest.raises(UnsupportedModelError, match="16 bits.*up to 12 bits"):
        rtl.build_program(_elu(16))
    program, _ = rtl.build_program(_elu(16), table_bits=16)
    assert program.ops[1].op == "table"
    program, _ = rtl.build_program(_elu(10))
    assert program.ops[1].op == "table"


def test_softmax_without_rtl_form_is_refused():
    layers = [SpecLayer("x", "input", (4,), (4,), {"result": "fixed<10,4>"}),
              SpecLayer("s", "softmax", (4,), (4,), {"result": "ufixed<8,0>",
                                                     "table": "ufixed<18,8>"},
                        {"implementation": "legacy", "n_outer": 1, "n_slice": 4, "n_inner": 1})]
    with pytest.raises(UnsupportedModelError, match="layer 's'.*legacy"):
        rtl.build_program(FirmwareSpec("sm", layers))


def test_measure_latency_finds_the_shift():
    rng = np.random.default_rng(0)
    expected = rng.integers(-100, 100, (500, 3))
    recorded = np.zeros((510, 3), dtype=np.int64)
    recorded[4:504] = expected
    assert rtl.measure_latency(recorded, expected, 10) == (4, 500)
    recorded[100] += 1                      # one wrong event at that shift
    assert rtl.measure_latency(recorded, expected, 10) == (4, 499)


def test_parse_yosys_stat():
    text = """
=== design hierarchy ===
   Number of cells:               1234
     CARRY8                          12
     FDRE                           300
     FDSE                             2
     LUT2                            40
     LUT6                            60
     DSP48E2                          1
     RAMB36E2                         2
     RAMB18E2                         1
"""
    counts = rtl.parse_yosys_stat(text)
    assert counts["LUT"] == 100
    assert counts["FF"] == 302
    assert counts["CARRY"] == 12
    assert counts["DSP"] == 1
    assert counts["BRAM_18K"] == 5


def test_missing_tools_give_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(rtl, "_candidate_venvs", lambda: [tmp_path / "nowhere"])
    with pytest.raises(rtl.RtlToolMissing, match="make rtl-env") as info:
        rtl.find_tools()
    assert "\n" not in str(info.value)


def test_export_rtl_cli_without_tools_fails_in_one_line(monkeypatch, tmp_path, cli):
    spec = _mixed_spec()
    spec.save(tmp_path / "fw")
    monkeypatch.setattr(rtl, "_candidate_venvs", lambda: [tmp_path / "nowhere"])
    result = cli("export-rtl", "--firmware", str(tmp_path / "fw"), "--out", str(tmp_path / "rtl"))
    assert result.code == 2
    assert "RTL tools not installed" in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def mixed_rtl(tmp_path_factory):
    """The mixed graph through the whole flow once (Verilator builds take tens of seconds)."""
    _tools_or_skip()
    out = tmp_path_factory.mktemp("mixed") / "rtl"
    report = rtl.export_rtl(_mixed_spec(), out, events=20_000, resources=False,
                            table_bits=TABLE_BITS, progress=lambda _m: None)
    return out, report


@pytest.mark.slow
def test_mixed_graph_rtl_equals_emulator(mixed_rtl):
    out, report = mixed_rtl
    assert report["exact"] == report["events"] == 20_000, report.get("first_mismatch")
    assert report["ii"] == 1
    assert report["latency_cycles"] == report["pipeline_stages"] >= 1
    on_disk = json.loads((out / rtl.REPORT_NAME).read_text())
    for key in ("events", "exact", "latency_cycles", "ii", "clock_ns", "resources", "tools"):
        assert key in on_disk
    assert on_disk["tools"]["da4ml"] == "0.6.0"
    # ports carry the declared types: the wrapper's output widths are the spec's
    top = (out / "src" / "mixed_top.v").read_text()
    emu = Emulator(_mixed_spec())
    assert f"output [{emu.result_type('d2').width - 1}:0] out_0" in top
    assert f"output [{emu.result_type('tern').width - 1}:0] out_4" in top


@pytest.mark.slow
def test_a_wrong_design_is_caught(mixed_rtl):
    """The check can fail: the same Verilog against a spec with one weight changed."""
    out, report = mixed_rtl
    changed = _mixed_spec()
    changed.layer("d2").arrays["weight"][0, 0] += 1
    emu = Emulator(changed)
    x = rtl.random_inputs(changed, emu, 2000)
    x_m = np.concatenate([m.reshape(len(m), -1) for m in emu.input_mantissas(x)], axis=1)
    want = np.concatenate([e.reshape(2000, -1) for e in emu.predict_mantissa(x)], axis=1)
    recorded, _ = rtl.simulate(out / "sim" / "obj_dir" / "tb", out, x_m, want.shape[1], 20)
    shift, exact = rtl.measure_latency(recorded, want, 20)
    assert exact < 2000
    # and the unchanged spec on the same events is exact at the measured latency
    good = Emulator(_mixed_spec())
    want = np.concatenate([e.reshape(2000, -1) for e in good.predict_mantissa(x)], axis=1)
    assert rtl.measure_latency(recorded, want, 20) == (report["latency_cycles"], 2000)


@pytest.mark.slow
def test_export_rtl_cli_with_resources(tmp_path, cli):
    _tools_or_skip()
    layers = [SpecLayer("x", "input", (4,), (4,), {"result": "fixed<8,3,RND_CONV,SAT>"}),
              SpecLayer("d", "dense", (4,), (3,),
                        {"weight": "fixed<5,1>", "accum": "fixed<16,6>",
                         "result": "fixed<10,4,RND_CONV,SAT>"}, {"n_in": 4, "n_out": 3},
                        {"weight": np.array([[3, -5, 7], [1, 0, -2], [-9, 4, 5], [2, 2, -1]])}),
              SpecLayer("r", "relu", (3,), (3,), {"result": "ufixed<6,3,RND_CONV,SAT>"}),
              # a 6-bit input: a lookup table (a ROM in the Verilog, logic for yosys)
              SpecLayer("hs", "hard_sigmoid", (3,), (3,),
                        {"slope": "fixed<8,1>", "shift": "fixed<8,1>",
                         "result": "ufixed<6,1,RND_CONV,SAT>"}, {"slope": 0.2, "shift": 0.5},
                        {"slope": np.array([13]), "shift": np.array([32])})]
    FirmwareSpec("tiny", layers).save(tmp_path / "fw")
    result = cli("export-rtl", "--firmware", str(tmp_path / "fw"), "--out", str(tmp_path / "rtl"),
                 "--events", "5000", "--clock-ns", "4", "--hdl", "vhdl")
    assert result.code == 0, result.err
    assert "RTL == emulator on 5000/5000 events" in result.out
    report = json.loads((tmp_path / "rtl" / rtl.REPORT_NAME).read_text())
    res = report["resources"]
    assert res["label"] == rtl.RESOURCE_LABEL
    assert res["LUT"] > 0
    assert res["FF"] > 0
    assert report["latency_ns"] == report["latency_cycles"] * 4
    assert list((tmp_path / "rtl" / "src" / "memfiles").glob("*.mem"))   # the table's ROM
    assert list((tmp_path / "rtl" / "vhdl" / "src").glob("tiny*.vhd"))   # --hdl vhdl
    assert report["vhdl"].startswith("vhdl/src")
