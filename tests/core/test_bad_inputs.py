"""Every bad input to every subcommand: one ``triginfer: error:`` line, exit 2, nothing written.

One table (``CASES``) of command lines, each with what to break before running it. The
assertion is the same for all of them: exit status 2, exactly one line on stderr, starting
``triginfer: error:``, no traceback, and no file created or removed anywhere under the test's
directory (the output paths are all inside it). ``EXIT_0`` lists the cases where succeeding is
right (a missing parent directory of an output is created on purpose).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from triginfer.hls_export import FirmwareSpec, SpecLayer
from triginfer.rootio import write_samples
from triginfer.simulation import simulate_minbias, simulate_muons


# --- good inputs, built once ------------------------------------------------------------------
def _small_spec(directory: Path) -> None:
    layers = [
        SpecLayer("inputs", "input", (3,), (3,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("d1", "dense", (3,), (4,),
                  {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<20,8>",
                   "result": "fixed<20,8>"}, {"n_in": 3, "n_out": 4},
                  {"weight": np.arange(12).reshape(3, 4) - 6, "bias": np.arange(4)}),
        SpecLayer("r1", "relu", (4,), (4,), {"result": "ufixed<8,3,RND_CONV,SAT>"}),
        SpecLayer("out", "dense", (4,), (1,),
                  {"weight": "fixed<6,1>", "accum": "fixed<20,8>", "result": "fixed<20,8>"},
                  {"n_in": 4, "n_out": 1}, {"weight": np.arange(4).reshape(4, 1) - 2}),
    ]
    FirmwareSpec("small", layers).save(directory)


def _muon_spec(directory: Path) -> None:
    """A firmware reading the project's 21 engineered muon features."""
    rng = np.random.default_rng(1)
    layers = [
        SpecLayer("inputs", "input", (21,), (21,), {"result": "fixed<16,10,RND_CONV,SAT>"}),
        SpecLayer("out", "dense", (21,), (1,),
                  {"weight": "fixed<6,1>", "accum": "fixed<32,16>", "result": "fixed<32,16>"},
                  {"n_in": 21, "n_out": 1}, {"weight": rng.integers(-8, 8, (21, 1))}),
    ]
    FirmwareSpec("muon", layers, features={"set": "muon_engineered"}).save(directory)


@pytest.fixture(scope="session")
def goods(tmp_path_factory, small_root) -> dict[str, Path]:
    from triginfer.gpu_runtime.onnx_export import export_bitexact_onnx

    d = tmp_path_factory.mktemp("goods")
    _small_spec(d / "fw")
    _muon_spec(d / "fw21")
    np.save(d / "x.npy", np.zeros((10, 3)))
    export_bitexact_onnx(FirmwareSpec.load(d / "fw"), d / "m.onnx")
    (d / "cfg.yaml").write_text(yaml.safe_dump({"seed": 3, "data": {"events": 2000}}))
    from tensorflow import keras

    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(2)])
    model.save(d / "m.h5")
    (d / "extras").mkdir()
    import xgboost as xgb

    from triginfer.hls_export.bdt import from_xgboost

    rng = np.random.default_rng(2)
    xb = rng.integers(-50, 50, (500, 3)) / 8
    booster = xgb.XGBRegressor(n_estimators=4, max_depth=2, n_jobs=1).fit(xb, xb[:, 0] - xb[:, 1])
    booster.save_model(d / "bdt.json")
    from_xgboost(booster, name="b").save(d / "bdtfw")
    return {"fw": d / "fw", "fw21": d / "fw21", "npy": d / "x.npy", "onnx": d / "m.onnx",
            "yaml": d / "cfg.yaml", "h5": d / "m.h5", "root": small_root, "extras": d / "extras",
            "xgb": d / "bdt.json", "bdtfw": d / "bdtfw"}


# --- ways to break a file ---------------------------------------------------------------------
def _missing(path: Path, good: Path) -> None:
    pass


def _empty(path: Path, good: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path, good: Path) -> None:
    path.mkdir()


def _text(path: Path, good: Path) -> None:
    path.write_text("this is not the file you are looking for\n" * 20)


def _truncated(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path, good: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())


FILE_BREAKS: dict[str, Callable[[Path, Path], None]] = {
    "missing": _missing, "empty": _empty, "directory": _directory, "text": _text,
    "truncated": _truncated, "garbage": _garbage,
}

