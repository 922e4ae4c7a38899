"""`triginfer train` end to end on a tiny config (few epochs, small data)."""

from __future__ import annotations

import json

import pytest
import yaml


@pytest.mark.slow
def test_train_writes_models_metrics_and_plots(cli, tmp_path):
    cfg = {
        "seed": 1,
        "data": {"events": 20000, "minbias_events": 20000},
        "models": [{"name": "tiny", "kind": "dnn", "hidden": [16, 8],
                    "pruning": {"target_sparsity": 0.5}}],
        "training": {"epochs": 3, "prune_epochs": 3, "qat_epochs": 2, "batch_size": 512},
        "quantization": {"scan_bits": [6, 8], "scan_epochs": 1},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    result = cli("-q", "train", path, "--out", out)
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    names = set(metrics["models"])
    assert names == {"tiny_float", "tiny_float_pruned", "tiny_quantized", "analytic", "bdt"}
    for entry in metrics["models"].values():
        assert 0 < entry["resolution_sigma68"] < 1
        assert set(entry["scales"]) == {"10", "20", "30"}
        assert entry["rate_at_20GeV_hz"] > 0
    training = metrics["training"]["models"]["tiny"]
    assert training["sparsity"]["total"] >= 0.45
    assert [r["bits"] for r in metrics["training"]["bit_scan"]["rows"]] == [6, 8]
    for name in ("resolution_vs_pt.png", "turn_on.png", "rate_vs_threshold.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    for name in ("tiny_float.h5", "tiny_float_pruned.h5", "tiny_quantized.h5",
                 "tiny_history.json", "tiny_loss.png", "tiny_bit_scan.png"):
        assert (out / "train" / name).exists(), name
