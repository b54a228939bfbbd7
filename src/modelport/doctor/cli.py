"""``modelport doctor memory URL``."""

from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """\
With --debug-endpoints on the server (and --token if it has --control-token), the traced
Python heap and the growing allocation sites are reported too; without them, only the
process RSS read from /metrics.
Exit code 0: no growth; 1: memory is growing; 2: the diagnosis failed.

example:
  modelport serve ./models --debug-endpoints &
  modelport doctor memory http://127.0.0.1:8000 --interval 5 --samples 12
"""


def add_parser(subparsers: Any) -> None:
    """Register ``doctor``."""
    doctor = subparsers.add_parser("doctor", help="diagnose a running server (memory leaks)")
    sub = doctor.add_subparsers(dest="doctor_command", metavar="CHECK")
    mem = sub.add_parser(
        "memory", help="is the server's memory growing, how fast, and where (file:line)?",
        description="Sample a running modelport server's memory over time and report the "
                    "growth rate of its RSS; with --debug-endpoints on the server, also of its "
                    "Python heap, and the allocation sites that grew most.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    mem.add_argument("url", help="the server's HTTP address, e.g. http://127.0.0.1:8000")
    mem.add_argument("--interval", type=float, default=5.0, metavar="S",
                     help="seconds between samples (default 5)")
    mem.add_argument("--samples", type=int, default=6, metavar="N",
                     help="samples to take, at least 2 (default 6)")
    mem.add_argument("--top", type=int, default=10, help="allocation sites to list")
    mem.add_argument("--frames", type=int, default=10, help="stack frames kept per allocation")
    mem.add_argument("--token", default=None, help="control token, if the server has one")
    mem.add_argument("--json", action="store_true", help="print JSON")
    mem.set_defaults(func=run_memory)
    doctor.set_defaults(func=lambda args: doctor.print_help() or 2)


def run_memory(args: argparse.Namespace) -> int:
    """Diagnose and print; exit 1 when memory grows."""
    from modelport.doctor.memory import DebugClient, diagnose, render_text

    client = DebugClient(args.url, args.token)
    report = diagnose(client, args.interval, args.samples, args.top, args.frames)
    print(json.dumps(report.as_dict(), indent=2) if args.json else render_text(report))
    return 1 if report.growing else 0
