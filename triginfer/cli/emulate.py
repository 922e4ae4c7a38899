"""``triginfer emulate``: emulate the firmware bit-exactly over ROOT files."""

from __future__ import annotations

import argparse

from triginfer.cli._common import (
    command,
    positive_float,
    positive_int,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``emulate`` subcommand's arguments."""
    p = sub.add_parser("emulate", parents=[common],
                       help="emulate the firmware bit-exactly over ROOT files",
                       description="Read events chunk by chunk, compute features, emulate the "
                                   "firmware and write predictions with the event index.")
    p.add_argument("--firmware", required=True, help="directory holding firmware_spec.json")
    p.add_argument("--input", required=True, nargs="+", help="input file(s): ROOT (muon feature sets, or the branches the spec names), Parquet or .npy (a user model's columns/arrays)")
    p.add_argument("--out", required=True, help="output .root, .parquet or .npy")
    p.add_argument("--tree", default=None, help="tree name (default muons, or the config's)")
    p.add_argument("--config", default=None, help="YAML config whose data section has the branch map")
    p.add_argument("--step-size", type=positive_int, default=200_000, help="events per chunk")
    p.add_argument("--workers", type=positive_int, default=None, help="local Dask workers (extra 'dask')")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0,
                   help="seconds to wait for the scheduler to answer (at the start, or after "
                        "losing it mid-run) before giving up with one line")
    p.add_argument("--monitor", action="store_true", help="print the per-layer overflow table")
    p.add_argument("--monitor-events", type=positive_int, default=1_000_000,
                   help="events (per file) the overflow table covers")


@command("emulate")
def _cmd_emulate(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.emulation.files import (
        emulate_columns,
        emulate_files,
        load_firmware,
        spec_feature_set,
    )
    from triginfer.rootio import BranchMap

    firmware = load_firmware(args.firmware)
    if args.monitor and getattr(firmware, "kind", None) == "bdt":
        from triginfer.errors import ConfigError

        raise ConfigError("--monitor reports per-layer overflows of network firmware; a BDT's "
                          "types are checked when export-bdt writes it")
    if spec_feature_set(firmware) is None:
        # a user's model: inputs read as named columns / arrays, every output written
        if args.workers or args.scheduler or args.monitor:
            from triginfer.errors import ConfigError

            raise ConfigError("--workers/--scheduler/--monitor apply to the muon feature sets; "
                              "this firmware reads named columns")
        summary = emulate_columns(args.firmware, args.input, args.out, tree=args.tree,
                                  step_size=args.step_size, progress=not args.quiet)
        print(f"emulated {summary['events']} events -> {args.out}")
        return 0
    bmap = BranchMap()
    tree = args.tree
    if args.config:
        data = load_config(args.config).data
        bmap = data.branch_map_obj()
        tree = args.tree or data.tree
    summary = emulate_files(args.firmware, args.input, args.out, tree=tree or "muons",
                            branch_map=bmap, step_size=args.step_size, workers=args.workers,
                            scheduler=args.scheduler, connect_timeout=args.connect_timeout,
                            progress=not args.quiet)
    print(f"emulated {summary['events']} events in {summary['chunks']} chunks -> {args.out}")
    if args.monitor:
        from triginfer.emulation import Emulator
        from triginfer.emulation.files import firmware_inputs
        from triginfer.firmware.spec import FirmwareSpec
        from triginfer.rootio import read_sample

        spec = FirmwareSpec.load(args.firmware)
        sample = read_sample(args.input, tree or "muons", bmap, args.step_size,
                             require_truth=False, entry_stop=args.monitor_events)
        _, report = Emulator(spec).predict(firmware_inputs(spec, sample), monitor=True)
        print(f"overflow monitor over the first {len(sample)} events:")
        print(report.table())
    return 0
