"""``modelport probe``: argument parsing only; the work happens in :mod:`modelport.probe.prober`."""

from __future__ import annotations

import argparse
from typing import Any

_DESCRIPTION = """\
Which deep-learning libraries really work with this machine's CUDA stack, and why not.
Reads package metadata, version files and the GPU code inside shared libraries, without
importing the libraries (unless --import). Exit status: 0 every requested library is ok,
1 some fail, 2 the probe itself failed."""


def add_parser(subparsers: Any) -> None:
    """Register ``probe`` (and ``probe fatbin FILE``) on the top-level subparsers.

    Args:
        subparsers: what ``argparse.ArgumentParser.add_subparsers`` returned.
    """
    parser = subparsers.add_parser(
        "probe",
        help="check which DL libraries work with this machine's CUDA stack",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON (schema 1.0)")
    out.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    parser.add_argument(
        "--library",
        "-l",
        action="append",
        default=[],
        metavar="NAME",
        help="report only this library (repeatable), e.g. torch",
    )
    parser.add_argument(
        "--gpu", metavar="CC", help="what-if: target GPU compute capability, e.g. 12.0"
    )
    parser.add_argument("--driver", metavar="VERSION", help="what-if: target driver, e.g. 550.54")
    parser.add_argument(
        "--import",
        dest="import_mode",
        action="store_true",
        help="also import each library in a subprocess and compare",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds each --import may take (default 120)",
    )
    parser.add_argument(
        "--path",
        action="append",
        default=None,
        metavar="DIR",
        help="search this site-packages folder instead of sys.path (repeatable)",
    )
    parser.add_argument(
        "--no-discover",
        action="store_true",
        help="report only catalogue libraries, not other packages with GPU code",
    )
    parser.add_argument("--schema", action="store_true", help="print the JSON schema and exit")
    parser.set_defaults(func=run_probe)
    sub = parser.add_subparsers(dest="probe_command", metavar="SUBCOMMAND")
    fatbin = sub.add_parser(
        "fatbin",
        help="list the GPU code (SASS, PTX) in shared libraries",
        description="List the GPU code in ELF files, like cuobjdump --list-elf --list-ptx.",
    )
    fatbin.add_argument("files", nargs="+", metavar="FILE", help="shared library or object file")
    fatbin.add_argument("--json", action="store_true", help="print JSON")
    fatbin.add_argument(
        "--scan", action="store_true", help="also search every PROGBITS section for fatbin magic"
    )
    fatbin.set_defaults(func=run_fatbin)


def run_probe(args: argparse.Namespace) -> int:
    """Run ``modelport probe``; returns the exit status (0 ok, 1 some library fails)."""
    import json

    from modelport.probe.prober import ProbeConfig, probe
    from modelport.probe.report import to_dict
    from modelport.probe.schema import SCHEMA

    if args.schema:
        print(json.dumps(SCHEMA, indent=2))
        return 0
    config = ProbeConfig(
        libraries=tuple(args.library),
        gpu=args.gpu,
        driver=args.driver,
        import_mode=args.import_mode,
        import_timeout=args.timeout,
        paths=tuple(args.path) if args.path else None,
        discover=not args.no_discover,
    )
    report = probe(config)
    if args.json:
        print(json.dumps(to_dict(report), indent=2))
    elif args.markdown:
        from modelport.probe.render import render_markdown

        print(render_markdown(report))
    else:
        from rich.console import Console

        from modelport.probe.render import render_table

        console = Console()
        render_table(report, console if console.is_terminal else Console(width=160))
    return report.exit_code()


def run_fatbin(args: argparse.Namespace) -> int:
    """Run ``modelport probe fatbin FILE…``; exit 2 when a file cannot be parsed."""
    import json
    import sys

    from modelport.probe.fatbin import read_fatbin
    from modelport.probe.listing import fatbin_dict, fatbin_lines

    results = [read_fatbin(path, scan=args.scan) for path in args.files]
    if args.json:
        print(json.dumps([fatbin_dict(r) for r in results], indent=2))
    else:
        for result in results:
            print("\n".join(fatbin_lines(result)))
    for result in results:
        if result.error:
            print(f"modelport: error: {result.path}: {result.error}", file=sys.stderr)
    return 2 if any(r.error for r in results) else 0