# (name, command line with {bad} where the broken file goes, which good file it stands for)
FILE_ARGS = [
    ("simulate --config", ["simulate", "--events", "10", "--config", "{bad}", "--out",
                           "{out}/x.root"], "yaml"),
    ("inspect FILE", ["inspect", "{bad}"], "root"),
    ("inspect --config", ["inspect", "{root}", "--config", "{bad}"], "yaml"),
    ("run CONFIG", ["run", "{bad}", "--out", "{out}/run"], "yaml"),
    ("train CONFIG", ["train", "{bad}", "--out", "{out}/run"], "yaml"),
    ("export-hls --model", ["export-hls", "--model", "{bad}", "--out", "{out}/hls"], "h5"),
    ("export-hls --hls-config", ["export-hls", "--model", "{h5}", "--hls-config", "{bad}",
                                 "--out", "{out}/hls"], "yaml"),
    ("export-hls --input", ["export-hls", "--model", "{h5}", "--testbench", "5", "--input",
                            "{bad}", "--out", "{out}/hls"], "npy"),
    ("export-onnx --model", ["export-onnx", "--model", "{bad}", "--out", "{out}/m.onnx"], "h5"),
    ("export-triton --onnx", ["export-triton", "--onnx", "{bad}", "--repo", "{out}/repo",
                              "--name", "m"], "onnx"),
    ("bench --onnx", ["bench", "--onnx", "{bad}", "--out", "{out}/b"], "onnx"),
    ("bench --keras", ["bench", "--onnx", "{onnx}", "--keras", "{bad}", "--out", "{out}/b"], "h5"),
    ("serve --onnx", ["serve", "--onnx", "{bad}", "--name", "m"], "onnx"),
    ("loadtest --onnx", ["loadtest", "--onnx", "{bad}", "--name", "m", "--wait", "0.5"], "onnx"),
    ("loadtest --input", ["loadtest", "--firmware", "{fw}", "--input", "{bad}", "--name", "m",
                          "--wait", "0.5"], "npy"),
    ("emulate --input npy", ["emulate", "--firmware", "{fw}", "--input", "{bad}", "--out",
                             "{out}/o.npy"], "npy"),
    ("emulate --input root", ["emulate", "--firmware", "{fw21}", "--input", "{bad}", "--out",
                              "{out}/o.npy"], "root"),
    ("emulate --config", ["emulate", "--firmware", "{fw21}", "--input", "{root}", "--config",
                          "{bad}", "--out", "{out}/o.npy"], "yaml"),
    ("patterns --input", ["patterns", "--firmware", "{fw}", "--input", "{bad}", "--out",
                          "{out}/p.txt"], "npy"),
    ("export-bdt --model", ["export-bdt", "--model", "{bad}", "--out", "{out}/bdt"], "xgb"),
    ("export-rtl --input", ["export-rtl", "--firmware", "{fw}", "--input", "{bad}", "--out",
                            "{out}/rtl"], "npy"),
    ("export-bdt --input", ["export-bdt", "--model", "{xgb}", "--input", "{bad}", "--out",
                            "{out}/bdt"], "npy"),
]
FILE_EXT = {"yaml": ".yaml", "root": ".root", "h5": ".h5", "npy": ".npy", "onnx": ".onnx",
            "xgb": ".json"}


# --- ways to break a firmware directory -------------------------------------------------------
def _edit_json(directory: Path, fn) -> None:
    path = directory / "firmware_spec.json"
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _edit_npz(directory: Path, fn) -> None:
    path = directory / "firmware_spec.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    fn(arrays)
    np.savez(path, **arrays)


def _layer(doc, name):
    return next(layer for layer in doc["layers"] if layer["name"] == name)


def _set(name, key, value):
    return lambda doc: _layer(doc, name).__setitem__(key, value)


def _set_type(name, key, value):
    return lambda doc: _layer(doc, name)["types"].__setitem__(key, value)


