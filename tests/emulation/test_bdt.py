"""BDT firmware: precision checks, the spec, and the emulator against xgboost, conifer's cpp
backend and the HLS C simulation (g++)."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from triginfer.emulation.bdt import BdtEmulator
from triginfer.errors import ConfigError, InputFileError, ShapeError
from triginfer.hls_export import bdt as B
from triginfer.quantization.fixed import FixedType


@pytest.fixture(scope="module")
def data():
    from triginfer.features import has_track
    from triginfer.simulation import simulate_muons
    from triginfer.trigger_models.workflow import model_inputs, target

    sample = simulate_muons(160_000, 7)
    sample = sample.select(has_track(sample))
    return model_inputs("dnn", sample), target(sample)


def _train(x, y, trees, depth, seed=1):
    import xgboost as xgb

    model = xgb.XGBRegressor(n_estimators=trees, max_depth=depth, learning_rate=0.3,
                             tree_method="hist", n_jobs=2, random_state=seed)
    model.fit(x[:60_000], y[:60_000])
    return model


@pytest.fixture(scope="module")
def small(data):
    """A 20 x 3 BDT on the muon features."""
    return _train(*data, trees=20, depth=3)


def _events(x, n, seed=0):
    """Real events, plus events off the input grid and far outside the input range."""
    rng = np.random.default_rng(seed)
    real = x[rng.integers(0, len(x), n - 2 * (n // 5))].astype(np.float64)
    off_grid = rng.normal(0, 3, size=(n // 5, x.shape[1]))
    huge = rng.uniform(-20, 20, size=(n // 5, x.shape[1]))
    return np.concatenate([real, off_grid, huge])


def _assert_equal(a, b, what):
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    bad = np.nonzero(a != b)[0]
    assert len(bad) == 0, (f"{what}: {len(bad)} of {len(a)} differ, e.g. "
                           f"{[(int(i), a[i], b[i]) for i in bad[:5]]}")
    assert np.std(a) > 0


# --- precisions -------------------------------------------------------------------------------
def test_weight_type_that_turns_one_into_minus_one_is_refused(small):
    with pytest.raises(ConfigError, match=r"one-hot weight 1.0 into -1.*integer bits"):
        B.from_xgboost(small, precision="weight=ap_fixed<8,1>")


def test_score_type_with_one_integer_bit_is_refused(small):
    with pytest.raises(ConfigError, match=r"normalisation 1.0 into -1.*negated"):
        B.from_xgboost(small, precision="score=ap_fixed<16,1>")


def test_input_type_that_cannot_hold_the_features_is_refused(small, data):
    with pytest.raises(ConfigError, match=r"does not hold feature dphi_12|does not hold feature"):
        B.from_xgboost(small, precision="input=ap_fixed<10,4>", x_check=data[0][:1000])


@pytest.mark.parametrize("text", ["input", "foo=ap_fixed<8,3>", "score=ap_fixed<8>",
                                  "score=banana"])
def test_bad_precision_strings(text):
    with pytest.raises(ConfigError):
        B.parse_precision(text)


def test_precision_string_keeps_commas_inside_types():
    p = B.parse_precision("input=ap_fixed<12,4,AP_RND,AP_SAT>,score=ap_fixed<18,5>")
    assert p["input"] == FixedType(12, 4, True, "RND", "SAT")
    assert p["score"] == FixedType(18, 5)


def test_default_types_hold_the_features_and_every_partial_sum(small, data):
    spec = B.from_xgboost(small, x_check=data[0])
    p = spec.precision
    assert p.input == p.threshold == FixedType(12, 4, True, "RND_CONV", "SAT")
    x = data[0].astype(np.float64)
    assert np.array_equal(p.input.to_float(p.input.quantize(x)), x)
    bound = abs(spec.init) + sum(np.abs(spec.tree(t)["value"]).max()
                                 for t in range(spec.n_trees))
    assert bound <= p.score.max_mantissa
    assert p.score.rounding == "RND_CONV"
    assert p.weight.to_float(p.weight.quantize(np.array([1.0])))[0] == 1.0


def test_grid_type():
    assert B.grid_type(np.array([0, 1, 2047, -2048]) / 256) == FixedType(12, 4, True,
                                                                         "RND_CONV", "SAT")
    assert B.grid_type(np.array([0, 3, -1])).frac == 0


# --- the spec -----------------------------------------------------------------------------------
def test_spec_round_trip_and_corruption(small, tmp_path):
    spec = B.from_xgboost(small)
    spec.save(tmp_path / "fw")
    back = B.BdtSpec.load(tmp_path / "fw")
    assert back.to_json() == spec.to_json()
    for key in ("feature", "threshold", "value", "tree_offsets"):
        assert np.array_equal(getattr(back, key), getattr(spec, key))
    doc = json.loads((tmp_path / "fw" / B.JSON_NAME).read_text())
    doc["types"]["score"] = "fixed<4,2>"        # leaves no longer fit
    (tmp_path / "fw" / B.JSON_NAME).write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="outside the score type"):
        B.BdtSpec.load(tmp_path / "fw")
    (tmp_path / "fw" / B.NPZ_NAME).write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="not a readable NPZ"):
        B.BdtSpec.load(tmp_path / "fw")


def test_routes_every_event_as_xgboost_does(small, data):
    """Thresholds moved onto the input grid change no decision: per tree, the leaf the
    emulator reaches holds the (quantized) value of the leaf xgboost reaches."""
    import xgboost as xgb

    spec = B.from_xgboost(small)
    x = data[0][60_000:110_000]
    booster = small.get_booster()
    leaf_ids = booster.predict(xgb.DMatrix(x), pred_leaf=True).astype(int)
    trees = json.loads(bytes(booster.save_raw(raw_format="json")))["learner"][
        "gradient_booster"]["model"]["trees"]
    expected = np.stack([spec.precision.score.quantize(
        np.asarray(trees[t]["split_conditions"], dtype=np.float32).astype(np.float64)[
            leaf_ids[:, t]]) for t in range(spec.n_trees)], axis=1)
    _assert_equal(BdtEmulator(spec).leaves(x), expected, "leaf values")
    float_sum = spec.source["init_float"] + expected.sum(axis=1) * spec.precision.score.lsb
    assert np.max(np.abs(float_sum - small.predict(x))) < spec.n_trees * spec.precision.score.lsb


def test_best_iteration_limits_the_trees(data):
    import xgboost as xgb

    x, y = data
    model = xgb.XGBRegressor(n_estimators=200, max_depth=2, learning_rate=0.8,
                             early_stopping_rounds=3, tree_method="hist", n_jobs=2)
    model.fit(x[:20_000], y[:20_000], eval_set=[(x[20_000:25_000], y[20_000:25_000])],
              verbose=False)
    spec = B.from_xgboost(model)
    assert spec.n_trees == model.best_iteration + 1 < 200


# --- the emulator -------------------------------------------------------------------------------
PRECISIONS = {
    "default": None,
    "truncating-wrapping": "input=ap_fixed<12,4,AP_TRN,AP_WRAP>,score=ap_fixed<16,5,AP_TRN,AP_WRAP>",
    "saturating": "input=ap_fixed<10,3,AP_RND,AP_SAT>,score=ap_fixed<9,3,AP_RND,AP_SAT>",
    "wide-round-inf": "input=ap_fixed<14,5,AP_RND_INF,AP_SAT_SYM>,score=ap_fixed<24,6,AP_RND_INF,AP_SAT>",
}


@pytest.mark.parametrize("name", sorted(PRECISIONS))
@pytest.mark.parametrize("summation", ["balanced", "sequential"])
def test_compiled_walk_equals_numpy_walk(small, data, name, summation):
    spec = B.from_xgboost(small, precision=PRECISIONS[name])
    x = _events(data[0], 30_000)
    emu = BdtEmulator(spec, summation=summation, threads=2, block=4096)
    assert emu._lib is not None
    _assert_equal(emu.predict(x, compiled=True), emu.predict(x, compiled=False), name)


def test_saturating_config_really_saturates(small, data):
    spec = B.from_xgboost(small, precision=PRECISIONS["saturating"])
    emu = BdtEmulator(spec)
    assert not emu._exact_sum
    y = emu.predict_mantissa(_events(data[0], 20_000))
    assert np.any(y == spec.precision.score.max_mantissa)
    assert np.any(y == spec.precision.score.min_mantissa)
    seq = BdtEmulator(spec, summation="sequential").predict_mantissa(_events(data[0], 20_000))
    assert np.any(seq != y)          # the two orders differ once partial sums saturate


def test_emulator_refuses_bad_inputs(small):
    emu = BdtEmulator(B.from_xgboost(small))
    with pytest.raises(ShapeError, match="21 features"):
        emu.predict(np.zeros((3, 4)))
    bad = np.zeros((3, 21))
    bad[1, 2] = np.nan
    with pytest.raises(Exception, match="NaN"):
        emu.predict(bad)


def test_no_compiler_falls_back_to_numpy(small, data, monkeypatch):
    from triginfer.emulation import engine

    monkeypatch.setattr(engine, "_extras", {})
    monkeypatch.setenv("TRIGINFER_NO_ENGINE", "1")
    spec = B.from_xgboost(small)
    emu = BdtEmulator(spec)
    assert emu._lib is None
    x = data[0][:5000]
    monkeypatch.delenv("TRIGINFER_NO_ENGINE")
    monkeypatch.setattr(engine, "_extras", {})
    _assert_equal(emu.predict(x), BdtEmulator(spec).predict(x), "numpy vs compiled")


# --- against conifer and the HLS C simulation ---------------------------------------------------
def _conifer_job(args):
    spec_dir, x, work = args
    return B.conifer_cpp_predict(spec_dir, x, work)


@pytest.mark.slow
def test_emulator_equals_conifer_cpp_backend_on_100k_events(small, data, tmp_path):
    """conifer's own C++ emulation (ap_fixed, compiled through pybind11), four precision
    configurations, 100k events each (real, off-grid and out-of-range), 100% equal."""
    x = _events(data[0], 100_000, seed=3)
    jobs, specs = [], {}
    for name, text in PRECISIONS.items():
        spec = B.from_xgboost(small, precision=text)
        spec.save(tmp_path / name)
        specs[name] = spec
        jobs.append((str(tmp_path / name), x, str(tmp_path / f"{name}-cpp")))
    with ProcessPoolExecutor(2) as pool:
        results = dict(zip(PRECISIONS, pool.map(_conifer_job, jobs), strict=True))
    for name, ref in results.items():
        # conifer's cpp backend adds trees left to right
        emu = BdtEmulator(specs[name], summation="sequential")
        _assert_equal(emu.predict(x), ref, f"{name}: emulator vs conifer cpp")


@pytest.mark.slow
def test_emulator_equals_hls_csim(small, data, tmp_path):
    """The HLS C++ conifer writes, compiled with g++ and run with triginfer's testbench,
    equals the emulator (balanced adder tree, as in the firmware) on 20k events."""
    spec = B.from_xgboost(small, precision=PRECISIONS["saturating"])
    summary = B.write_firmware(spec, tmp_path / "fw")
    assert summary["conifer_estimate"]["label"] == "conifer estimate (precision-blind)"
    x = _events(data[0], 20_000, seed=5)
    _assert_equal(BdtEmulator(B.BdtSpec.load(tmp_path / "fw")).predict(x),
                  B.csim(tmp_path / "fw", x), "emulator vs HLS C-sim")


# --- the command line ---------------------------------------------------------------------------
def test_cli_export_bdt_then_emulate_root_and_columns(cli, data, small_root, tmp_path):
    """export-bdt finds the muon feature set from the model's feature names; emulate runs the
    firmware over a ROOT file (features computed from the station words) and a BDT of other
    columns over a .npy array, equal to the emulator called directly."""
    import xgboost as xgb

    from triginfer.emulation.files import firmware_inputs
    from triginfer.features import ENGINEERED_NAMES, has_track
    from triginfer.rootio import read_sample

    x, y = data
    model = xgb.XGBRegressor(n_estimators=6, max_depth=3, n_jobs=2).fit(x[:20_000], y[:20_000])
    model.get_booster().feature_names = list(ENGINEERED_NAMES)
    model.save_model(tmp_path / "muon_bdt.json")
    r = cli("export-bdt", "--model", tmp_path / "muon_bdt.json", "--out", tmp_path / "fw")
    assert r.code == 0, r.err
    assert "ap_fixed<12,4,AP_RND_CONV,AP_SAT>" in r.out
    spec = B.BdtSpec.load(tmp_path / "fw")
    assert spec.features["set"] == "muon_engineered"
    assert (tmp_path / "fw" / "hls" / "conifer_bdt_csim.cpp").exists()
    r = cli("emulate", "--firmware", tmp_path / "fw", "--input", small_root, "--out",
            tmp_path / "o.npy", "--quiet")
    assert r.code == 0, r.err
    out = np.load(tmp_path / "o.npy")
    sample = read_sample(small_root, "muons")
    expected = BdtEmulator(spec).predict(firmware_inputs(spec, sample))[:, 0]
    _assert_equal(out["output_0"], expected, "emulate (ROOT) vs emulator")
    assert np.array_equal(out["has_track"], has_track(sample).astype(np.int8))

    rng = np.random.default_rng(4)
    xc = rng.integers(-40, 40, (3000, 3)) / 4
    other = xgb.XGBRegressor(n_estimators=5, max_depth=2, n_jobs=2).fit(xc, xc[:, 0] * xc[:, 1])
    other.save_model(tmp_path / "other.json")
    np.save(tmp_path / "xc.npy", xc)
    r = cli("export-bdt", "--model", tmp_path / "other.json", "--columns", "a,b,c", "--input",
            tmp_path / "xc.npy", "--out", tmp_path / "fw2")
    assert r.code == 0, r.err
    spec2 = B.BdtSpec.load(tmp_path / "fw2")
    assert spec2.precision.input == FixedType(7, 5, True, "RND_CONV", "SAT")   # -10..9.75 by 1/4
    r = cli("emulate", "--firmware", tmp_path / "fw2", "--input", tmp_path / "xc.npy", "--out",
            tmp_path / "o2.npy", "--quiet")
    assert r.code == 0, r.err
    _assert_equal(np.load(tmp_path / "o2.npy")["output_0"], BdtEmulator(spec2).predict(xc),
                  "emulate (npy) vs emulator")


@pytest.mark.slow
def test_cli_export_bdt_compile_checks_the_csim(cli, small, tmp_path, monkeypatch):
    small.save_model(tmp_path / "m.json")
    monkeypatch.chdir(tmp_path)                     # relative paths, as a user types them
    r = cli("export-bdt", "--model", "m.json", "--out", "fw", "--compile",
            "--check-events", "3000")
    assert r.code == 0, r.err
    assert "3000/3000 events equal" in r.out
    check = json.loads((tmp_path / "fw" / "csim_check.json").read_text())
    assert check == {"events": 3000, "emulator_equals_csim": 3000}
