"""``triginfer run``: run the whole pipeline on a config (default: configs/muon_pt_dnn.yaml)."""

from __future__ import annotations

import argparse
from pathlib import Path

from triginfer.cli._common import (
    command,
    require_keras2,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``run`` subcommand's arguments."""
    p = sub.add_parser("run", parents=[common],
                       help="run the whole pipeline on a config (default: configs/muon_pt_dnn.yaml)",
                       description="Run the pipeline described by a YAML config; finished steps "
                                   "in the run directory are reused unless --force.")
    p.add_argument("config", nargs="?", default=None, help="YAML config (default: the default one)")
    p.add_argument("--out", default=None, help="run directory (default runs/<config name>)")
    p.add_argument("--force", action="store_true", help="redo every step")


@command("run")
def _cmd_run(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.pipeline import run_pipeline
    from triginfer.steps import preflight, steps_for, validate_config, write_metrics

    cfg = load_config(args.config)
    validate_config(cfg)
    if cfg.sections.get("models"):
        require_keras2("training the config's models")
    out = Path(args.out) if args.out else Path("runs") / Path(cfg.source_path or "run").stem
    run_pipeline(cfg, out, force=args.force, quiet=args.quiet, steps=steps_for(cfg),
                 preflight=preflight, finish=write_metrics)
    report = out / "report.html"
    print(f"report: {report}" if report.exists() else f"run directory: {out}")
    return 0