SPEC_BREAKS: dict[str, Callable[[Path], None]] = {
    "layer missing": lambda d: _edit_json(d, lambda doc: doc["layers"].pop(2)),
    "bad type string": lambda d: _edit_json(d, _set_type("d1", "accum", "fixed<8,banana>")),
    "type width 0": lambda d: _edit_json(d, _set_type("d1", "result", "fixed<0,0>")),
    "unknown kind": lambda d: _edit_json(d, _set("r1", "kind", "lstm")),
    "missing result type": lambda d: _edit_json(d, lambda doc: _layer(doc, "r1")["types"].pop(
        "result")),
    "input of an unknown tensor": lambda d: _edit_json(d, _set("out", "inputs", ["nowhere"])),
    "layers out of order": lambda d: _edit_json(d, lambda doc: doc["layers"].reverse()),
    "duplicate layer name": lambda d: _edit_json(d, _set("r1", "name", "d1")),
    "shape mismatch": lambda d: _edit_json(d, _set("r1", "input_shape", [5])),
    "negative shape": lambda d: _edit_json(d, _set("d1", "output_shape", [-4])),
    "attribute of the wrong type": lambda d: _edit_json(
        d, lambda doc: _layer(doc, "d1")["params"].__setitem__("n_out", "four")),
    "layers not a list": lambda d: _edit_json(d, lambda doc: doc.__setitem__("layers", 3)),
    "unknown schema": lambda d: _edit_json(d, lambda doc: doc.__setitem__("schema_version", 9)),
    "output not a layer": lambda d: _edit_json(d, lambda doc: doc.__setitem__(
        "outputs", ["nothing"])),
    "features not a mapping": lambda d: _edit_json(d, lambda doc: doc.__setitem__(
        "features", "muons")),
    "weight of the wrong shape": lambda d: _edit_npz(
        d, lambda a: a.__setitem__("d1/weight", np.zeros((2, 4), np.int64))),
    "weight not integer": lambda d: _edit_npz(
        d, lambda a: a.__setitem__("d1/weight", np.full((3, 4), 0.5))),
    "weight NaN": lambda d: _edit_npz(
        d, lambda a: a.__setitem__("d1/weight", np.full((3, 4), np.nan))),
    "weight of strings": lambda d: _edit_npz(
        d, lambda a: a.__setitem__("d1/weight", np.full((3, 4), "x"))),
    "weight outside its type": lambda d: _edit_npz(
        d, lambda a: a.__setitem__("d1/weight", np.full((3, 4), 10**6))),
    "npz missing an array": lambda d: _edit_npz(d, lambda a: a.pop("out/weight")),
    "not json": lambda d: (d / "firmware_spec.json").write_text("{ nope"),
    "json not a mapping": lambda d: (d / "firmware_spec.json").write_text("[1, 2]"),
    "json empty": lambda d: (d / "firmware_spec.json").write_text(""),
    "pickled npz": lambda d: (d / "firmware_spec.npz").write_bytes(pickle.dumps({"a": 1})),
    "npz truncated": lambda d: (d / "firmware_spec.npz").write_bytes(
        (d / "firmware_spec.npz").read_bytes()[:100]),
    "npz missing": lambda d: (d / "firmware_spec.npz").unlink(),
    "json missing": lambda d: (d / "firmware_spec.json").unlink(),
    "empty directory": lambda d: [p.unlink() for p in list(d.iterdir())],
    "directory missing": lambda d: [p.unlink() for p in list(d.iterdir())] and None or d.rmdir(),
    "a file, not a directory": lambda d: ([p.unlink() for p in list(d.iterdir())], d.rmdir(),
                                          d.write_text("x")),
}

def _edit_bdt(directory: Path, json_fn=None, npz_fn=None) -> None:
    if json_fn is not None:
        path = directory / "bdt_spec.json"
        doc = json.loads(path.read_text())
        json_fn(doc)
        path.write_text(json.dumps(doc))
    if npz_fn is not None:
        path = directory / "bdt_spec.npz"
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        npz_fn(arrays)
        np.savez(path, **arrays)


def _first_inner(a, key, value):
    inner = np.nonzero(a["feature"] != -2)[0][0]
    a[key] = a[key].copy()
    a[key][inner] = value


