"""``triginfer inspect``: list trees, branches, event counts and feature ranges of a ROOT file."""

from __future__ import annotations

import argparse

from triginfer.cli._common import (
    command,
    positive_int,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``inspect`` subcommand's arguments."""
    p = sub.add_parser("inspect", parents=[common],
                       help="list trees, branches, event counts and feature ranges of a ROOT file",
                       description="Print the trees, branches and entry counts of a ROOT file, "
                                   "and the ranges of the trigger features for trees in the "
                                   "simulate layout.")
    p.add_argument("file", help="ROOT file")
    p.add_argument("--config", default=None,
                   help="YAML config whose data section gives the branch map and layout")
    p.add_argument("--max-events", type=positive_int, default=200_000,
                   help="events read for the feature ranges (default 200000)")


@command("inspect")
def _cmd_inspect(args: argparse.Namespace) -> int:
    from triginfer.features import engineered_features, has_track
    from triginfer.rootio import BranchMap, inspect_file, read_sample

    bmap = BranchMap()
    if args.config:
        from triginfer.config import load_config

        bmap = load_config(args.config).data.branch_map_obj()
    trees = inspect_file(args.file)
    if not trees:
        print(f"{args.file}: no TTrees or RNTuples")
        return 0
    for tree in trees:
        print(f"tree {tree.name}: {tree.entries} entries, {len(tree.branches)} branches")
        for name, typename in tree.branches.items():
            print(f"  {name:<18s} {typename}")
        if tree.entries and all(bmap.branch(b) in tree.branches for b in bmap.required()):
            sample = read_sample(args.file, tree.name, bmap, require_truth=False,
                                 entry_stop=args.max_events)
            tracks = has_track(sample)
            feats = engineered_features(sample.select(tracks))
            print(f"  feature ranges over {len(sample)} events "
                  f"({int(tracks.sum())} with >= 2 stations), hardware units:")
            for name, (lo, hi) in feats.ranges.items():
                print(f"    {name:<12s} [{lo:6d}, {hi:6d}]")
    return 0
