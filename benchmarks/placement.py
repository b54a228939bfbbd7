"""Why two harnesses disagree on mlp at 64 clients: modelport / FastAPI under several settings.

benchmarks/serving.py (wrk unpinned, one thread) once reported modelport HTTP JSON at 4.35x and
HTTP binary at 4.62x FastAPI; an independent harness (wrk's one thread pinned to core 0 with
taskset, the server on both cores, JSON payloads) measured 2.2x and 3.1x. This script measures
the factors side by side, windows alternating in a fresh random order each round, each ratio
the median of per-round ratios against FastAPI under the same load-generator placement:

  servers     modelport with its defaults; `--intra-op-spinning on` ('-spin': one
              process-wide ONNX Runtime pool of all cores, whose worker spins after each
              parallel section); `--intra-op-spinning off` ('-nospin': each session's own
              pool, whose worker sleeps); `--intra-op-threads 1` (no pool worker: '-t1');
              `--inline-below-us 2000` ('-inline': batches whose learned time is under 2 ms
              run on the event loop instead of being handed to the instance's thread); both
              '-t1-inline'; `--loop asyncio` ('-asyncio': asyncio's own event loop
              instead of uvloop); FastAPI + uvicorn + onnxruntime
              (benchmarks/baselines/fastapi_app.py, as in serving.py)
  placements  wrk -t1 unpinned ('free'), wrk -t1 pinned to core 0 ('pinned'), wrk -t2 unpinned
              ('free-t2', off by default), wrk -t1 unpinned with one extra busy-loop process
              running through the window ('free+busy': one more tenant on the shared cores)
  bodies      JSON for every server; binary for modelport as shipped, -t1 and -t1-inline

For every window it also reads, from /proc, the CPU share of the server's main (event-loop)
thread, of its other threads, of wrk, and of everything else on the machine (other users of
the shared cores), plus the main thread's involuntary context switches.

Run: .venv/bin/python benchmarks/placement.py [--rounds 4 --duration 3]  (about 5 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from _harness import (
    alternate,
    free_port,
    median_of,
    modelport_server,
    oip_bodies,
    process,
    ratios,
    spread,
    table,
    wrk,
)

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
# name -> (wrk's taskset cpu list or None, wrk threads, a busy-loop process during the window)
PLACEMENTS = {"free": (None, 1, False), "pinned": ("0", 1, False), "free-t2": (None, 2, False),
              "free+busy": (None, 1, True)}
INLINE = ["--inline-below-us", "2000"]
# name -> serve flags
VARIANTS: dict[str, list[str]] = {
    "modelport": [],
    "modelport-spin": ["--intra-op-spinning", "on"],
    "modelport-nospin": ["--intra-op-spinning", "off"],
    "modelport-t1": ["--intra-op-threads", "1"],
    "modelport-inline": INLINE,
    "modelport-t1-inline": ["--intra-op-threads", "1", *INLINE],
    "modelport-asyncio": ["--loop", "asyncio"],
}
MODELS = {"mlp": ("input", (64,), "output"), "resnet18": ("input", (3, 224, 224), "logits")}
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


def threads_cpu(pid: int) -> dict[int, tuple[float, int]]:
    """CPU seconds and involuntary context switches of each thread of ``pid``."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        switches = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        found[int(tid)] = ((int(fields[11]) + int(fields[12])) / TICK, switches)
    return found


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK


