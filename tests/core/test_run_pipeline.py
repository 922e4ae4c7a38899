"""`triginfer run` end to end on a tiny config: every step, the report, the step cache, and
a run killed (SIGKILL) in the middle of each step in turn, then resumed, giving exactly the
numbers of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

TINY = {
    "seed": 3,
    "data": {"events": 12000, "minbias_events": 12000},
    "models": [{"name": "tiny", "kind": "dnn", "hidden": [16, 8],
                "pruning": {"target_sparsity": 0.5}}],
    "bdts": [{"name": "tbdt", "max_trees": 10, "max_depth": 3, "scan_trees": [5, 10],
              "scan_depths": [2, 3]}],
    "training": {"epochs": 1, "prune_epochs": 1, "qat_epochs": 1, "batch_size": 512},
    "quantization": {"scan_bits": []},
    "firmware": {"csim_events": 2000},   # the BDT's g++ C-sim: tests/emulation/test_bdt.py
    "rtl": {"events": 2000, "resources": False},   # yosys: tests/hls_export/test_rtl.py
    "runtime": {"batch_sizes": [1, 64, 4096], "seconds": 0.05, "offered_rate": 1000,
                "load_seconds": 0.3},
}


def _run(config, out, **kw) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "triginfer.cli", "run", str(config), "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the tiny config (in its own process)."""
    tmp = tmp_path_factory.mktemp("tiny")
    config = tmp / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    proc = _run(config, tmp / "ref")
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    return config, tmp / "ref", out, err


@pytest.mark.slow
def test_full_run_tiny(cli, reference):
    config, out, stdout, stderr = reference
    assert stdout.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    assert "Traceback" not in stderr
    assert "WARNING:tensorflow" not in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    fw = metrics["firmware"]["models"]["tiny"]
    assert fw["csim_equals_qkeras"] == fw["csim_events"] == 2000
    assert fw["emulator_equals_csim"] == 2000
    emu = metrics["emulation"]["models"]["tiny"]
    assert emu["emulator_equals_qkeras"] == emu["test_events"]
    assert emu["minbias_equals_qkeras"] == emu["minbias_events"]
    bdt_fw = metrics["firmware"]["bdts"]["tbdt"]
    assert "csim_events" not in bdt_fw           # firmware.bdt_csim_events: 0
    assert (out / "firmware" / "tbdt" / "hls" / "conifer_bdt_csim.cpp").exists()
    assert bdt_fw["conifer_estimate"]["label"] == "conifer estimate (precision-blind)"
    bdt_emu = metrics["emulation"]["models"]["tbdt"]
    assert bdt_emu["emulator_equals_train"] == bdt_emu["test_events"] > 0
    assert bdt_emu["minbias_equals_train"] == bdt_emu["minbias_events"] > 0
    for name in ("tbdt", "tbdt_firmware"):
        assert metrics["models"][name]["resolution_sigma68"] > 0
        assert metrics["models"][name]["rate_at_20GeV_hz"] > 0
    assert metrics["training"]["bdts"]["tbdt"]["trees"] in (5, 10)
    onnx = metrics["onnx"]["models"]["tiny"]
    assert onnx["bitexact_equals_emulator"] == onnx["events"]
    assert onnx["quantized_equals_qkeras"] == onnx["events"]
    bench = metrics["bench"]["models"]["tiny"]
    assert bench["fpga"]["source"] == "estimate"
    assert [r["batch"] for r in bench["runtime"]["onnx"]] == [1, 64, 4096]
    assert {r["check"] for r in bench["budget_check"]} >= {"latency", "initiation interval"}
    html = (out / "report.html").read_text()
    for section in ("Dataset", "Models and bit widths", "Physics", "Firmware",
                    "Latency and resources vs the L1 budget", "Batched runtime",
                    "Reproducibility"):
        assert f"<h2>{section}" in html
    assert html.count("data:image/png;base64,") >= 5
    assert "Rate normalisation" in html
    assert "31.6 MHz" in html
    assert "Trigger-sized BDT <b>tbdt</b>" in html
    assert "BDTs: conifer estimate (precision-blind)" in html
    rtl_run = metrics["rtl"]
    if rtl_run.get("skipped"):           # no RTL environment: said in one line, run goes on
        assert "RTL tools not installed" in rtl_run["skipped"]
        assert "Not run: RTL tools not installed" in html
    else:
        r = rtl_run["models"]["tiny"]
        assert r["exact"] == r["events"] == 2000
        assert r["ii"] == 1
        assert r["latency_cycles"] >= 1
        assert r["resources"] is None
        assert "<h2>RTL (open-source flow)" in html
    again = cli("run", config, "--out", out)
    assert again.code == 0
    assert again.err.count("cached") == 10