BDT_BREAKS: dict[str, Callable[[Path], None]] = {
    "json missing": lambda d: (d / "bdt_spec.json").unlink(),
    "npz missing": lambda d: (d / "bdt_spec.npz").unlink(),
    "not json": lambda d: (d / "bdt_spec.json").write_text("{ nope"),
    "npz garbage": lambda d: (d / "bdt_spec.npz").write_bytes(b"PK\x03\x04garbage"),
    "unknown schema": lambda d: _edit_bdt(d, lambda doc: doc.__setitem__("schema_version", 7)),
    "bad score type": lambda d: _edit_bdt(d, lambda doc: doc["types"].__setitem__(
        "score", "fixed<banana>")),
    "leaf outside the score type": lambda d: _edit_bdt(d, lambda doc: doc["types"].__setitem__(
        "score", "fixed<3,2>")),
    "feature out of range": lambda d: _edit_bdt(d, npz_fn=lambda a: _first_inner(
        a, "feature", 99)),
    "child pointing back": lambda d: _edit_bdt(d, npz_fn=lambda a: _first_inner(
        a, "children_left", 0)),
    "threshold outside its type": lambda d: _edit_bdt(d, npz_fn=lambda a: _first_inner(
        a, "threshold", 10**9)),
    "offsets broken": lambda d: _edit_bdt(d, npz_fn=lambda a: a.__setitem__(
        "tree_offsets", a["tree_offsets"][::-1].copy())),
    "summation unknown": lambda d: _edit_bdt(d, lambda doc: doc.__setitem__(
        "summation", "random")),
    "n_features not a number": lambda d: _edit_bdt(d, lambda doc: doc.__setitem__(
        "n_features", "three")),
}

SPEC_COMMANDS = {
    "emulate": ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{out}/o.npy"],
    "export-onnx": ["export-onnx", "--firmware", "{fw}", "--out", "{out}/m.onnx"],
    "patterns": ["patterns", "--firmware", "{fw}", "--out", "{out}/p.txt"],
    "export-cmssw": ["export-cmssw", "--firmware", "{fw}", "--out", "{out}/pkg"],
    "export-rtl": ["export-rtl", "--firmware", "{fw}", "--out", "{out}/rtl"],
    "serve": ["serve", "--firmware", "{fw}", "--name", "m"],
    "loadtest": ["loadtest", "--firmware", "{fw}", "--name", "m", "--wait", "0.5"],
    "bench": ["bench", "--onnx", "{onnx}", "--firmware", "{fw}", "--out", "{out}/b"],
}


# --- outputs that cannot be written ------------------------------------------------------------
OUTPUT_COMMANDS = {
    "simulate": ["simulate", "--events", "10", "--out", "{dest}"],
    "run": ["run", "{yaml}", "--out", "{dest}"],
    "train": ["train", "{yaml}", "--out", "{dest}"],
    "export-hls": ["export-hls", "--model", "{h5}", "--out", "{dest}"],
    "export-onnx --model": ["export-onnx", "--model", "{h5}", "--out", "{dest}"],
    "export-onnx --firmware": ["export-onnx", "--firmware", "{fw}", "--out", "{dest}"],
    "export-cmssw": ["export-cmssw", "--firmware", "{fw}", "--out", "{dest}"],
    "export-triton": ["export-triton", "--onnx", "{onnx}", "--repo", "{dest}", "--name", "m"],
    "patterns": ["patterns", "--firmware", "{fw}", "--out", "{dest}"],
    "emulate": ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{dest}"],
    "bench": ["bench", "--onnx", "{onnx}", "--out", "{dest}", "--batch-sizes", "1",
              "--seconds", "0.01"],
    "loadtest": ["loadtest", "--onnx", "{onnx}", "--name", "m", "--wait", "0.5", "--out",
                 "{dest}"],
    "export-bdt": ["export-bdt", "--model", "{xgb}", "--out", "{dest}"],
    "export-rtl": ["export-rtl", "--firmware", "{fw}", "--out", "{dest}"],
}


def _file_in_the_way(tmp: Path) -> str:
    (tmp / "blocker").write_text("x")
    return str(tmp / "blocker" / "sub" / "out.npy")


def _directory_in_the_way(tmp: Path) -> str:
    (tmp / "taken.npy").mkdir()
    (tmp / "taken.npy" / "keep").write_text("x")
    return str(tmp / "taken.npy")


def _read_only(tmp: Path) -> str:
    ro = tmp / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    if os.access(ro, os.W_OK):           # root ignores permissions: a file in the way instead
        os.chmod(ro, 0o700)
        (ro / "file").write_text("x")
        return str(ro / "file" / "out.npy")
    return str(ro / "out.npy")


