"""The run's steps declare what they read and write in the run layout's terms, and the
pipeline's cache follows exactly those declarations."""

from __future__ import annotations

import ast
import json

import pytest

from tests.conftest import REPO
from triginfer.config import load_config
from triginfer.errors import TrigInferError
from triginfer.layout import RunLayout
from triginfer.pipeline import Step, run_pipeline, write_json
from triginfer.steps import STEPS


def test_every_read_is_written_by_a_step_whose_key_it_includes(tmp_path):
    cfg = load_config(None)                       # the default run: every step, two models
    layout = RunLayout(tmp_path)
    writes = {s.name: set(s.writes(layout, cfg)) for s in STEPS}
    assert writes["firmware"] >= {layout.firmware_dir("dnn") / "firmware_spec.json",
                                  layout.firmware_summary}
    by_name = {s.name: s for s in STEPS}

    def before(name: str) -> set[str]:                # the steps whose keys are in this key
        return set(by_name[name].after).union(*(before(a) for a in by_name[name].after))

    for step in STEPS:
        upstream = set().union(*(writes[name] for name in before(step.name)))
        missing = set(step.reads(layout, cfg)) - upstream
        assert not missing, f"{step.name} reads {sorted(map(str, missing))} that no step " \
                            f"it runs after writes"
    owners: dict = {}
    for name, paths in writes.items():               # one owner per output
        for p in paths:
            assert p not in owners, f"{p} written by {owners[p]} and {name}"
            owners[p] = name


@pytest.mark.parametrize("module", ["triginfer/steps.py", "triginfer/report.py"])
def test_no_step_spells_a_path_of_the_run_directory(module):
    """Paths inside a run directory come from RunLayout only: no ``run_dir / ...`` here."""
    tree = ast.parse((REPO / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = ast.unparse(node.left)
            assert "run_dir" not in left, f"{module}:{node.lineno}: {ast.unparse(node)}"


def _toy_steps(calls):
    def first(ctx):
        calls.append("first")
        write_json(ctx.run_dir / "a" / "one.json", {"n": 1})
        write_json(ctx.run_dir / "a" / "two.json", {"n": 2})
        return {}

    def second(ctx):
        calls.append("second")
        write_json(ctx.run_dir / "b.json", json.loads((ctx.run_dir / "a" / "one.json")
                                                      .read_text()))
        return {}

    return [Step("first", first, (), writes=lambda layout, cfg: (
                layout.root / "a" / "one.json", layout.root / "a" / "two.json")),
            Step("second", second, (), after=("first",),
                 reads=lambda layout, cfg: (layout.root / "a" / "one.json",),
                 writes=lambda layout, cfg: (layout.root / "b.json",))]


def test_a_deleted_declared_output_redoes_its_step_and_the_steps_after(tmp_path):
    cfg = load_config(None)
    calls: list[str] = []
    run_pipeline(cfg, tmp_path, steps=_toy_steps(calls))
    run_pipeline(cfg, tmp_path, steps=_toy_steps(calls))
    assert calls == ["first", "second"]               # the second run: all cached
    recorded = json.loads((tmp_path / "steps.json").read_text())["first"]["wrote"]
    assert recorded == ["a/one.json", "a/two.json"]
    (tmp_path / "a" / "two.json").unlink()            # not even read by the later step
    run_pipeline(cfg, tmp_path, steps=_toy_steps(calls))
    assert calls == ["first", "second", "first", "second"]
    (tmp_path / "b.json").unlink()
    run_pipeline(cfg, tmp_path, steps=_toy_steps(calls))
    assert calls[4:] == ["second"]


def test_a_step_that_does_not_write_what_it_declares_is_an_error(tmp_path):
    steps = [Step("liar", lambda ctx: {}, (),
                  writes=lambda layout, cfg: (layout.root / "never.json",))]
    with pytest.raises(TrigInferError, match="did not write"):
        run_pipeline(load_config(None), tmp_path, steps=steps)
