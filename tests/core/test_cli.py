"""The command line: help, version, simulate/inspect/run, and one-line errors with exit 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from triginfer.rootio import read_sample
from triginfer.simulation import simulate_minbias, simulate_muons

SUBCOMMANDS = ("simulate", "inspect", "run", "train", "export-hls", "export-bdt", "emulate",
               "export-onnx",
               "export-triton")


def test_version_and_help(cli):
    result = cli("--version")
    assert result.code == 0
    assert "triginfer 0.1.0" in result.out
    result = cli("--help")
    assert result.code == 0
    for name in SUBCOMMANDS:
        assert name in result.out
        sub = cli(name, "--help")
        assert sub.code == 0
        assert "--quiet" in sub.out
        assert "--verbose" in sub.out


def test_simulate_then_inspect(cli, tmp_path):
    out = tmp_path / "sim.root"
    result = cli("simulate", "--events", "3000", "--minbias", "2000", "--seed", "5", "--out", out)
    assert result.code == 0, result.err
    muons = read_sample(out, "muons")
    np.testing.assert_array_equal(muons.phi, simulate_muons(3000, 5).phi)
    minbias = read_sample(out, "minbias")
    np.testing.assert_array_equal(minbias.truth["gen_pt"], simulate_minbias(2000, 5).truth["gen_pt"])
    result = cli("inspect", out)
    assert result.code == 0
    assert "tree muons: 3000 entries" in result.out
    assert "tree minbias: 2000 entries" in result.out
    assert "dphi_12" in result.out


def test_quiet_and_verbose(cli, tmp_path):
    quiet = cli("-q", "simulate", "--events", "100", "--out", tmp_path / "q.root")
    assert quiet.code == 0
    assert quiet.err == ""
    loud = cli("simulate", "-v", "--events", "100", "--out", tmp_path / "v.root")
    assert loud.code == 0
    assert "INFO triginfer" in loud.err


def _tiny_config(tmp_path, **data):
    cfg = {"seed": 3, "data": {"events": 4000, "minbias_events": 2000, **data}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_run_writes_summary_and_reuses_steps(cli, tmp_path):
    config = _tiny_config(tmp_path)
    run_dir = tmp_path / "run"
    first = cli("run", config, "--out", run_dir)
    assert first.code == 0, first.err
    assert (run_dir / "data" / "summary.json").exists()
    second = cli("run", config, "--out", run_dir)
    assert second.code == 0
    assert "cached" in second.err


@pytest.fixture
def bad_inputs(tmp_path, small_root):
    root_bytes = small_root.read_bytes()
    (tmp_path / "text.root").write_text("not root at all\n" * 40)
    (tmp_path / "trunc.root").write_bytes(root_bytes[: len(root_bytes) // 2])
    nan = simulate_muons(50, 1)
    nan.phi = nan.phi.astype(np.float64)
    nan.phi[3, 0] = np.inf
    from triginfer.rootio import write_samples

    write_samples(tmp_path / "inf.root", {"muons": nan})
    write_samples(tmp_path / "empty.root", {"muons": simulate_muons(0, 1)})
    return tmp_path


@pytest.mark.parametrize(
    ("name", "extra", "needle"),
    [
        ("missing.root", {}, "file not found"),
        ("text.root", {}, "not a ROOT file"),
        ("trunc.root", {}, "truncated"),
        ("small", {"tree": "nosuchtree"}, "no tree 'nosuchtree'"),
        ("small", {"branch_map": {"phi_st2": "nosuchbranch"}}, "missing branch 'nosuchbranch'"),
        ("inf.root", {}, "NaN/inf"),
        ("empty.root", {}, "empty"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(cli, bad_inputs, small_root, name, extra,
                                                   needle):
    path = small_root if name == "small" else bad_inputs / name
    config = _tiny_config(bad_inputs, source="files", files=[str(path)], **extra)
    run_dir = bad_inputs / "run_out"
    result = cli("run", config, "--out", run_dir)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("triginfer: error:")]
    assert len(errors) == 1, result.err
    assert lines[-1] == errors[0], result.err
    assert needle in errors[0]
    assert "Traceback" not in result.err
    assert not run_dir.exists()
    if name != "small":
        inspect = cli("inspect", path)
        if name in ("missing.root", "text.root"):
            assert inspect.code == 2
            assert needle in inspect.err


def test_bad_config_is_one_line_error(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  evnts: 10\n")
    result = cli("run", path, "--out", tmp_path / "r")
    assert result.code == 2
    assert "unknown key(s) ['evnts']" in result.err


def test_console_script_entry_point(tmp_path):
    script = subprocess.run([sys.executable, "-m", "triginfer.cli", "inspect",
                             str(tmp_path / "x.root")], capture_output=True, text=True)
    assert script.returncode == 2
    assert script.stderr.strip().startswith("triginfer: error:")


def test_unwritable_output_is_one_line(cli, tmp_path):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):   # root ignores permissions: use a file in the way instead
            blocker = tmp_path / "file"
            blocker.write_text("x")
            out = blocker / "sub" / "out.root"
        else:
            out = ro / "out.root"
        result = cli("simulate", "--events", "100", "--out", out)
    finally:
        os.chmod(ro, 0o700)
    assert result.code == 2
    assert result.err.startswith("triginfer: error:")
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


BAD_CONFIG_VALUES = [
    ("firmware", "reuse_factor", 0, "firmware.reuse_factor: must be >= 1"),
    ("firmware", "clock_period_ns", "fast", "firmware.clock_period_ns: must be a number"),
    ("firmware", "io_type", "io_banana", "firmware.io_type: must be one of"),
    ("firmware", "reuse_facter", 2, "firmware: unknown key"),
    ("runtime", "batch_sizes", [0], "runtime.batch_sizes[0]: must be >= 1"),
    ("runtime", "offered_rate", -5, "runtime.offered_rate: must be >= "),
    ("runtime", "triton", "yes", "runtime.triton: must be true or false"),
    ("budgets", "algorithm_latency_ns", "fast", "budgets.algorithm_latency_ns"),
    ("budgets", "preset", "banana", "budgets.preset"),
    ("metrics", "thresholds", ["ten"], "metrics.thresholds[0]: must be a number"),
    ("training", "learning_rate", "fast", "training.learning_rate: must be a number"),
    ("quantization", "scan_bits", ["x"], "quantization.scan_bits[0]: must be an integer"),
    ("pruning", "target_sparsity", 0.5, "pruning: this section is not read"),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), BAD_CONFIG_VALUES,
                         ids=[f"{s}.{k}" for s, k, _, _ in BAD_CONFIG_VALUES])
def test_bad_config_values_refused_before_any_work(cli, tmp_path, section, key, value, message):
    import yaml

    from triginfer.config import DEFAULT_CONFIG

    doc = yaml.safe_load(DEFAULT_CONFIG.read_text())
    doc.setdefault(section, {})[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    for command in (("run", path, "--out", out), ("train", path, "--out", out)):
        result = cli(*command)
        assert result.code == 2, result.err
        assert result.err.startswith("triginfer: error:")
        assert message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1
        assert not out.exists()


BAD_FLAGS = [
    ("simulate", "--events", "10", "--seed", "-1", "--out", "{out}/x.root"),
    ("simulate", "--events", "0", "--out", "{out}/x.root"),
    ("simulate", "--events", "ten", "--out", "{out}/x.root"),
    ("emulate", "--firmware", "{out}", "--input", "a.root", "--out", "{out}/o.npy",
     "--workers", "-1"),
    ("emulate", "--firmware", "{out}", "--input", "a.root", "--out", "{out}/o.npy",
     "--step-size", "0"),
    ("bench", "--onnx", "m.onnx", "--out", "{out}/b", "--batch-sizes", "abc"),
    ("bench", "--onnx", "m.onnx", "--out", "{out}/b", "--events", "0"),
    ("bench", "--onnx", "m.onnx", "--out", "{out}/b", "--offered-rate", "-5"),
    ("export-hls", "--model", "m.h5", "--out", "{out}/z", "--clock-ns", "-5"),
    ("export-hls", "--model", "m.h5", "--out", "{out}/z", "--part", "banana"),
    ("export-hls", "--model", "m.h5", "--out", "{out}/z", "--target-scale", "0"),
    ("export-hls", "--model", "m.h5", "--out", "{out}/z", "--reuse-factor", "0"),
    ("serve", "--onnx", "m.onnx", "--name", "x", "--http-port", "70000"),
    ("loadtest", "--onnx", "m.onnx", "--name", "x", "--clients", "0"),
    ("patterns", "--firmware", "{out}", "--out", "{out}/p.txt", "--events", "0"),
    ("banana",),
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=[" ".join(a[:1] + a[-2:]) for a in BAD_FLAGS])
def test_bad_flags_are_one_line_errors(cli, tmp_path, argv):
    out = tmp_path / "out"
    result = cli(*[a.format(out=out) for a in argv])
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("triginfer: error:")
    assert not out.exists()


def test_every_subcommand_is_one_module_of_the_cli_package():
    """``triginfer.cli`` is a package: each subcommand's arguments and handler live in a
    module of its own, and the parser lists exactly those."""
    import importlib

    from triginfer import cli
    from triginfer.cli._common import HANDLERS

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(cli.COMMANDS) == sorted(HANDLERS)
    for name in cli.COMMANDS:
        module = importlib.import_module(f"triginfer.cli.{name.replace('-', '_')}")
        assert HANDLERS[name].__module__ == module.__name__, name