OUTPUT_BREAKS = {"file in the way": _file_in_the_way, "read-only directory": _read_only}
# Outputs that are files (a directory of that name in the way is refused, never replaced).
FILE_OUTPUTS = ("simulate", "export-onnx --model", "export-onnx --firmware", "patterns",
                "emulate", "loadtest")


# --- bad values --------------------------------------------------------------------------------
BAD_FLAGS = [
    ["simulate", "--events", "10", "--seed", "-1", "--out", "{out}/x.root"],
    ["simulate", "--events", "0", "--out", "{out}/x.root"],
    ["simulate", "--events", "ten", "--out", "{out}/x.root"],
    ["simulate", "--events", "10", "--minbias", "-3", "--out", "{out}/x.root"],
    ["simulate", "--events", "10"],
    ["inspect", "{root}", "--max-events", "0"],
    ["inspect"],
    ["run", "{yaml}", "--out", "{out}/r", "--banana"],
    ["train", "--out", "{out}/r"],
    ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{out}/o.npy", "--workers",
     "-1"],
    ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{out}/o.npy", "--workers",
     "0"],
    ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{out}/o.npy",
     "--step-size", "0"],
    ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{out}/o.npy",
     "--monitor-events", "-5"],
    ["emulate", "--firmware", "{fw}", "--input", "{npy}", "--out", "{out}/o.txt"],
    ["emulate", "--firmware", "{fw}", "--input", "{npy}"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--batch-sizes", "abc"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--batch-sizes", "0,8"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--events", "0"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--offered-rate", "-5"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--seconds", "nan"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--threads", "0"],
    ["bench", "--onnx", "{onnx}", "--out", "{out}/b", "--device", "banana"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--clock-ns", "-5"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--clock-ns", "inf"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--part", "banana"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--target-scale", "0"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--reuse-factor", "0"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--io-type", "io_banana"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--columns", ""],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--testbench", "-1"],
    ["export-hls", "--model", "{h5}", "--out", "{out}/z", "--backend", "Banana"],
    ["export-onnx", "--out", "{out}/m.onnx"],
    ["export-onnx", "--model", "{h5}", "--firmware", "{fw}", "--out", "{out}/m.onnx"],
    ["export-onnx", "--firmware", "{fw}", "--out", "{out}/m.onnx", "--opset", "3"],
    ["export-triton", "--onnx", "{onnx}", "--repo", "{out}/r", "--name", "m",
     "--max-batch-size", "0"],
    ["export-triton", "--onnx", "{onnx}", "--repo", "{out}/r", "--name", "bad/name"],
    ["export-triton", "--onnx", "{onnx}", "--repo", "{out}/r", "--name", "m", "--kind", "tpu"],
    ["export-cmssw", "--firmware", "{fw}", "--out", "{out}/p", "--name", "bad name!"],
    ["serve", "--onnx", "{onnx}", "--name", "x", "--http-port", "70000"],
    ["serve", "--onnx", "{onnx}", "--name", "x", "--grpc-port", "-1"],
    ["serve", "--onnx", "{onnx}", "--name", "x", "--http-port", "8100", "--grpc-port", "8100"],
    ["serve", "--onnx", "{onnx}", "--firmware", "{fw}", "--name", "x"],
    ["serve", "--name", "x"],
    ["loadtest", "--onnx", "{onnx}", "--name", "x", "--clients", "0"],
    ["loadtest", "--onnx", "{onnx}", "--name", "x", "--rate", "-1"],
    ["loadtest", "--onnx", "{onnx}", "--name", "x", "--protocol", "ftp"],
    ["loadtest", "--onnx", "{onnx}", "--name", "x", "--wait", "0"],
    ["patterns", "--firmware", "{fw}", "--out", "{out}/p.txt", "--events", "0"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--precision", "weight=ap_fixed<8,1>"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--precision", "score=ap_fixed<16,1>"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--precision", "banana"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--precision", "size=ap_fixed<8,3>"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--precision", "input=ap_fixed<6,2>",
     "--input", "{npy}", "--columns", "a,b,c,d"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--columns", "a,b"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--backend", "vhdl"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--features", "muon_engineered"],
    ["export-bdt", "--model", "{xgb}", "--out", "{out}/b", "--check-events", "0"],
    ["export-bdt", "--model", "{h5}", "--out", "{out}/b"],
    ["emulate", "--firmware", "{bdtfw}", "--input", "{npy}", "--out", "{out}/o.npy",
     "--monitor"],
    ["banana"],
    [],
]

