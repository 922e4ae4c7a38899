"""Any model in, as users have them: the CLI and the Python API on a model without an input
quantizer, hls4ml's own conversion wrapped by from_hls_model, the user's hls4ml configuration,
and emulation of a user model's named columns."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tests.zoo import GRAPH_ZOO, build_graph, graph_inputs
from triginfer.emulation import Emulator
from triginfer.hls_export import FirmwareSpec, SpecLayer


def _jet_tagger():
    entry = next(e for e in GRAPH_ZOO if e.name == "jet_tagger")
    return entry, build_graph(entry)


@pytest.mark.slow
def test_jet_tagger_cli_and_from_hls_model(cli, tmp_path):
    """The hls4ml-tutorial jet tagger (16-64-32-32-5, 6-bit, softmax, no input quantizer)."""
    import hls4ml

    from triginfer.hls_export import from_hls_model
    from triginfer.trigger_models.training import save_model

    entry, model = _jet_tagger()
    path = save_model(model, tmp_path / "jets.h5")
    out = tmp_path / "fw"
    result = cli("export-hls", "--model", path, "--out", out, "--compile", "--check-events",
                 "3000")
    assert result.code == 0, result.err
    assert "emulator == C-sim on 3000" in result.out, result.out
    assert "C-sim == Keras on" in result.out
    spec = FirmwareSpec.load(out)
    assert [layer.kind for layer in spec.layers][-1] == "softmax"
    assert spec.settings["bit_exact"] is False       # no input quantizer: hls4ml's input type

    # hls4ml's own conversion, wrapped
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=str(tmp_path / "own"), backend="Vitis",
        io_type="io_parallel")
    firmware = from_hls_model(hls_model)
    assert (tmp_path / "own" / "firmware_spec.json").exists()
    firmware.compile()
    x = graph_inputs(model, entry, 100_000)[0]
    csim = firmware.csim_predict(x)
    emulated = Emulator(FirmwareSpec.load(tmp_path / "own")).predict(x)
    bad = int(np.sum(np.any(emulated != csim, axis=1)))
    print(f"from_hls_model jet tagger: {bad} mismatching events of {len(x)}")
    assert bad == 0
    assert np.std(csim) > 0.05


@pytest.mark.slow
def test_write_config_then_convert_with_it(cli, tmp_path):
    from triginfer.trigger_models.training import save_model

    entry = next(e for e in GRAPH_ZOO if e.name == "float_ptq_dnn")
    model = build_graph(entry)
    path = save_model(model, tmp_path / "m.h5")
    cfg = tmp_path / "hls.yml"
    result = cli("export-hls", "--model", path, "--write-config", cfg)
    assert result.code == 0, result.err
    assert not (tmp_path / "fw").exists()
    config = yaml.safe_load(cfg.read_text())
    config["LayerName"]["fc1"]["Precision"]["result"] = "fixed<10,4,RND,SAT>"
    config["LayerName"]["fc1"]["ReuseFactor"] = 2
    cfg.write_text(yaml.safe_dump(config))
    result = cli("export-hls", "--model", path, "--out", tmp_path / "fw", "--hls-config", cfg,
                 "--compile", "--check-events", "2000")
    assert result.code == 0, result.err
    assert "emulator == C-sim on 2000" in result.out
    spec = FirmwareSpec.load(tmp_path / "fw")
    assert spec.layer("fc1").types["result"] == "fixed<10,4,RND,SAT>"


def test_bad_hls_config_is_one_line_error(cli, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("Banana: 1\n")
    model = tmp_path / "missing.h5"
    result = cli("export-hls", "--model", model, "--out", tmp_path / "fw", "--hls-config", bad)
    assert result.code == 2
    assert result.err.startswith("triginfer: error:")
    from triginfer.errors import ConfigError
    from triginfer.hls_export.converter import load_hls_config

    with pytest.raises(ConfigError, match="unknown top-level keys"):
        load_hls_config(bad)
    with pytest.raises(ConfigError, match="no 'Model' section"):
        load_hls_config({"LayerName": {}})


def _column_spec(tmp_path, columns):
    layers = [
        SpecLayer("inputs", "input", (3,), (3,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("dense_1", "dense", (3,), (2,),
                  {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<20,8>",
                   "result": "fixed<20,8>"}, {"n_in": 3, "n_out": 2},
                  {"weight": np.array([[1, -2], [3, 4], [-5, 6]]), "bias": np.array([7, -8])}),
    ]
    spec = FirmwareSpec("user", layers, {"io_type": "io_parallel"},
                        features={"columns": columns} if columns else {})
    spec.save(tmp_path / "fw")
    return spec


def test_emulate_a_user_model_from_parquet_npy_and_root(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import uproot

    spec = _column_spec(tmp_path, ["a", "b", "c"])
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(0, 4, (5000, 3)) * 64) / 64
    want = Emulator(spec).predict(x)
    pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}), tmp_path / "in.parquet")
    np.save(tmp_path / "in.npy", x)
    with uproot.recreate(tmp_path / "in.root") as f:
        f["events"] = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}
    for name, extra in (("in.parquet", []), ("in.npy", []), ("in.root", ["--tree", "events"])):
        out = tmp_path / f"out_{name}.npy"
        result = cli("emulate", "--firmware", tmp_path / "fw", "--input", tmp_path / name,
                     "--out", out, "--step-size", "1234", *extra)
        assert result.code == 0, result.err
        got = np.load(out)
        np.testing.assert_array_equal(got["event"], np.arange(len(x)))
        np.testing.assert_array_equal(np.stack([got["output_0"], got["output_1"]], axis=1), want)
    missing = cli("emulate", "--firmware", tmp_path / "fw", "--input", tmp_path / "in.root",
                  "--tree", "events", "--out", tmp_path / "o.npy")
    assert missing.code == 0
    _column_spec(tmp_path, ["a", "b", "zz"])
    bad = cli("emulate", "--firmware", tmp_path / "fw", "--input", tmp_path / "in.parquet",
              "--out", tmp_path / "o2.npy")
    assert bad.code == 2
    assert "zz" in bad.err
    assert not (tmp_path / "o2.npy").exists()


def test_emulate_jagged_branches_padded(cli, tmp_path):
    import awkward as ak
    import uproot

    layers = [
        SpecLayer("hits", "input", (4, 2), (4, 2), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("flat", "flatten", (4, 2), (8,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("out", "dense", (8,), (1,),
                  {"weight": "fixed<6,1>", "accum": "fixed<24,10>", "result": "fixed<24,10>"},
                  {"n_in": 8, "n_out": 1}, {"weight": np.arange(8).reshape(8, 1) - 4}),
    ]
    spec = FirmwareSpec("jag", layers, features={"columns": ["e", "t"]})
    spec.save(tmp_path / "fw")
    e = ak.Array([[1.0, 2.0], [3.0, 4.0, 5.0, 6.0, 7.0], []])
    t = ak.Array([[0.5, -0.5], [1.0, 1.0, 1.0, 1.0, 1.0], []])
    with uproot.recreate(tmp_path / "j.root") as f:
        f["tree"] = {"e": e, "t": t}
    out = tmp_path / "j.npy"
    result = cli("emulate", "--firmware", tmp_path / "fw", "--input", tmp_path / "j.root",
                 "--tree", "tree", "--out", out)
    assert result.code == 0, result.err
    x = np.zeros((3, 4, 2))
    x[0, :2, 0], x[0, :2, 1] = [1, 2], [0.5, -0.5]
    x[1, :, 0], x[1, :, 1] = [3, 4, 5, 6], 1.0              # truncated to 4 hits
    np.testing.assert_array_equal(np.load(out)["output_0"], Emulator(spec).predict(x)[:, 0])
