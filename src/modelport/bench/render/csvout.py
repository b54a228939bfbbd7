"""Result rows as CSV, one line per runtime and batch size (or concurrency level)."""

from __future__ import annotations

import csv
import dataclasses
import io

from modelport.bench.results import BenchResult, Row, flat_details

COLUMNS = [f.name for f in dataclasses.fields(Row) if f.name not in ("latencies_ms", "details")]


def to_csv(result: BenchResult) -> str:
    """The rows without raw latencies; scenario and remote details flattened into columns."""
    extra: list[str] = []
    for row in result.rows:
        extra.extend(k for k in flat_details(row) if k not in extra)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + extra)
    for row in result.rows:
        data = dataclasses.asdict(row)
        details = flat_details(row)
        writer.writerow([data[c] for c in COLUMNS] + [details.get(k, "") for k in extra])
    return buffer.getvalue()