BAD_CONFIG_VALUES = [
    ("firmware", "reuse_factor", 0, "firmware.reuse_factor: must be >= 1"),
    ("firmware", "clock_period_ns", "fast", "firmware.clock_period_ns: must be a number"),
    ("firmware", "clock_period_ns", -5, "firmware.clock_period_ns"),
    ("firmware", "io_type", "io_banana", "firmware.io_type: must be one of"),
    ("firmware", "reuse_facter", 2, "firmware: unknown key"),
    ("firmware", "csim_events", -1, "firmware.csim_events"),
    ("runtime", "batch_sizes", [0], "runtime.batch_sizes[0]: must be >= 1"),
    ("runtime", "batch_sizes", "many", "runtime.batch_sizes"),
    ("runtime", "offered_rate", -5, "runtime.offered_rate: must be >= "),
    ("runtime", "triton", "yes", "runtime.triton: must be true or false"),
    ("runtime", "seconds", 0, "runtime.seconds"),
    ("budgets", "algorithm_latency_ns", "fast", "budgets.algorithm_latency_ns"),
    ("budgets", "preset", "banana", "budgets.preset"),
    ("metrics", "thresholds", ["ten"], "metrics.thresholds[0]: must be a number"),
    ("metrics", "thresholds", 20, "metrics.thresholds"),
    ("metrics", "rate_thresholds", [-5], "metrics.rate_thresholds[0]"),
    ("training", "learning_rate", "fast", "training.learning_rate: must be a number"),
    ("training", "epochs", 0, "training.epochs"),
    ("training", "batch_size", 2.5, "training.batch_size"),
    ("quantization", "scan_bits", ["x"], "quantization.scan_bits[0]: must be an integer"),
    ("pruning", "target_sparsity", 0.5, "pruning: this section is not read"),
    ("data", "split", "abc", "data.split"),
    ("data", "events", -10, "data.events"),
    ("data", "events", 0, "data.events must be at least"),
    ("data", "events", 5, "data.events must be at least"),
    ("simulation", "pt_min", "low", "simulation.pt_min must be a finite number"),
    ("simulation", "station_efficiency", [1, 1], "simulation.station_efficiency"),
    ("simulation", "bunch_crossing_rate_hz", 0, "simulation.bunch_crossing_rate_hz"),
    ("simulation", "phi_resolution_rad", float("nan"), "simulation.phi_resolution_rad"),
    ("data", "step_size", 0, "data.step_size"),
    ("data", "source", "banana", "data.source"),
    ("bdts", None, {"name": "x"}, "bdts"),
    ("bdts", None, [{"name": "x", "max_trees": 0}], "bdts[0].max_trees"),
    ("bdts", None, [{"name": "x", "depth": 3}], "bdts[0]: unknown key"),
    ("bdts", None, [{"name": "x", "precision": "score=ap_fixed<16,1>"}], "bdts[0]"),
    ("bdts", None, [{"name": "x", "scan_trees": [500]}], "bdts[0]: no scan point"),
    ("seed", None, "abc", "seed"),
    ("bananas", None, 1, "bananas"),
]


def _config_doc(section, key, value):
    from triginfer.config import DEFAULT_CONFIG

    doc = yaml.safe_load(DEFAULT_CONFIG.read_text())
    if key is None:
        doc[section] = value
    else:
        doc.setdefault(section, {})[key] = value
    return doc


# --- event files with bad contents -------------------------------------------------------------
def _muon_file(tmp: Path, edit) -> str:
    muons = simulate_muons(200, 4)
    edit(muons)
    path = tmp / "edited.root"
    write_samples(path, {"muons": muons, "minbias": simulate_minbias(100, 4)})
    return str(path)


def _as_float(muons, attr, index, value):
    arr = getattr(muons, attr).astype(np.float64)
    arr[index] = value
    setattr(muons, attr, arr)


