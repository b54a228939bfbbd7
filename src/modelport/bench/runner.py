"""Bench: the object users touch to compare runtimes on one model, each in its own process."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench import backends, environment
from modelport.bench.agreement import compare_outputs
from modelport.bench.backends.base import Array
from modelport.bench.config import BenchConfig, RuntimeChoice
from modelport.bench.inputs import make_batch, read_signature
from modelport.bench.isolate import run_isolated
from modelport.bench.job import Job, read_arrays
from modelport.bench.model_source import resolve_model
from modelport.bench.results import BenchResult, Row, Skipped
from modelport.bench.stats import LatencySummary
from modelport.cpus import usable_cores
from modelport.errors import BenchError

KEEP_LATENCIES = 2000  # raw latencies saved per row, for plots
EventSink = Callable[[str, dict[str, Any]], None]


def available_choices() -> tuple[list[RuntimeChoice], list[Skipped]]:
    """Every listed runtime that can run here, and the others with the reason."""
    ready, skipped = [], []
    for name, spec in backends.RUNTIMES.items():
        if not spec.listed:
            continue
        reason = backends.why_unavailable(name)
        if reason is None:
            ready.append(RuntimeChoice(name))
        else:
            skipped.append(Skipped(name, reason))
    return ready, skipped


class Bench:
    """Runs a BenchConfig: inputs, reference outputs, one isolated process per runtime, rows."""

    def __init__(self, config: BenchConfig, on_event: EventSink | None = None) -> None:
        self.config = config
        self.on_event = on_event
        self.threads = config.threads or usable_cores()

    def run(self) -> BenchResult:
        """Measure every chosen runtime and return the result (environment included)."""
        cfg = self.config
        model = resolve_model(cfg.model)
        env = environment.capture()
        result = BenchResult(model=cfg.model, environment=env, config=self._config_record(model))
        result.mode = "scenario" if cfg.scenario else "local"
        load_before = env["load_average"][0]
        if environment.is_busy(load_before, env["cores"]):
            result.warnings.append(
                f"machine busy before the run: load average {load_before:.2f} on "
                f"{env['cores']} cores; numbers are indicative"
            )
        choices, skipped = self._choices()
        result.skipped.extend(skipped)
        with tempfile.TemporaryDirectory(prefix="modelport-bench-") as tmp:
            workdir = Path(tmp)
            self._write_inputs(model, workdir)
            reference = self._reference(model, workdir)
            for choice in choices:
                self._run_choice(choice, model, workdir, reference, result)
        load_after = environment.load_average()[0]
        env["load_average_after"] = [load_after]
        if load_after > self.threads + 0.25 * env["cores"]:  # more than our own threads
            result.warnings.append(
                f"machine busy after the run: load average {load_after:.2f} with "
                f"{self.threads} benchmark threads"
            )
        return result

    def _config_record(self, model: Path) -> dict[str, Any]:
        cfg = self.config
        return {
            "model_path": str(model),
            "runtimes": [c.label for c in cfg.runtimes] or "all available",
            "batch_sizes": list(cfg.batch_sizes),
            "threads": self.threads,
            "warmup": cfg.warmup,
            "min_count": cfg.min_count,
            "min_duration_s": cfg.min_duration,
            "max_duration_s": cfg.max_duration,
            "seq_len": cfg.seq_len,
            "seed": cfg.seed,
            "reference": f"{cfg.reference} fp32",
            "scenario": cfg.scenario.__dict__ if cfg.scenario else None,
            "isolation": "one process per runtime",
        }

    def _choices(self) -> tuple[list[RuntimeChoice], list[Skipped]]:
        if not self.config.runtimes:
            return available_choices()
        ready, skipped = [], []
        for choice in self.config.runtimes:
            reason = backends.why_unavailable(choice.name)
            if reason is None:
                ready.append(choice)
            else:
                skipped.append(Skipped(choice.label, reason))
        return ready, skipped

    def _write_inputs(self, model: Path, workdir: Path) -> None:
        specs = read_signature(model)
        static = {s.shape[0] for s in specs if s.shape and s.shape[0] is not None}
        if static and set(self.config.batch_sizes) - static:
            raise BenchError(f"the model's batch dimension is fixed at {sorted(static)}")
        for bs in self.config.batch_sizes:
            batch = make_batch(specs, bs, self.config.seq_len, self.config.seed)
            np.savez(workdir / f"inputs_b{bs}.npz", **batch)  # type: ignore[arg-type]

    def _reference(self, model: Path, workdir: Path) -> dict[int, dict[str, Array]]:
        """The reference outputs, computed in a worker of their own like every runtime's, so
        that nothing this process ran before (a notebook, a test session) can touch them."""
        cfg = self.config
        if backends.why_unavailable(cfg.reference) is not None:
            raise BenchError(f"reference runtime {cfg.reference} is not available")
        job = replace(self._job(RuntimeChoice(cfg.reference, "fp32"), model, workdir),
                      scenario=None, reference=True)  # fmt: skip
        label = f"{cfg.reference} (reference)"
        try:
            raw = run_isolated(job, cfg.timeout, lambda event: self._forward(label, event))
        finally:
            self._forward(label, {"event": "done"})
        if "unavailable" in raw or "error" in raw:
            why = raw.get("unavailable") or raw["error"]
            raise BenchError(f"reference runtime {cfg.reference} failed: {why}")
        return {bs: read_arrays(job.outputs_path(bs)) for bs in cfg.batch_sizes}

    def _forward(self, label: str, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(label, event)

    def _job(self, choice: RuntimeChoice, model: Path, workdir: Path) -> Job:
        cfg = self.config
        scenario = cfg.scenario.__dict__ if cfg.scenario else None
        return Job(
            str(model), choice.name, str(workdir), cfg.batch_sizes, choice.precision,
            self.threads, cfg.warmup, cfg.min_count, cfg.min_duration, cfg.max_duration,
            cfg.seq_len, cfg.seed, scenario,
        )  # fmt: skip

    def _run_choice(
        self,
        choice: RuntimeChoice,
        model: Path,
        workdir: Path,
        reference: Mapping[int, Mapping[str, Array]],
        result: BenchResult,
    ) -> None:
        job = self._job(choice, model, workdir)
        label = choice.label
        self._forward(label, {"event": "phase", "text": "starting"})
        try:
            raw = run_isolated(job, self.config.timeout, lambda event: self._forward(label, event))
        except BenchError as exc:
            result.skipped.append(Skipped(choice.label, str(exc)))
            return
        finally:
            self._forward(label, {"event": "done"})
        if "unavailable" in raw or "error" in raw:
            result.skipped.append(Skipped(choice.label, raw.get("unavailable") or raw["error"]))
            return
        if "scenario" in raw:
            result.rows.append(scenario_row(choice, raw))
            return
        for m in raw["measurements"]:
            outputs = read_arrays(job.outputs_path(m["batch_size"]))
            row = measurement_row(choice, raw, m, outputs, reference[m["batch_size"]])
            if not self.config.keep_latencies:
                row.latencies_ms = []
            result.rows.append(row)


def _base_row(choice: RuntimeChoice, raw: Mapping[str, Any]) -> Row:
    info = raw["info"]
    return Row(
        runtime=choice.label,
        version=info["version"],
        device=info["device"],
        precision=info["precision"],
        threads=info["threads"],
        load_s=raw["load_s"],
        peak_rss_mib=raw["peak_rss_mib"],
        load_average_before=raw["load_average_before"],
        load_average_after=raw["load_average_after"],
        notes=info.get("notes", ""),
    )


def measurement_row(
    choice: RuntimeChoice,
    raw: Mapping[str, Any],
    m: Mapping[str, Any],
    outputs: Mapping[str, Array],
    reference: Mapping[str, Array],
) -> Row:
    """One table row from a worker's measurement of one batch size."""
    row = _base_row(choice, raw)
    s = LatencySummary.of(m["latencies"])
    agreement = compare_outputs(outputs, reference, row.precision)
    row.batch_size = m["batch_size"]
    row.count = s.count
    row.mean_ms, row.stdev_ms = s.mean * 1e3, s.stdev * 1e3
    row.p50_ms, row.p90_ms, row.p95_ms, row.p99_ms = (x * 1e3 for x in (s.p50, s.p90, s.p95, s.p99))
    row.throughput = m["batch_size"] * s.count / m["wall_s"] if m["wall_s"] > 0 else 0.0
    row.first_call_ms = m["first_call_s"] * 1e3
    row.max_abs_diff, row.max_rel_diff = agreement.max_abs, agreement.max_rel
    row.atol, row.rtol, row.agrees = agreement.atol, agreement.rtol, agreement.within
    row.latencies_ms = thin([x * 1e3 for x in m["latencies"]])
    return row


def thin(values: list[float], keep: int = KEEP_LATENCIES) -> list[float]:
    """At most ``keep`` values, evenly spaced in time order (percentiles use all of them)."""
    if len(values) <= keep:
        return values
    step = len(values) / keep
    return [values[int(i * step)] for i in range(keep)]


def scenario_row(choice: RuntimeChoice, raw: Mapping[str, Any]) -> Row:
    """One table row from a worker's LoadGen scenario run."""
    row = _base_row(choice, raw)
    sc: dict[str, Any] = raw["scenario"]
    row.batch_size = sc.get("batch_size", 1)
    row.count = sc.get("queries", 0)
    row.throughput = sc.get("samples_per_second", 0.0)
    for key in ("mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"):
        setattr(row, key, sc.get(key, 0.0))
    row.first_call_ms = sc.get("first_call_ms", 0.0)
    row.details = sc
    return row
