"""One self-contained HTML report: tables, conditions, plots embedded as data URIs."""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path

from modelport.bench.render.csvout import COLUMNS
from modelport.bench.results import BenchResult, flat_details

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}td.num{text-align:right}td.txt{text-align:left}.flag{color:#b00;font-weight:bold}
.warn{color:#a60}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
"""


def _cell(value: object, flag: bool = False) -> str:
    if isinstance(value, float):
        text, cls = f"{value:.4g}", "num"
    elif isinstance(value, (int, bool)):
        text, cls = str(value), "num"
    else:
        text, cls = str(value).split("-releases")[0], "txt"
    return f'<td class="{"flag" if flag else cls}">{html.escape(text)}</td>'


def _rows_table(result: BenchResult) -> str:
    skip = ("load_average_before", "load_average_after", "notes")
    cols = [c for c in COLUMNS if c not in skip]
    extra: list[str] = []
    for row in result.rows:
        extra.extend(k for k in flat_details(row) if k not in extra)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols + extra)
    body = []
    for row in result.rows:
        details = flat_details(row)
        cells = [_cell(getattr(row, c), c == "agrees" and row.agrees is False) for c in cols]
        cells += [_cell(details.get(k, "")) for k in extra]
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(
        f"<li>{html.escape(r.runtime)}: {html.escape(r.notes)}</li>"
        for r in {r.runtime: r for r in result.rows if r.notes}.values()
    )
    table = f"<table><tr>{head}</tr>{''.join(body)}</table>"
    return table + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")


def _images(result: BenchResult) -> str:
    try:
        from modelport.bench.render.plots import write_plots
    except ImportError:
        return ""
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            files = write_plots(result, Path(tmp))
        except ImportError:
            return "<p class=warn>matplotlib is not installed: no plots.</p>"
        for f in files:
            data = base64.b64encode(f.read_bytes()).decode()
            parts.append(f'<p><img alt="{f.stem}" src="data:image/png;base64,{data}"></p>')
    return "".join(parts)


def render_html(result: BenchResult) -> str:
    """The report as one HTML string with no external resources."""
    esc = html.escape
    skipped = "".join(f"<li>{esc(s.runtime)}: {esc(s.reason)}</li>" for s in result.skipped)
    warnings = "".join(f"<li class=warn>{esc(w)}</li>" for w in result.warnings)
    summaries = "".join(
        f"<h3>LoadGen summary: {esc(r.runtime)}</h3><pre>{esc(str(r.details['summary']))}</pre>"
        for r in result.rows
        if r.details and "summary" in r.details
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>modelport bench: "
        f"{esc(result.model)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>modelport bench: {esc(result.model)} ({esc(result.mode)})</h1>"
        f"{_rows_table(result)}"
        f"{'<h2>Skipped</h2><ul>' + skipped + '</ul>' if skipped else ''}"
        f"{'<h2>Warnings</h2><ul>' + warnings + '</ul>' if warnings else ''}"
        f"<h2>Plots</h2>{_images(result)}{summaries}"
        f"<h2>Configuration</h2><pre>{esc(json.dumps(result.config, indent=2))}</pre>"
        f"<h2>Environment</h2><pre>{esc(json.dumps(result.environment, indent=2))}</pre>"
        "</body></html>"
    )


def write_html(result: BenchResult, path: Path) -> None:
    """Write the report to path."""
    path.write_text(render_html(result))
