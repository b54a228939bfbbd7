"""Run one runtime's job in its own Python process and collect what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from modelport.bench.job import Job
from modelport.errors import BenchError

Event = dict[str, Any]


def child_env(threads: int) -> dict[str, str]:
    """The environment of a worker: OpenMP and BLAS pools pinned to the benchmark's threads."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def run_isolated(
    job: Job, timeout: float = 900.0, on_event: Callable[[Event], None] | None = None
) -> dict[str, Any]:
    """Run ``job`` in ``python -m modelport.bench.worker`` and return its result dict.

    Raises:
        BenchError: the worker crashed, timed out or wrote no result; the message has the tail
            of its stderr.
    """
    job_path = job.result_path().with_suffix(".job.json")
    job_path.write_text(job.dumps())
    cmd = [sys.executable, "-m", "modelport.bench.worker", str(job_path)]
    with tempfile.TemporaryFile(mode="w+") as stderr:
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=child_env(job.threads)
        ) as proc:
            try:
                _pump(proc, on_event, timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise BenchError(f"{job.runtime} did not finish within {timeout:.0f} s") from None
        stderr.seek(0)
        tail = stderr.read()[-2000:]
    if not job.result_path().exists():
        raise BenchError(f"{job.runtime} worker exited with {proc.returncode}: {tail.strip()}")
    result: dict[str, Any] = json.loads(job.result_path().read_text())
    return result


def _pump(
    proc: subprocess.Popen[str], on_event: Callable[[Event], None] | None, timeout: float
) -> None:
    """Forward the worker's JSON-line events until it exits; ignore lines runtimes print."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    killed = False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if on_event is None or not line.startswith('{"event"'):
                continue
            try:
                on_event(json.loads(line))
            except ValueError:
                continue
        proc.wait()
        killed = not timer.is_alive() and proc.returncode != 0
    finally:
        timer.cancel()
    if killed:
        raise subprocess.TimeoutExpired(proc.args, timeout)
