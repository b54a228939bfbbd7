"""Entry point of the process that benchmarks one runtime: ``python -m modelport.bench.worker JOB``.

It prints progress events as JSON lines on stdout and writes its result as JSON; the parent
process never imports the runtime, so runtimes cannot disturb each other's memory or threads.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench import backends
from modelport.bench.backends.base import Array, Backend, BackendOptions
from modelport.bench.environment import load_average
from modelport.bench.job import Job, read_arrays
from modelport.bench.measure import measure
from modelport.bench.stats import StopRule
from modelport.errors import RuntimeUnavailable

PROGRESS_EVERY_S = 0.2


def emit(event: str, **fields: Any) -> None:
    """Tell the parent what is happening (one JSON object per line)."""
    print(json.dumps({"event": event, **fields}), flush=True)


def peak_rss_mib() -> float:
    """The peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_job(job: Job, backend: Backend | None = None) -> dict[str, Any]:
    """Load the runtime, measure every batch size (run the scenario, or only leave the reference
    outputs) and return the result."""
    result: dict[str, Any] = {"runtime": job.runtime, "load_average_before": load_average()[0]}
    backend = backend or backends.create(job.runtime)
    options = BackendOptions(job.threads, job.precision, Path(job.outdir))
    emit("phase", text="loading")
    start = time.perf_counter()
    info = backend.load(Path(job.model), options)
    result["load_s"] = time.perf_counter() - start
    result["info"] = info.__dict__
    if job.reference:
        for batch_size in job.batch_sizes:
            outputs = backend.run(read_arrays(job.inputs_path(batch_size)))
            np.savez(job.outputs_path(batch_size), **outputs)  # type: ignore[arg-type]
    elif job.scenario is not None:
        from modelport.bench.scenarios import run_scenario

        result["scenario"] = run_scenario(backend, job, emit)
    else:
        result["measurements"] = [measure_batch(backend, job, bs) for bs in job.batch_sizes]
    late = backend.late_notes()
    if late:
        result["info"]["notes"] = "; ".join(n for n in (info.notes, late) if n)
    backend.close()
    result["peak_rss_mib"] = peak_rss_mib()
    result["load_average_after"] = load_average()[0]
    return result


def measure_batch(backend: Backend, job: Job, batch_size: int) -> dict[str, Any]:
    """Measure one batch size and save its first outputs for the agreement check."""
    inputs = read_arrays(job.inputs_path(batch_size))
    outputs: list[dict[str, Array]] = []

    def call() -> None:
        out = backend.run(inputs)
        if not outputs:
            outputs.append(out)

    last = [0.0]

    def progress(count: int, elapsed: float) -> None:
        if elapsed - last[0] >= PROGRESS_EVERY_S:  # throttled: printing is not free
            last[0] = elapsed
            emit("progress", batch_size=batch_size, count=count, elapsed=elapsed)

    emit("phase", text=f"batch {batch_size}")
    stop = StopRule(job.min_count, job.min_duration, job.max_duration)
    m = measure(call, batch_size, stop, job.warmup, progress=progress)
    np.savez(job.outputs_path(batch_size), **outputs[0])  # type: ignore[arg-type]
    return {
        "batch_size": batch_size,
        "first_call_s": m.first_call_s,
        "latencies": list(m.latencies),
        "wall_s": m.wall_s,
        "warmup": m.warmup,
    }


def one_line(message: str, limit: int = 300) -> str:
    """A runtime's (often multi-line) error message as one line for the table's footnotes.

    Lines that only locate the error in a runtime's C++ sources are dropped.
    """
    parts = []
    for line in message.splitlines():
        line = line.split("Exception from src/")[0].strip()
        if line and not line.startswith("Check '"):
            parts.append(line)
    text = " | ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str]) -> int:
    """Run the job file named in argv; the exit code is 0 even when the runtime is unavailable."""
    job = Job.loads(Path(argv[0]).read_text())
    try:
        result = run_job(job)
    except RuntimeUnavailable as exc:
        result = {"runtime": job.runtime, "unavailable": one_line(str(exc))}
    except Exception as exc:  # any runtime failure is reported to the parent, not raised
        traceback.print_exc()
        result = {"runtime": job.runtime, "error": one_line(f"{type(exc).__name__}: {exc}")}
    job.result_path().write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
