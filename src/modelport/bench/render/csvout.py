"""Result rows as CSV, one line per runtime and batch size (or concurrency level)."""

from __future__ import annotations

import csv
import dataclasses
import io

from modelport.bench.results import BenchResult, Row

COLUMNS = [f.name for f in dataclasses.fields(Row) if f.name not in ("latencies_ms", "details")]


def to_csv(result: BenchResult) -> str:
    """The rows without raw latencies; scenario and remote details flattened into columns."""
    extra: list[str] = []
    for row in result.rows:
        for key in row.details or {}:
            if key not in extra and isinstance(row.details and row.details[key], (int, float, str)):
                extra.append(key)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + extra)
    for row in result.rows:
        data = dataclasses.asdict(row)
        details = row.details or {}
        writer.writerow([data[c] for c in COLUMNS] + [details.get(k, "") for k in extra])
    return buffer.getvalue()
