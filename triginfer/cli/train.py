"""``triginfer train``: train the models a config names; write models, metrics.json, plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from triginfer.cli._common import (
    command,
    require_keras2,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``train`` subcommand's arguments."""
    p = sub.add_parser("train", parents=[common],
                       help="train the models a config names; write models, metrics.json, plots",
                       description="Simulate or read the data, train the float, pruned and "
                                   "quantized models and the baselines, and evaluate them.")
    p.add_argument("config", help="YAML config (e.g. configs/muon_pt_dnn.yaml)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--force", action="store_true", help="redo every step")


@command("train")
def _cmd_train(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.pipeline import run_pipeline
    from triginfer.steps import STEPS, TRAIN_STEPS, preflight, validate_config, write_metrics

    cfg = load_config(args.config)
    validate_config(cfg, need_models=True)
    require_keras2("training")
    steps = [s for s in STEPS if s.name in TRAIN_STEPS]
    run_pipeline(cfg, Path(args.out), force=args.force, quiet=args.quiet, steps=steps,
                 preflight=preflight, finish=write_metrics)
    return 0
