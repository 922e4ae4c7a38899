"""``triginfer patterns``: write input and expected output bit patterns for RTL testbenches."""

from __future__ import annotations

import argparse

from triginfer.cli._common import (
    command,
    positive_int,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``patterns`` subcommand's arguments."""
    p = sub.add_parser("patterns", parents=[common],
                       help="write input and expected output bit patterns for RTL testbenches",
                       description="One event per line: each value in its declared width, "
                                   "two's complement, hex; inputs then the firmware's exact "
                                   "outputs; the layout is documented in the file's header.")
    p.add_argument("--firmware", required=True, help="directory holding firmware_spec.json")
    p.add_argument("--input", default=None,
                   help="events: ROOT/Parquet/.npy (default: simulated muons for the muon "
                        "feature sets, else values over the input type's range)")
    p.add_argument("--events", type=positive_int, default=1000, help="events (default 1000)")
    p.add_argument("--tree", default=None, help="tree name for ROOT input")
    p.add_argument("--out", required=True, help="pattern file to write")


@command("patterns")
def _cmd_patterns(args: argparse.Namespace) -> int:
    from triginfer.emulation.files import inputs_for
    from triginfer.firmware.spec import FirmwareSpec
    from triginfer.hls_export.deliverables import write_patterns

    spec = FirmwareSpec.load(args.firmware)
    x = inputs_for(spec, args.input, args.events, tree=args.tree)
    summary = write_patterns(args.firmware, x if len(x) > 1 else x[0], args.out)
    print(f"bit patterns of {summary['events']} events written to {args.out}")
    return 0
