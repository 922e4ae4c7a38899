"""``triginfer export-rtl``: Verilog of a firmware (da4ml), checked in Verilator, counted by yosys."""

from __future__ import annotations

import argparse

from triginfer.cli._common import (
    command,
    positive_float,
    positive_int,
)
from triginfer.config import FirmwareConfig, RtlConfig


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``export-rtl`` subcommand's arguments."""
    p = sub.add_parser("export-rtl", parents=[common],
                       help="Verilog of a firmware (da4ml), checked in Verilator, counted by yosys",
                       description="The firmware's graph as da4ml operations (each value's "
                                   "declared type, rounding and overflow honoured) written as "
                                   "pipelined Verilog; a testbench of triginfer's own feeds one "
                                   "event per clock in Verilator, measures latency and II and "
                                   "compares every output with the emulator; yosys counts "
                                   "UltraScale+ resources of the design. Writes rtl_report.json. "
                                   "Needs the RTL environment (`make rtl-env`).")
    p.add_argument("--firmware", required=True, help="directory holding firmware_spec.json")
    p.add_argument("--out", required=True, help="output directory (src/, sim/, rtl_report.json)")
    p.add_argument("--hdl", default="verilog", choices=["verilog", "vhdl"],
                   help="verilog (default), or vhdl: da4ml's VHDL of the same trace in vhdl/, the checks run on its Verilog")
    p.add_argument("--latency-cutoff", type=positive_float, default=RtlConfig.latency_cutoff,
                   help="da4ml's delay budget per pipeline stage (its units: about one adder "
                        "level each; smaller = more stages, default 5)")
    p.add_argument("--clock-ns", type=positive_float, default=FirmwareConfig.clock_period_ns,
                   help="clock period for the latency in ns (default 5)")
    p.add_argument("--events", type=positive_int, default=10_000,
                   help="events the testbench checks (default 10000)")
    p.add_argument("--input", default=None,
                   help="events file (ROOT/Parquet/npy, as `triginfer emulate`); default: random "
                        "values over each input type's range, a tenth beyond it")
    p.add_argument("--tree", default=None, help="tree name for a ROOT --input")
    p.add_argument("--table-bits", type=positive_int, default=RtlConfig.table_bits,
                   help="widest input of an elementwise layer built as a lookup table "
                        "(default 12)")
    p.add_argument("--no-resources", action="store_true",
                   help="skip the yosys resource count (minutes on big designs)")


@command("export-rtl")
def _cmd_export_rtl(args: argparse.Namespace) -> int:
    from triginfer.firmware.spec import FirmwareSpec
    from triginfer.hls_export.rtl import RESOURCE_LABEL, export_rtl

    spec = FirmwareSpec.load(args.firmware)
    x = None
    if args.input:
        from triginfer.emulation.files import inputs_for

        x = inputs_for(spec, args.input, args.events, tree=args.tree)
        x = x if len(x) > 1 else x[0]
    report = export_rtl(spec, args.out, hdl=args.hdl, latency_cutoff=args.latency_cutoff,
                        clock_ns=args.clock_ns, events=args.events,
                        resources=not args.no_resources, table_bits=args.table_bits, x=x,
                        progress=(lambda _m: None) if args.quiet else print)
    print(f"RTL of {spec.name!r} written to {args.out} (src/, rtl_report.json)")
    print(f"  RTL == emulator on {report['exact']}/{report['events']} events; latency "
          f"{report['latency_cycles']} clocks = {report['latency_ns']:g} ns at "
          f"{report['clock_ns']:g} ns, II {report['ii'] if report['ii'] else 'not 1'}")
    res = report.get("resources")
    if res:
        print(f"  {RESOURCE_LABEL}: LUT {res['LUT']}, FF {res['FF']}, CARRY {res['CARRY']}, "
              f"DSP {res['DSP']}, BRAM_18K {res['BRAM_18K']} (timing closure not checked)")
    elif report.get("resources_error"):
        print(f"  yosys resource count failed: {report['resources_error']}")
    if report["exact"] != report["events"]:
        from triginfer.errors import TrigInferError

        raise TrigInferError(f"RTL differs from the emulator on "
                             f"{report['events'] - report['exact']} events (first: "
                             f"{report['first_mismatch']})")
    return 0
