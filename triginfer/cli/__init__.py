"""The ``triginfer`` command line: subcommands, logging set-up and one-line errors.

Every subcommand has ``--help`` and is one module of this package (its ``add_parser`` and its
handler, registered with ``@command``). A :class:`~triginfer.errors.TrigInferError` is printed
as ``triginfer: error: <message>`` on one line and the command exits with status 2, without a
traceback (``-v`` adds the traceback for debugging).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from triginfer._version import __version__
from triginfer.cli._common import (
    HANDLERS,
    OUTPUTS,
    Parser,
    Terminated,
    check_output,
    log,
    setup_logging,
    threading_main,
)
from triginfer.errors import TrigInferError

#: The subcommands, in the order ``--help`` lists them (one module each).
COMMANDS = ('simulate', 'inspect', 'run', 'export-hls', 'export-cmssw', 'patterns', 'serve', 'loadtest', 'export-bdt', 'export-rtl', 'emulate', 'export-onnx', 'export-triton', 'bench', 'train')


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (exposed for tests and docs)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a flag given before or after the subcommand is kept (no default overwrite).
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging and tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors, no progress bars")

    parser = Parser(
        prog="triginfer", parents=[common],
        description="Real-time trigger inference: quantized models, hls4ml firmware, "
                    "bit-exact emulation, batched GPU runtime, latency benchmarks.",
        epilog="Outputs: an existing output file is replaced atomically (written beside it, "
               "then renamed, so it is never half-written); output directories are created "
               "or updated in place (run/train resume from their step cache, --force redoes "
               "every step). Every input and output path is checked before any work: a bad "
               "one is a single 'triginfer: error:' line with exit status 2.")
    parser.add_argument("--version", action="version", version=f"triginfer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"triginfer.cli.{name.replace('-', '_')}").add_parser(sub, common)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``triginfer`` command; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = getattr(args, "verbose", False)
    args.quiet = getattr(args, "quiet", False)
    verbosity = 1 if args.verbose else (-1 if args.quiet else 0)
    setup_logging(verbosity)
    handler = HANDLERS[args.command]
    import signal

    def _terminate(signum, frame):   # SIGTERM unwinds like Ctrl-C: temporary files are removed
        raise Terminated

    previous = signal.getsignal(signal.SIGTERM)
    if threading_main():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        for attr, kind in OUTPUTS.get(args.command, ()):
            if getattr(args, attr, None):
                check_output(getattr(args, attr), kind)
        return handler(args)
    except TrigInferError as exc:
        if args.verbose:
            log.exception("error")
        message = " ".join(str(exc).split())
        print(f"triginfer: error: {message}", file=sys.stderr)
        return exc.exit_code
    except (PermissionError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        # an output path that cannot be written: one line, not a traceback
        if args.verbose:
            log.exception("error")
        where = exc.filename or "output path"
        print(f"triginfer: error: {where}: {exc.strerror or exc}; choose a writable path "
              "(a file, not a directory, in a directory you can write)", file=sys.stderr)
        return 2
    except Terminated:
        print("triginfer: terminated (SIGTERM); partial outputs removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("triginfer: interrupted; partial outputs removed", file=sys.stderr)
        return 130
    finally:
        if threading_main():
            signal.signal(signal.SIGTERM, previous)



__all__ = ["COMMANDS", "build_parser", "check_output", "main"]
