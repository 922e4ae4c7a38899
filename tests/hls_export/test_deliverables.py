"""Deliverables: the CMSSW emulator plugin (built with g++, loaded as CMSSW's ModelLoader does,
equal to the Python emulator), hls4ml's C testbench on triginfer's tb_data (zero mismatches),
and bit patterns read back by an independent parser."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.zoo import GRAPH_ZOO, build_graph, graph_config
from triginfer.emulation import Emulator
from triginfer.hls_export import FirmwareSpec, convert

N_PLUGIN = 100_000

HARNESS = r"""
// Does what CMSSW's hls4mlEmulator::ModelLoader does: dlopen NAME.so, create_model(), then
// prepare_input / predict / read_result per event, destroy_model() at the end.
#include "hls4ml/emulator.h"
#include "defines.h"
#include <cstdio>
#include <tuple>
#include <vector>
int main(int argc, char **argv) {
  hls4mlEmulator::ModelLoader loader(argv[1]);
  auto model = loader.load_model();
  FILE *fin = fopen(argv[2], "rb");
  FILE *fout = fopen(argv[3], "wb");
  long n = atol(argv[4]);
  std::vector<double> buf(%(n_in_total)d);
  %(declare)s
  for (long e = 0; e < n; ++e) {
    if (fread(buf.data(), sizeof(double), buf.size(), fin) != buf.size()) return 3;
    long k = 0;
    %(fill)s
    model->prepare_input(%(in_arg)s);
    model->predict();
    model->read_result(%(out_arg)s);
    %(write)s
  }
  fclose(fin); fclose(fout);
  return 0;
}
"""


def _harness(package: Path, full: str, spec: FirmwareSpec) -> str:
    from triginfer.hls_export.deliverables import top_function_args

    project = spec.settings["project_name"]
    args = top_function_args((package / full / "NN" / f"{project}.h").read_text(), project)
    ins, outs = args[:len(spec.inputs)], args[len(spec.inputs):]
    declare = "\n  ".join(f"{t} in{i}[{n}];" for i, (t, _, n) in enumerate(ins)) + "\n  " + \
        "\n  ".join(f"{t} out{i}[{n}];" for i, (t, _, n) in enumerate(outs))
    fill = "\n    ".join(f"for (int i = 0; i < {n}; ++i) in{i}[i] = buf[k++];"
                         for i, (_, _, n) in enumerate(ins))
    write = "\n    ".join(f"for (int i = 0; i < {n}; ++i) {{ double v = out{i}[i].to_double(); "
                          "fwrite(&v, sizeof(double), 1, fout); }"
                          for i, (_, _, n) in enumerate(outs))
    in_arg = "in0" if len(ins) == 1 else "std::make_tuple(" + ", ".join(
        f"static_cast<{t} *>(in{i})" for i, (t, _, _) in enumerate(ins)) + ")"
    out_arg = "out0" if len(outs) == 1 else "std::make_tuple(" + ", ".join(
        f"static_cast<{t} *>(out{i})" for i, (t, _, _) in enumerate(outs)) + ")"
    return HARNESS % {"n_in_total": sum(n for _, _, n in ins), "declare": declare,
                      "fill": fill, "write": write, "in_arg": in_arg, "out_arg": out_arg}


def _default_model(kind: str):
    """The default DNN/CNN architecture (configs/muon_pt_*.yaml) with its initial weights."""
    import tensorflow as tf
    import yaml

    from tests.conftest import REPO
    from triginfer.trigger_models.builders import build_quantized, input_shape
    from triginfer.trigger_models.workflow import parse_models

    tf.keras.utils.set_random_seed(3)
    config = "muon_pt_dnn.yaml" if kind == "dnn" else "muon_pt_cnn.yaml"
    doc = yaml.safe_load((REPO / "configs" / config).read_text())
    mc = parse_models(doc["models"])[0]
    model = build_quantized(mc, input_shape(mc.kind))
    rng = np.random.default_rng(3)
    for layer in model.layers:     # non-zero biases, so every output varies
        weights = layer.get_weights()
        if len(weights) == 2:
            layer.set_weights([weights[0], rng.normal(0, 0.3, weights[1].shape)])
    return mc, model


@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    from triginfer.hls_export.deliverables import emulator_extras

    return emulator_extras(tmp_path_factory.mktemp("extras") / "hls4mlEmulatorExtras")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["dnn", "cnn", "two_inputs_two_outputs"])
def test_cmssw_plugin_equals_emulator(which, extras, tmp_path, cli):
    from triginfer.emulation.files import feature_set_of, inputs_for

    if which in ("dnn", "cnn"):
        mc, model = _default_model(which)
        firmware = convert(model, tmp_path / "fw", project_name=which,
                           features={"set": feature_set_of(which)})
        firmware.spec.settings["target_scale"] = 8.0
        firmware.spec.save(tmp_path / "fw")
    else:
        entry = next(e for e in GRAPH_ZOO if e.name == which)
        model = build_graph(entry)
        firmware = convert(model, tmp_path / "fw", hls_config=graph_config(model, entry))
    spec = FirmwareSpec.load(tmp_path / "fw")
    result = cli("export-cmssw", "--firmware", tmp_path / "fw", "--out", tmp_path / "pkg",
                 "--name", "TestNet", "--extras", extras)
    assert result.code == 0, result.err
    package = tmp_path / "pkg" / "TestNet"
    so = package / "TestNet_v1" / "TestNet_v1.so"
    assert so.exists()
    assert not list((package / "TestNet_v1" / "NN" / "weights").glob("*.txt"))
    src = tmp_path / "harness.cpp"
    src.write_text(_harness(package, "TestNet_v1", spec))
    exe = tmp_path / "harness"
    subprocess.run(["g++", "-O1", "-std=c++17", f"-I{extras / 'include'}",
                    f"-I{extras / 'include' / 'ap_types'}", f"-I{package / 'TestNet_v1' / 'NN'}",
                    str(src), f"-L{extras / 'lib64'}", "-lemulator_interface", "-ldl",
                    "-o", str(exe)], check=True)
    x = inputs_for(spec, None, N_PLUGIN)
    flat = np.concatenate([a.reshape(len(a), -1) for a in x], axis=1)
    flat.astype(np.float64).tofile(tmp_path / "in.bin")
    env = {"LD_LIBRARY_PATH": f"{extras / 'lib64'}:{so.parent}"}
    subprocess.run([str(exe), "TestNet_v1", str(tmp_path / "in.bin"), str(tmp_path / "out.bin"),
                    str(N_PLUGIN)], check=True, env=env, cwd=so.parent)
    want = Emulator(spec).predict(x if len(x) > 1 else x[0])
    want = np.concatenate(want if isinstance(want, list) else [want], axis=1)
    got = np.fromfile(tmp_path / "out.bin", dtype=np.float64).reshape(want.shape)
    bad = int(np.sum(np.any(got != want, axis=1)))
    print(f"{which}: plugin vs emulator: {bad} mismatching events of {len(want)}")
    assert bad == 0
    assert np.std(want) > 0.01


@pytest.mark.slow
def test_hls4ml_testbench_on_triginfer_tb_data(tmp_path, cli):
    from triginfer.trigger_models.training import save_model

    entry = next(e for e in GRAPH_ZOO if e.name == "jet_tagger")
    path = save_model(build_graph(entry), tmp_path / "m.h5")
    out = tmp_path / "fw"
    result = cli("export-hls", "--model", path, "--out", out, "--testbench", "2000")
    assert result.code == 0, result.err
    spec = FirmwareSpec.load(out)
    project = spec.settings["project_name"]
    exe = out / "tb"
    subprocess.run(["g++", "-O1", "-std=c++14", "-Ifirmware/ap_types", "-Ifirmware",
                    "-DWEIGHTS_DIR=\"firmware/weights\"",
                    f"{project}_test.cpp", f"firmware/{project}.cpp", "-o", str(exe)],
                   check=True, cwd=out)
    subprocess.run([str(exe)], check=True, cwd=out, capture_output=True)
    got = np.loadtxt(out / "tb_data" / "csim_results.log")
    want = np.loadtxt(out / "tb_data" / "tb_output_predictions.dat")
    bad = int(np.sum(np.any(got != want, axis=1)))
    print(f"hls4ml C testbench vs triginfer expected outputs: {bad} mismatches of {len(want)}")
    assert got.shape == want.shape == (2000, 5)
    assert bad == 0
    assert np.std(want) > 0.05


def _parse_patterns(path: Path):
    """An independent reader: header fields, then hex words per line."""
    fields = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("# in ") or line.startswith("# out "):
            role, rest = line[2:].split(" ", 1)
            name, desc = rest.split(": ", 1)
            count = int(desc.split(" x ")[0])
            typ = desc.split(" x ")[1].split(" (")[0]       # fixed<W,I,...>
            width, integer = (int(v) for v in typ[typ.index("<") + 1:].split(",")[:2])
            fields.append((role, name, count, width, integer, typ.startswith("fixed")))
        elif not line.startswith("#"):
            rows.append(line.split())
    values = {}
    col = 0
    for role, name, count, width, integer, signed in fields:
        raw = np.array([[int(w, 16) for w in r[col:col + count]] for r in rows], dtype=object)
        if signed:
            raw = np.where(raw >= 2 ** (width - 1), raw - 2**width, raw)
        values[(role, name)] = np.array(raw, dtype=np.float64) * 2.0 ** -(width - integer)
        col += count
    return values


def test_patterns_read_back(tmp_path, cli):
    from triginfer.hls_export import SpecLayer

    layers = [
        SpecLayer("x", "input", (3,), (3,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("d", "dense", (3,), (2,),
                  {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<20,8>",
                   "result": "fixed<13,6,RND,SAT>"}, {"n_in": 3, "n_out": 2},
                  {"weight": np.array([[1, -2], [3, 4], [-5, 6]]), "bias": np.array([7, -8])}),
    ]
    spec = FirmwareSpec("pat", layers)
    spec.save(tmp_path / "fw")
    result = cli("patterns", "--firmware", tmp_path / "fw", "--events", "1000", "--out",
                 tmp_path / "p.txt")
    assert result.code == 0, result.err
    values = _parse_patterns(tmp_path / "p.txt")
    x = values[("in", "x")]
    assert x.shape == (1000, 3)
    np.testing.assert_array_equal(values[("out", "d")], Emulator(spec).predict(x))
    assert np.std(values[("out", "d")]) > 0.05
    assert (x < 0).any()
