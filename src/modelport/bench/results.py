"""Benchmark results: one row per runtime and batch size, saved and read back as JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.errors import BenchError

SCHEMA = "modelport.bench/1"


@dataclass
class Row:
    """One runtime at one batch size (or one scenario run)."""

    runtime: str
    version: str = ""
    device: str = ""
    precision: str = ""
    threads: int = 0
    batch_size: int = 1
    count: int = 0
    mean_ms: float = 0.0
    stdev_ms: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    throughput: float = 0.0  # samples per second
    load_s: float = 0.0
    first_call_ms: float = 0.0
    peak_rss_mib: float = 0.0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    atol: float | None = None
    rtol: float | None = None
    agrees: bool | None = None
    load_average_before: float = 0.0
    load_average_after: float = 0.0
    notes: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    details: dict[str, Any] | None = None  # scenario or remote specifics


def flat_details(row: Row) -> dict[str, Any]:
    """The row's scenario or remote details as flat scalar columns (``server.queue_ms``).

    LoadGen's summary text and error samples are left out: they do not fit a cell.
    """
    flat: dict[str, Any] = {}
    for key, value in (row.details or {}).items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, (int, float, str, bool)):
                    flat[f"{key}.{sub}"] = inner
        elif isinstance(value, (int, float, bool)) or (isinstance(value, str) and key != "summary"):
            flat[key] = value
    return flat


@dataclass
class Skipped:
    """A runtime that did not run, and why."""

    runtime: str
    reason: str


@dataclass
class BenchResult:
    """A whole benchmark: what was measured, how, where, and the rows."""

    model: str
    mode: str = "local"  # local | scenario | remote
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def to_json(self) -> str:
        """The result as indented JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2, allow_nan=True)

    def save(self, path: Path) -> None:
        """Write the result as JSON to path."""
        path.write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        """Build a result from its JSON form.

        Raises:
            BenchError: the data is not a modelport bench result.
        """
        if data.get("schema") != SCHEMA:
            raise BenchError(f"not a modelport bench result (schema {data.get('schema')!r})")
        known = {f.name for f in dataclasses.fields(Row)}
        rows = [Row(**{k: v for k, v in r.items() if k in known}) for r in data.get("rows", [])]
        skipped = [Skipped(**s) for s in data.get("skipped", [])]
        return cls(
            model=data["model"],
            mode=data.get("mode", "local"),
            config=data.get("config", {}),
            environment=data.get("environment", {}),
            rows=rows,
            skipped=skipped,
            warnings=list(data.get("warnings", [])),
        )

    @classmethod
    def load(cls, path: Path) -> BenchResult:
        """Read a result saved with ``save``.

        Raises:
            BenchError: the file is missing or not a result.
        """
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BenchError(f"cannot read bench result {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise BenchError(f"{path} is not a modelport bench result")
        return cls.from_dict(data)
