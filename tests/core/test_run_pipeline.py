"""`triginfer run` end to end on a tiny config: every step, the report, and the step cache."""

from __future__ import annotations

import json

import pytest
import yaml


@pytest.mark.slow
def test_full_run_tiny(cli, tmp_path):
    cfg = {
        "seed": 3,
        "data": {"events": 20000, "minbias_events": 20000},
        "models": [{"name": "tiny", "kind": "dnn", "hidden": [16, 8],
                    "pruning": {"target_sparsity": 0.5}}],
        "training": {"epochs": 2, "prune_epochs": 2, "qat_epochs": 2, "batch_size": 512},
        "firmware": {"csim_events": 2000},
        "runtime": {"batch_sizes": [1, 64, 4096], "seconds": 0.05, "offered_rate": 1000,
                    "load_seconds": 0.3},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    result = cli("-q", "run", path, "--out", out)
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    fw = metrics["firmware"]["models"]["tiny"]
    assert fw["csim_equals_qkeras"] == fw["csim_events"] == 2000
    assert fw["emulator_equals_csim"] == 2000
    emu = metrics["emulation"]["models"]["tiny"]
    assert emu["emulator_equals_qkeras"] == emu["test_events"]
    assert emu["minbias_equals_qkeras"] == emu["minbias_events"]
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
    again = cli("run", path, "--out", out)
    assert again.code == 0
    assert again.err.count("cached") == 9