DATA_BREAKS = {
    "phi out of range": lambda m: m.phi.__setitem__((5, 1), 99999),
    "phi negative": lambda m: _as_float(m, "phi", (7, 0), -3),
    "phi fractional": lambda m: _as_float(m, "phi", (5, 1), 10.5),
    "phi NaN": lambda m: _as_float(m, "phi", (2, 2), np.nan),
    "theta inf": lambda m: _as_float(m, "theta", (2, 0), np.inf),
    "bend out of range": lambda m: m.bend.__setitem__((1, 1), 99999),
    "presence 3": lambda m: m.present.__setitem__((0, 0), 3),
}

DATA_COMMANDS = {
    "run": lambda p, tmp: ["run", _files_config(tmp, p), "--out", "{out}/run"],
    "emulate": lambda p, tmp: ["emulate", "--firmware", "{fw21}", "--input", p, "--out",
                               "{out}/o.npy"],
}


def _files_config(tmp: Path, path: str) -> str:
    cfg = tmp / "files.yaml"
    cfg.write_text(yaml.safe_dump({"seed": 1, "data": {"source": "files", "files": [path],
                                                         "minbias_files": [path]}}))
    return str(cfg)


def _npy_with(tmp: Path, value, shape=(10, 3), dtype=np.float64) -> str:
    arr = np.zeros(shape, dtype=dtype)
    if value is not None:
        arr.flat[4] = value
    np.save(tmp / "bad_events.npy", arr)
    return str(tmp / "bad_events.npy")


NPY_BREAKS = {
    "NaN": lambda tmp: _npy_with(tmp, np.nan),
    "inf": lambda tmp: _npy_with(tmp, -np.inf),
    "wrong width": lambda tmp: _npy_with(tmp, None, shape=(10, 4)),
    "one dimension": lambda tmp: _npy_with(tmp, None, shape=(30,)),
    "no events": lambda tmp: _npy_with(tmp, None, shape=(0, 3)),
    "strings": lambda tmp: (np.save(tmp / "bad_events.npy", np.full((10, 3), "a")),
                            str(tmp / "bad_events.npy"))[1],
    "object array": lambda tmp: (np.save(tmp / "bad_events.npy",
                                         np.array([[1, None, 2]] * 10, dtype=object)),
                                 str(tmp / "bad_events.npy"))[1],
}
NPY_COMMANDS = {
    "emulate": ["emulate", "--firmware", "{fw}", "--input", "{bad}", "--out", "{out}/o.npy"],
    "patterns": ["patterns", "--firmware", "{fw}", "--input", "{bad}", "--out", "{out}/p.txt"],
    "export-rtl": ["export-rtl", "--firmware", "{fw}", "--input", "{bad}", "--out",
                   "{out}/rtl"],
}


# --- the table ----------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    argv: list[str]
    #: breaks something under the test directory before the command runs; returns extra
    #: placeholders for ``argv``
    prepare: Callable[[Path, dict[str, Path]], dict[str, str]] = lambda tmp, goods: {}
    needle: str | None = None
    copies: tuple[str, ...] = field(default=())  # good inputs copied into the test directory


