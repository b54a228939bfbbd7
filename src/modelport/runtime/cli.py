"""``modelport run MODEL``: one inference from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

EPILOG = """\
examples:
  modelport run resnet18                         a demo model, random input, top-5
  modelport run model.onnx --input x=img.npy     your model, input from a .npy file
  modelport run text_encoder --shape input_ids=16 --shape attention_mask=16 --batch 2
  modelport run mlp --repeat 100 --json          latency over 100 runs, JSON out
"""


def add_parser(subparsers: Any) -> None:
    """Register ``run``."""
    p = subparsers.add_parser(
        "run",
        help="run one inference on a model and print the outputs",
        description="Run one inference with the server's ONNX Runtime backend: inputs from "
        ".npy files or seeded random data of the right shape and type.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        help="an .onnx file, or a model name in --repository (default: the demo repository)",
    )
    p.add_argument(
        "--repository",
        type=Path,
        default=None,
        metavar="REPO",
        help="model repository to look the name up in",
    )
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=FILE.npy",
        help="take input NAME from a .npy file (repeatable)",
    )
    p.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME=D1,D2",
        help="dims (without batch) for an input with variable dims (default 8)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size for random inputs")
    p.add_argument("--repeat", type=int, default=1, help="runs to time (default 1)")
    p.add_argument("--top-k", type=int, default=5, help="top-k for classifier outputs")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    from modelport.errors import ConfigError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{flag} expects NAME=VALUE, got '{item}'")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    """Run and print."""
    from modelport.errors import ConfigError
    from modelport.runtime.oneshot import input_symbols, locate, make_inputs, run_once, top_k

    if args.batch < 1 or args.repeat < 1:
        raise ConfigError("--batch and --repeat must be at least 1")
    try:
        given = {
            name: np.load(path, allow_pickle=False)
            for name, path in _pairs(args.input, "--input").items()
        }
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--input: cannot read a .npy file: {exc}") from None
    try:
        dims = {n: [int(d) for d in v.split(",")] for n, v in _pairs(args.shape, "--shape").items()}
    except ValueError:
        raise ConfigError("--shape dims must be integers, e.g. --shape x=3,224,224") from None
    config, model_file = locate(args.model, args.repository)
    feed = make_inputs(config, given, args.batch, dims, symbols=input_symbols(model_file))
    result = run_once(config, model_file, feed, args.repeat)
    lat = sorted(result.latencies_s)
    summary: dict[str, Any] = {
        "model": config.name,
        "file": str(result.model_file),
        "load_ms": result.load_s * 1e3,
        "latency_ms": {
            "first": result.latencies_s[0] * 1e3,
            "p50": lat[len(lat) // 2] * 1e3,
            "min": lat[0] * 1e3,
            "runs": len(lat),
        },
        "inputs": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in feed.items()},
        "outputs": {},
    }
    for name, arr in result.outputs.items():
        entry: dict[str, Any] = {
            "shape": list(arr.shape),
            "dtype": str(arr.dtype),
            "preview": _preview(arr),
        }
        ranked = top_k(arr, args.top_k)
        if ranked is not None:
            entry["top_k"] = [[{"index": i, "score": s} for i, s in row] for row in ranked]
        summary["outputs"][name] = entry
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_text(summary)
    return 0


def _preview(arr: np.ndarray, n: int = 6) -> list[Any]:
    flat = arr.ravel()[:n]
    if arr.dtype == object:
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return [round(float(v), 5) if arr.dtype.kind == "f" else v.item() for v in flat]


def _print_text(s: dict[str, Any]) -> None:
    print(f"model    {s['model']}  ({s['file']})")
    print(f"load     {s['load_ms']:.1f} ms")
    lat = s["latency_ms"]
    print(
        f"latency  first {lat['first']:.2f} ms, p50 {lat['p50']:.2f} ms over {lat['runs']} run(s)"
    )
    for name, i in s["inputs"].items():
        print(f"input    {name:<20} {i['dtype']:<8} {i['shape']}")
    for name, o in s["outputs"].items():
        print(f"output   {name:<20} {o['dtype']:<8} {o['shape']}  {o['preview']}")
        for row, ranked in enumerate(o.get("top_k", [])):
            best = ", ".join(f"{r['index']}:{r['score']:.3f}" for r in ranked)
            print(f"         top-{len(ranked)} [{row}] {best}")
