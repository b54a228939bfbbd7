"""This checkout's `modelport serve` vs a previous release's, side by side on mlp.

Exports the given commit (default 7c0397e, the first release) with `git archive` into
benchmarks/.release/<commit>/ (git-ignored) and installs it into its own venv there, pinned to
this venv's versions of the packages both share (onnxruntime, numpy, uvicorn, httptools, orjson,
grpcio, protobuf), so only modelport's own code differs. The venv is kept for the next run.
Both servers serve the same demo repository (written by this checkout, checked against
in-process ONNX Runtime through each server first), each with its own model cache, metrics off;
wrk sends the same bodies. Windows of the two servers alternate, in a fresh random order each
round, at 1 and 64 clients; the script prints new / old as the median of per-round ratios.

Run: .venv/bin/python benchmarks/previous_release.py [--commit REV] [--rounds 5 --duration 3]
     (about 2 minutes, plus about a minute for the first install of a commit)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from _harness import (
    alternate,
    check_against_ort,
    median_of,
    modelport_server,
    oip_bodies,
    ratios,
    settled,
    spread,
    wrk,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ("onnxruntime", "numpy", "uvicorn", "httptools", "orjson", "grpcio", "protobuf",
          "onnx", "rich")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def installed(commit: str) -> Path:
    """The python of a venv holding modelport at ``commit`` (built once, then reused)."""
    try:
        sha = git("rev-parse", "--verify", f"{commit}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"no commit {commit!r} in {ROOT}: give --commit a revision that "
                         "`git rev-parse` knows (git fetch it first if needed)") from None
    folder = HERE / ".release" / sha[:12]
    python = folder / "venv" / "bin" / "python"
    if (folder / ".ready").exists():
        return python
    print(f"installing modelport at {sha[:12]} into {folder / 'venv'} (once)", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "src").mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder / "src")], input=archive, check=True)
    pins = []
    for name in SHARED:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    (folder / "constraints.txt").write_text("\n".join(pins) + "\n")
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(folder / "src"), "-c", str(folder / "constraints.txt")], check=True)
    (folder / ".ready").write_text(sha + "\n")
    return python


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit", default="7c0397e", help="the previous release (a git rev)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=5, help="alternations per comparison")
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")],
                        default=[1, 64])
    parser.add_argument("--bodies", type=lambda s: s.split(","),
                        default=["http-binary", "http-json"], help="http-binary,http-json")
    parser.add_argument("--json", type=Path, default=None, help="write all windows here")
    args = parser.parse_args()
    old_python = installed(args.commit)
    old_version = subprocess.run([str(old_python), "-m", "modelport", "--version"], check=True,
                                 capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"new: {git('rev-parse', '--short', 'HEAD')} (this checkout, uncommitted changes "
          f"included), old: {args.commit} ({old_version})")
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    bodies = oip_bodies("input", x, "output")
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        subprocess.run([sys.executable, "-m", "modelport", "demo-repo", str(tmp / "demo")],
                       check=True, capture_output=True)
        ports = {}
        for side, python in (("new", sys.executable), ("old", str(old_python))):
            # The old venv must import its own modelport, not a PYTHONPATH meant for this one.
            env = {"PYTHONPATH": ""} if side == "old" else None
            context, ports[side], _ = modelport_server(
                tmp / "demo", "--cache-dir", str(tmp / f"cache-{side}"), python=python,
                log=tmp / f"{side}.log", env=env)
            stack.enter_context(context)
        onnx = tmp / "demo" / "mlp" / "1" / "model.onnx"
        for side, port in ports.items():
            check_against_ort(port, f"{side} modelport", onnx, "mlp", "input", (64,), "output")
        for clients in args.concurrency:
            sides = {}
            for side, port in ports.items():
                url = f"http://127.0.0.1:{port}/v2/models/mlp/infer"
                for body in args.bodies:
                    def run(url: str = url, body: str = body, c: int = clients,
                            seconds: float = args.duration) -> dict[str, Any]:
                        return wrk(url, *bodies[body], c, seconds)

                    sides[f"{side} {body}"] = run
            for run in sides.values():  # warm both servers
                settled(run(), clients)
            found[str(clients)] = alternate(sides, args.rounds, seed=clients, clients=clients)
            for name, runs in found[str(clients)].items():
                print(f"  {name:<16} mlp c={clients:<3} {median_of(runs, 'req_s'):8.1f} req/s  "
                      f"p50 {median_of(runs, 'p50_ms'):.3f} ms", flush=True)
    print(f"\nnew / old (median of per-round ratios; {args.rounds} rounds of "
          f"{args.duration:g} s windows):")
    for clients, samples in found.items():
        for body in args.bodies:
            new, old = samples[f"new {body}"], samples[f"old {body}"]
            print(f"  mlp c={clients:<3} {body:<12} req/s {spread(ratios(new, old))}; "
                  f"p50 {spread(ratios(new, old, 'p50_ms'))}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