def _numbers(run_dir) -> dict:
    """Everything a run computes that is not a timing."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    out = {k: metrics[k] for k in ("thresholds", "models", "turn_on_curves", "rate_curves")}
    fw = metrics["firmware"]["models"]["tiny"]
    out["firmware"] = {k: v for k, v in fw.items() if "equal" in k or "events" in k}
    for section in ("emulation", "onnx"):
        entry = metrics[section]["models"]["tiny"]
        out[section] = {k: v for k, v in entry.items() if "equal" in k or k.endswith("events")}
    out["fpga"] = metrics["bench"]["models"]["tiny"]["fpga"]
    for name in ("train/predictions.npz", "emulation/predictions.npz"):
        with np.load(run_dir / name) as npz:
            out[name] = {k: npz[k].tolist() for k in npz.files}
    for name in ("firmware_spec.json", "firmware_spec.npz"):
        out[name] = (run_dir / "firmware" / "tiny" / name).read_bytes()
    for name in ("bdt_spec.json", "bdt_spec.npz"):
        out[name] = (run_dir / "firmware" / "tbdt" / name).read_bytes()
    return out


@pytest.mark.slow
def test_sigkill_in_each_step_then_resume_equals_an_uninterrupted_run(reference, tmp_path):
    config, ref, _, _ = reference
    seconds = {k: v["seconds"] for k, v in json.loads((ref / "steps.json").read_text()).items()}
    out = tmp_path / "killed"
    killed_in = []
    for step, took in seconds.items():
        proc = _run(config, out)
        started = threading.Event()

        def watch(proc=proc, step=step, started=started):
            for line in proc.stderr:
                if f"] {step} ..." in line:
                    started.set()
            started.set()

        threading.Thread(target=watch, daemon=True).start()
        assert started.wait(600)
        time.sleep(min(took / 2, 5.0))        # half-way through the step (as it ran before)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_in.append(step)
        proc.wait(60)
    assert len(killed_in) >= 6, killed_in   # the fast steps may finish before the signal
    proc = _run(config, out)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert not list(out.rglob("*.partial"))
    assert not list(out.rglob(".*.tmp*"))
    # a Triton server the bench step started dies with the killed run (no orphans)
    left = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and any(a.startswith(str(out).encode()) for a in argv):
            left.append(cmdline.parent.name)
    assert not left, f"orphaned servers: pids {left}"
    assert _numbers(out) == _numbers(ref)


@pytest.mark.slow
def test_deleted_firmware_directory_redoes_firmware_and_after(cli, reference, tmp_path):
    """Every file a step wrote is recorded in steps.json: deleting one (here the model's whole
    firmware directory) redoes that step and every step after it, with the same numbers."""
    import shutil

    config, ref, _, _ = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    wrote = json.loads((out / "steps.json").read_text())["firmware"]["wrote"]
    assert "firmware/tiny/firmware_spec.json" in wrote
    shutil.rmtree(out / "firmware" / "tiny")
    result = cli("run", config, "--out", out)
    assert result.code == 0, result.err[-3000:]
    cached = [line.split()[1].rstrip(":") for line in result.err.splitlines()
              if line.endswith(")") and ": cached (" in line]
    assert cached == ["data", "dataset", "train", "metrics"], result.err[-3000:]
    assert (out / "firmware" / "tiny" / "firmware_spec.json").exists()
    assert _numbers(out) == _numbers(ref)
