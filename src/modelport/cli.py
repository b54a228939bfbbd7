"""The ``modelport`` command line: parses arguments into config objects, nothing more."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from modelport import __version__
from modelport.errors import ModelportError

# Each module adds its own subcommand(s) through add_parser(subparsers); they import heavy
# modules only inside the command function, so `modelport --help` stays fast.
_COMMAND_MODULES = (
    "modelport.serve.cli",
    "modelport.repository.cli",
    "modelport.runtime.cli",
    "modelport.probe.cli",
    "modelport.bench.cli",
    "modelport.doctor.cli",
    "modelport.train.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="modelport",
        description=(
            "Take trained models into production: serve ONNX model repositories over the "
            "Open Inference Protocol (HTTP and gRPC, Triton-compatible), run one inference, "
            "probe the CUDA stack, benchmark runtimes."
        ),
        epilog="Run 'modelport COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modelport`` script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except ModelportError as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`modelport probe --json | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process killed by SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