def _cases() -> list[Case]:
    cases: list[Case] = []
    for name, argv, kind in FILE_ARGS:
        for how, fn in FILE_BREAKS.items():
            def prepare(tmp, goods, fn=fn, kind=kind):
                bad = tmp / f"bad{FILE_EXT[kind]}"
                fn(bad, goods[kind])
                return {"bad": str(bad)}
            needle = "not found" if how == "missing" else None
            cases.append(Case(f"{name} [{how}]", argv, prepare, needle))
    for command, argv in SPEC_COMMANDS.items():
        for how, fn in SPEC_BREAKS.items():
            cases.append(Case(f"{command} spec [{how}]", argv,
                              lambda tmp, goods, fn=fn: (fn(tmp / "fw"), {})[1], copies=("fw",)))
    for how, fn in BDT_BREAKS.items():
        cases.append(Case(f"emulate bdt spec [{how}]",
                          ["emulate", "--firmware", "{bdtfw}", "--input", "{npy}", "--out",
                           "{out}/o.npy"],
                          lambda tmp, goods, fn=fn: (fn(tmp / "bdtfw"), {})[1],
                          copies=("bdtfw",)))
    for command, argv in OUTPUT_COMMANDS.items():
        for how, fn in OUTPUT_BREAKS.items():
            cases.append(Case(f"{command} out [{how}]", argv,
                              lambda tmp, goods, fn=fn: {"dest": fn(tmp)}))
        if command in FILE_OUTPUTS:
            cases.append(Case(f"{command} out [directory in the way]", argv,
                              lambda tmp, goods: {"dest": _directory_in_the_way(tmp)}))
    for argv in BAD_FLAGS:
        cases.append(Case("flags: " + " ".join(argv[:1] + argv[-2:]), argv))
    for section, key, value, message in BAD_CONFIG_VALUES:
        for command in ("run", "train"):
            def prepare(tmp, goods, section=section, key=key, value=value):
                (tmp / "bad.yaml").write_text(yaml.safe_dump(_config_doc(section, key, value)))
                return {"bad": str(tmp / "bad.yaml")}
            cases.append(Case(f"{command} config [{section}.{key}={value!r}]",
                              [command, "{bad}", "--out", "{out}/run"], prepare, message))
    for models in ([], None):   # `train` needs models (`run` without them does the data steps)
        def prepare(tmp, goods, models=models):
            (tmp / "bad.yaml").write_text(yaml.safe_dump(_config_doc("models", None, models)))
            return {"bad": str(tmp / "bad.yaml")}
        cases.append(Case(f"train config [models={models!r}]",
                          ["train", "{bad}", "--out", "{out}/run"], prepare, "no models to train"))
    for how, edit in DATA_BREAKS.items():
        for command, make in DATA_COMMANDS.items():
            def prepare(tmp, goods, edit=edit, make=make):
                return {"argv": make(_muon_file(tmp, edit), tmp)}
            cases.append(Case(f"{command} data [{how}]", [command], prepare))
    for how, make in NPY_BREAKS.items():
        for command, argv in NPY_COMMANDS.items():
            cases.append(Case(f"{command} events [{how}]", argv,
                              lambda tmp, goods, make=make: {"bad": make(tmp)}))
    return cases


CASES = _cases()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_the_table_is_large():
    commands = {c.argv[0] for c in CASES if c.argv}
    assert len(CASES) >= 190
    assert commands >= {"simulate", "inspect", "run", "train", "export-hls", "export-onnx",
                        "export-triton", "export-cmssw", "emulate", "patterns", "bench",
                        "serve", "loadtest", "export-bdt"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(cli, capsys, goods, tmp_path, case):
    import shutil

    for name in case.copies:
        shutil.copytree(goods[name], tmp_path / name)
    values = {k: str(v) for k, v in goods.items()}
    values.update({name: str(tmp_path / name) for name in case.copies})
    values["out"] = str(tmp_path / "out")
    extra = case.prepare(tmp_path, goods)
    argv = extra.pop("argv", case.argv)
    values.update(extra)
    argv = [a.format(**values) for a in argv]
    before = _tree(tmp_path)
    capsys.readouterr()                            # what preparing the case printed
    try:
        result = cli(*argv)
    finally:
        for ro in tmp_path.rglob("ro"):
            os.chmod(ro, 0o700)
    lines = result.err.strip().splitlines()
    assert result.code == 2, (argv, result.err[-3000:])
    assert len(lines) == 1, (argv, result.err[-3000:])
    assert lines[0].startswith("triginfer: error:"), lines
    assert "Traceback" not in result.err
    if case.needle:
        assert case.needle in lines[0], lines[0]
    assert _tree(tmp_path) == before, argv


# Where succeeding is right.
EXIT_0 = [
    ("missing parent directories of an output are created",
     ["simulate", "--events", "10", "--out", "{out}/new/dir/x.root"], "new/dir/x.root"),
    ("an existing output file is replaced atomically",
     ["export-onnx", "--firmware", "{fw}", "--out", "{out}/m.onnx"], "m.onnx"),
]


@pytest.mark.parametrize(("what", "argv", "made"), EXIT_0, ids=[w for w, _, _ in EXIT_0])
def test_listed_exit_0_cases(cli, goods, tmp_path, what, argv, made):
    out = tmp_path / "out"
    out.mkdir()
    if "replaced" in what:
        (out / made).write_text("old")
    values = {**{k: str(v) for k, v in goods.items()}, "out": str(out)}
    result = cli(*[a.format(**values) for a in argv])
    assert result.code == 0, result.err
    assert (out / made).is_file()
    assert (out / made).read_bytes() != b"old"
    assert not [p for p in out.rglob(".*") if p.name.endswith(".tmp")]
