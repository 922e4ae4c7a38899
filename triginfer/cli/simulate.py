"""``triginfer simulate``: simulate the toy forward-muon trigger sample into a ROOT file."""

from __future__ import annotations

import argparse
import time

from triginfer.cli._common import (
    command,
    log,
    nonneg_int,
    positive_int,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``simulate`` subcommand's arguments."""
    p = sub.add_parser("simulate", parents=[common],
                       help="simulate the toy forward-muon trigger sample into a ROOT file",
                       description="Simulate muon-gun (tree 'muons') and optionally minimum-bias "
                                   "(tree 'minbias') events and write them to a ROOT file.")
    p.add_argument("--events", type=positive_int, default=100_000,
                   help="muon-gun events (default 100000)")
    p.add_argument("--minbias", type=nonneg_int, default=0, help="minimum-bias events (default 0: none)")
    p.add_argument("--seed", type=nonneg_int, default=42, help="random seed (default 42)")
    p.add_argument("--config", default=None,
                   help="YAML config whose 'simulation' section overrides detector parameters")
    p.add_argument("--out", required=True, help="output ROOT file")


@command("simulate")
def _cmd_simulate(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.rootio import write_samples
    from triginfer.simulation import SimulationConfig, simulate_minbias, simulate_muons

    sim_cfg = load_config(args.config).simulation if args.config else SimulationConfig()
    t0 = time.perf_counter()
    samples = {"muons": simulate_muons(args.events, args.seed, sim_cfg)}
    if args.minbias:
        samples["minbias"] = simulate_minbias(args.minbias, args.seed, sim_cfg)
    t_sim = time.perf_counter() - t0
    write_samples(args.out, samples)
    log.info("simulated %d muons%s in %.1f s, wrote %s in %.1f s total",
             args.events, f" + {args.minbias} minbias" if args.minbias else "",
             t_sim, args.out, time.perf_counter() - t0)
    return 0
