"""A corrupt or hand-edited firmware directory is a one-line error in every command that reads
it, before anything is written (never a traceback, never a wrong model)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from triginfer.hls_export import FirmwareSpec, SpecLayer


def _spec(directory):
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
    FirmwareSpec("corrupt", layers).save(directory)


def _edit_json(directory, fn):
    path = directory / "firmware_spec.json"
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _edit_npz(directory, fn):
    path = directory / "firmware_spec.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    fn(arrays)
    np.savez(path, **arrays)


def _layer(doc, name):
    return next(layer for layer in doc["layers"] if layer["name"] == name)


CORRUPTIONS = {
    "layer missing": lambda d: _edit_json(d, lambda doc: doc["layers"].pop(2)),
    "bad type string": lambda d: _edit_json(
        d, lambda doc: _layer(doc, "d1")["types"].__setitem__("accum", "fixed<8,banana>")),
    "unknown kind": lambda d: _edit_json(d, lambda doc: _layer(doc, "r1").__setitem__(
        "kind", "lstm")),
    "missing result type": lambda d: _edit_json(d, lambda doc: _layer(doc, "r1")["types"].pop(
        "result")),
    "weight of the wrong shape": lambda d: _edit_npz(
        d, lambda a: a.__setitem__("d1/weight", np.zeros((2, 4), np.int64))),
    "npz missing an array": lambda d: _edit_npz(d, lambda a: a.pop("out/weight")),
    "not json": lambda d: (d / "firmware_spec.json").write_text("{ nope"),
    "json not a mapping": lambda d: (d / "firmware_spec.json").write_text("[1, 2]"),
    "pickled npz": lambda d: (d / "firmware_spec.npz").write_bytes(pickle.dumps({"a": 1})),
    "npz missing": lambda d: (d / "firmware_spec.npz").unlink(),
    "unknown schema": lambda d: _edit_json(d, lambda doc: doc.__setitem__("schema_version", 9)),
    "output not a layer": lambda d: _edit_json(d, lambda doc: doc.__setitem__(
        "outputs", ["nothing"])),
}


@pytest.mark.parametrize("what", sorted(CORRUPTIONS))
@pytest.mark.parametrize("command", ["emulate", "export-onnx", "patterns", "export-cmssw"])
def test_corrupt_spec_is_one_line_error(cli, tmp_path, what, command):
    fw = tmp_path / "fw"
    _spec(fw)
    CORRUPTIONS[what](fw)
    out = tmp_path / "out"
    argv = {"emulate": ["--input", str(tmp_path / "x.npy"), "--out", str(out / "o.npy")],
            "export-onnx": ["--out", str(out / "m.onnx")],
            "patterns": ["--out", str(out / "p.txt")],
            "export-cmssw": ["--out", str(out)]}[command]
    np.save(tmp_path / "x.npy", np.zeros((10, 3)))
    result = cli(command, "--firmware", fw, *argv)
    assert result.code == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("triginfer: error:")
    assert "Traceback" not in result.err
    assert not out.exists() or not any(out.iterdir())
