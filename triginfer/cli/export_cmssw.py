"""``triginfer export-cmssw``: write the CMSSW emulator plugin package of a firmware."""

from __future__ import annotations

import argparse

from triginfer.cli._common import (
    command,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``export-cmssw`` subcommand's arguments."""
    p = sub.add_parser("export-cmssw", parents=[common],
                       help="write the CMSSW emulator plugin package of a firmware",
                       description="Write NAME/NAME_VERSION/ in the hls4mlEmulatorExtras "
                                   "convention: the emulator class, NN/ with the hls4ml "
                                   "sources (weights compiled in) and Makefiles; build with "
                                   "`make -C OUT/NAME EMULATOR_EXTRAS=DIR`. An existing "
                                   "package of that name is replaced.")
    p.add_argument("--firmware", required=True, help="HLS project directory (export-hls)")
    p.add_argument("--out", required=True, help="output directory for the package")
    p.add_argument("--name", default=None, help="plugin name (default: the project name)")
    p.add_argument("--version", dest="plugin_version", default="v1",
                   help="plugin version (default v1)")
    p.add_argument("--extras", default=None, metavar="DIR",
                   help="also lay out DIR as hls4mlEmulatorExtras installs itself, from "
                        "triginfer's clean-room interface, and build the plugin against it")


@command("export-cmssw")
def _cmd_export_cmssw(args: argparse.Namespace) -> int:
    from triginfer.hls_export.deliverables import emulator_extras, export_cmssw

    package = export_cmssw(args.firmware, args.out, name=args.name, version=args.plugin_version)
    print(f"CMSSW emulator package written to {package}")
    if args.extras:
        import subprocess

        extras = emulator_extras(args.extras)
        done = subprocess.run(["make", "-C", str(package), f"EMULATOR_EXTRAS={extras.resolve()}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            from triginfer.errors import TrigInferError

            tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise TrigInferError(f"building {package} failed: {tail[0]}")
        print(f"built {package}/{package.name}_{args.plugin_version}/"
              f"{package.name}_{args.plugin_version}.so against {extras}")
    return 0