def accounted(pid: int, run: Any, burn_s: float = 0.0) -> dict[str, Any]:
    """Run one window (beside a busy-loop process of ``burn_s`` seconds if given) and attribute
    the CPU it used; the busy loop counts as foreign."""
    burner = None
    if burn_s:
        burner = subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=burn_s)])
    try:
        before, busy = threads_cpu(pid), machine_busy()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = run()
        seconds = time.monotonic() - started
        after, busy_after = threads_cpu(pid), machine_busy()
        # read before the burner is reaped, so its CPU is not counted as wrk's
        kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()

    def delta(tid: int) -> float:
        return after[tid][0] - before.get(tid, (0.0, 0))[0]

    main = delta(pid) if pid in after else 0.0
    others = sum(delta(t) for t in after if t != pid)
    load = (kids_after.ru_utime + kids_after.ru_stime) - (kids.ru_utime + kids.ru_stime)
    switches = after[pid][1] - before[pid][1] if pid in after and pid in before else 0
    return {
        **result,
        "main_cpu": 100 * main / seconds,
        "other_threads_cpu": 100 * others / seconds,
        "wrk_cpu": 100 * load / seconds,
        "foreign_cpu": 100 * (busy_after - busy - main - others - load) / seconds,
        "main_invol_per_s": switches / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=3, help="alternations")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--placements", type=lambda v: v.split(","),
                        default=["free", "pinned"],
                        help=f"of {','.join(PLACEMENTS)} (default free,pinned)")
    parser.add_argument("--servers", type=lambda v: v.split(","), default=list(VARIANTS),
                        help=f"modelport variants, of {','.join(VARIANTS)} (default all)")
    parser.add_argument("--bodies", type=lambda v: v.split(","),
                        default=["http-json", "http-binary"], help="http-json,http-binary")
    parser.add_argument("--json", type=Path, default=None, help="write all windows here")
    args = parser.parse_args()
    unknown = set(args.placements) - set(PLACEMENTS) | set(args.servers) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown placement(s) or server(s) {', '.join(sorted(unknown))}; choose "
                     f"from {', '.join(PLACEMENTS)} and {', '.join(VARIANTS)}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    name, dims, output = MODELS[args.model]
    x = np.random.default_rng(0).standard_normal((1, *dims)).astype(np.float32)
    bodies = oip_bodies(name, x, output)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        repo = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "modelport", "demo-repo", str(repo)], check=True,
                       capture_output=True)
        ports, pids = {}, {}
        for name in args.servers:
            context, port, _ = modelport_server(repo, *VARIANTS[name])
            pids[name] = stack.enter_context(context).pid
            ports[name] = port
        ports["fastapi"] = free_port()
        command = [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--port",
                   str(ports["fastapi"]), "--host", "127.0.0.1", "--log-level", "warning",
                   "--no-access-log"]
        env = {"MODEL_REPOSITORY": str(repo), "PYTHONPATH": str(HERE / "baselines")}
        pids["fastapi"] = stack.enter_context(process(
            command, f"http://127.0.0.1:{ports['fastapi']}/v2/health/ready", env=env)).pid
        cases = [(server, body) for server in args.servers for body in args.bodies]
        cases.append(("fastapi", "http-json"))
        sides = {}
        for placement in args.placements:
            cpus, threads, busy = PLACEMENTS[placement]
            for server, proto in cases:
                url = f"http://127.0.0.1:{ports[server]}/v2/models/{args.model}/infer"

                def run(url: str = url, proto: str = proto, cpus: str | None = cpus,
                        threads: int = threads, pid: int = pids[server],
                        burn: float = args.duration + 2 if busy else 0) -> dict[str, Any]:
                    return accounted(pid, lambda: wrk(url, *bodies[proto], args.clients,
                                                      args.duration, threads, cpus), burn)

                sides[f"{server} {proto} {placement}"] = run
        for run in sides.values():  # warm every path once
            run()
        samples = alternate(sides, args.rounds, seed=3, clients=args.clients)
    rows = []
    for key, runs in samples.items():
        server, proto, placement = key.split()
        base = samples[f"fastapi http-json {placement}"]
        rows.append({
            "server": server, "body": proto.removeprefix("http-"), "wrk": placement,
            "req_s": median_of(runs, "req_s"),
            "x_fastapi": float(np.nanmedian(ratios(runs, base))),
            **{k: median_of(runs, k) for k in ("p50_ms", "main_cpu", "other_threads_cpu",
                                               "wrk_cpu", "foreign_cpu", "main_invol_per_s")},
        })
    print(f"\n{args.model} at {args.clients} clients, {args.rounds} rounds of "
          f"{args.duration:g} s windows; CPU in % of one core, medians over rounds:")
    print(table(rows, ["server", "body", "wrk", "req_s", "x_fastapi", "p50_ms", "main_cpu",
                       "other_threads_cpu", "wrk_cpu", "foreign_cpu", "main_invol_per_s"]))
    print("\nper-round ratios:")
    for placement in args.placements:
        for server, proto in cases[:-1]:
            top = samples[f"{server} {proto} {placement}"]
            base = samples[f"fastapi http-json {placement}"]
            print(f"  wrk {placement:<8} {server} {proto} / FastAPI JSON = "
                  f"{spread(ratios(top, base))}")
    others = [p for p in args.placements if p != "free"]
    for server, proto in cases if "free" in args.placements and others else []:
        free = samples[f"{server} {proto} free"]
        print(f"  {server} {proto}: " + "; ".join(
            f"{p} / free = {spread(ratios(samples[f'{server} {proto} {p}'], free))}"
            for p in others))
    for variant, proto in cases[:-1] if "modelport" in args.servers else []:
        if variant == "modelport":
            continue
        for placement in args.placements:
            top = samples[f"{variant} {proto} {placement}"]
            shipped = samples[f"modelport {proto} {placement}"]
            print(f"  {proto} wrk {placement:<8} {variant} / defaults = "
                  f"{spread(ratios(top, shipped))}")
    if args.json:
        args.json.write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
