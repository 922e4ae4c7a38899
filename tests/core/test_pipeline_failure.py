"""A failing step never deletes what an earlier step finished."""

from __future__ import annotations

import pytest

from triginfer.config import load_config
from triginfer.errors import ConfigError
from triginfer.pipeline import Step, run_pipeline, write_json


def test_failure_keeps_finished_steps(tmp_path):
    cfg = load_config(None)
    run_dir = tmp_path / "run"

    def first(ctx):
        write_json(ctx.path("first", "summary.json"), {"ok": True})
        return {"ok": True}

    def second(ctx):
        raise ConfigError("firmware.reuse_factor: must be >= 1, got 0")

    steps = [Step("first", first, (),
                  writes=lambda layout, cfg: (layout.root / "first" / "summary.json",)),
             Step("second", second, ())]
    with pytest.raises(ConfigError):
        run_pipeline(cfg, run_dir, steps=steps)
    assert (run_dir / "first" / "summary.json").exists()
    assert (run_dir / "steps.json").exists()


def test_failure_before_any_step_leaves_nothing(tmp_path):
    cfg = load_config(None)
    run_dir = tmp_path / "run"

    def broken(ctx):
        raise ConfigError("bad")

    with pytest.raises(ConfigError):
        run_pipeline(cfg, run_dir, steps=[Step("broken", broken, ())])
    assert not run_dir.exists()


def test_replaced_input_file_changes_the_step_keys(tmp_path):
    import os
    import time

    from triginfer.config import config_from_dict
    from triginfer.pipeline import _step_key
    from triginfer.steps import STEPS

    data = tmp_path / "in.root"
    data.write_bytes(b"one")
    cfg = config_from_dict({"data": {"source": "files", "files": [str(data)]}})
    key = _step_key(STEPS[0], cfg, {})
    assert _step_key(STEPS[0], cfg, {}) == key
    time.sleep(0.01)
    data.unlink()
    data.write_bytes(b"two!")               # replaced at the same path
    os.utime(data, ns=(time.time_ns(), time.time_ns()))
    assert _step_key(STEPS[0], cfg, {}) != key


@pytest.mark.parametrize(("section", "key", "value", "redone"), [
    ("metrics", "thresholds", [10.0, 30.0], {"metrics", "report"}),
    ("firmware", "clock_period_ns", 4.0, {"firmware", "emulate", "onnx", "bench", "rtl",
                                          "report"}),
    ("rtl", "events", 5000, {"rtl", "report"}),
    ("runtime", "seconds", 0.2, {"bench", "report"}),
    ("budgets", "preset", "atlas_phase2_l0", {"bench", "report"}),
    ("training", "epochs", 3, {"train", "metrics", "firmware", "emulate", "onnx", "bench",
                               "rtl", "report"}),
    ("data", "events", 1234, {"data", "dataset", "train", "metrics", "firmware", "emulate",
                              "onnx", "bench", "rtl", "report"}),
])
def test_a_config_change_redoes_exactly_the_steps_that_read_it(section, key, value, redone):
    import copy

    import yaml

    from triginfer.config import DEFAULT_CONFIG, config_from_dict
    from triginfer.pipeline import step_keys
    from triginfer.steps import STEPS

    doc = yaml.safe_load(DEFAULT_CONFIG.read_text())
    before = step_keys(config_from_dict(copy.deepcopy(doc)), STEPS)
    doc.setdefault(section, {})[key] = value
    after = step_keys(config_from_dict(doc), STEPS)
    assert {name for name in before if before[name] != after[name]} == redone


def test_two_runs_with_one_output_never_mix(tmp_path):
    """A second run into a directory another process is writing is refused with one line
    (naming that process); once the first is done the directory is free again."""
    import subprocess
    import sys
    import time

    from triginfer.pipeline import LOCK_NAME

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ran = []

    def step(ctx):
        ran.append(1)
        return {}

    steps = [Step("only", step, ())]
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from triginfer.pipeline import run_lock\n"
         f"with run_lock(Path({str(run_dir)!r})):\n"
         "    print('locked', flush=True); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"another triginfer run \(process {holder.pid}\)"):
            run_pipeline(load_config(None), run_dir, steps=steps)
        assert not ran
        assert (run_dir / LOCK_NAME).exists()     # the holder's lock is left alone
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    time.sleep(0.05)
    run_pipeline(load_config(None), run_dir, steps=steps)   # a killed holder frees it
    assert ran == [1]
    assert not (run_dir / LOCK_NAME).exists()


def test_second_triginfer_run_is_one_line(cli, tmp_path):
    from triginfer.pipeline import run_lock

    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {events: 200, minbias_events: 0}\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with run_lock(run_dir):
        result = cli("run", cfg, "--out", run_dir)
    assert result.code == 2
    assert result.err.strip().startswith("triginfer: error:")
    assert len(result.err.strip().splitlines()) == 1
    assert "another triginfer run" in result.err
    assert sorted(p.name for p in run_dir.iterdir()) == []
