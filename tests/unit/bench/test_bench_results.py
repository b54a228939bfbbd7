"""Results: JSON round trip, CSV, HTML, compare."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.bench.compare import compare, row_key
from modelport.bench.render.csvout import to_csv
from modelport.bench.render.html import render_html
from modelport.bench.results import BenchResult, Row, Skipped
from modelport.errors import BenchError


def sample(throughput: float = 100.0) -> BenchResult:
    """A small result with two rows, a skipped runtime and a warning."""
    rows = [
        Row("onnxruntime", "1.0", "cpu", "fp32", 2, 1, 10, p50_ms=2.0, p99_ms=4.0,
            throughput=throughput, agrees=True, latencies_ms=[1.0, 2.0, 3.0]),
        Row("openvino", "2.0", "cpu", "bf16", 2, 1, 10, p50_ms=1.0, p99_ms=2.0,
            throughput=2 * throughput, agrees=False),
    ]  # fmt: skip
    return BenchResult(
        "mlp",
        config={"threads": 2},
        environment={"cpu": "test", "load_average": [0.5, 0, 0]},
        rows=rows,
        skipped=[Skipped("torch", "torch not installed: pip install 'modelport[torch]'")],
        warnings=["machine busy"],
    )


def test_json_round_trip(tmp_path: Path) -> None:
    """save() then load() gives back an equal result."""
    result = sample()
    result.save(tmp_path / "r.json")
    assert BenchResult.load(tmp_path / "r.json") == result


def test_loading_something_else_is_a_bench_error(tmp_path: Path) -> None:
    """A JSON file that is not a bench result is refused with a clear error."""
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(BenchError, match="not a modelport bench result"):
        BenchResult.load(tmp_path / "x.json")


def test_csv_has_one_line_per_row_without_raw_latencies() -> None:
    """CSV holds a header and one line per row; raw latencies stay in JSON."""
    lines = to_csv(sample()).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("runtime,version,device,precision")
    assert "latencies_ms" not in lines[0]


def test_html_is_self_contained_and_flags_disagreement() -> None:
    """The report embeds everything and marks a runtime outside tolerance."""
    page = render_html(sample())
    assert page.startswith("<!doctype html>")
    assert 'class="flag"' in page
    assert 'src="http' not in page and 'href="http' not in page
    assert "modelport[torch]" in page and "machine busy" in page


def test_compare_ratios_by_runtime_and_batch() -> None:
    """compare() pairs rows by key and divides B by A."""
    found = compare(sample(100.0), sample(150.0))
    assert [c.key for c in found] == ["onnxruntime b1", "openvino b1"]
    assert found[0].values["throughput"] == (100.0, 150.0, 1.5)
    assert found[0].values["load_s"][2] is None


def test_row_key_names_the_level_of_a_sweep() -> None:
    """Remote rows are told apart by their concurrency level."""
    row = Row("http json", details={"level": "concurrency", "value": 4.0})
    assert row_key(row) == "http json b1 concurrency=4"


def remote_sample() -> BenchResult:
    """A remote result with one level and a server breakdown."""
    details = {
        "level": "concurrency", "value": 4.0, "requests": 120, "errors": 1,
        "error_samples": ["HTTP 503"], "requests_per_second": 60.0,
        "server": {"success": 120, "queue_ms": 0.5, "compute_ms": 9.5},
    }  # fmt: skip
    row = Row("http json", device="remote", count=120, p50_ms=10.0, details=details)
    return BenchResult("mlp", mode="remote", config={"url": "http://127.0.0.1:1"}, rows=[row])


def test_remote_details_flatten_into_csv_and_html() -> None:
    """Levels, errors and the server's queue/compute breakdown become columns."""
    header, line = to_csv(remote_sample()).splitlines()
    assert "server.queue_ms" in header and "errors" in header and "error_samples" not in header
    assert line.endswith("0.5,9.5")
    assert "<th>server.compute_ms</th>" in render_html(remote_sample())


def test_remote_table_shows_server_breakdown() -> None:
    """The terminal table of a remote run shows level, errors and server times."""
    from rich.console import Console

    from modelport.bench.render.table import print_result

    console = Console(record=True, width=250)
    print_result(remote_sample(), console)
    text = console.export_text()
    assert "c=4" in text and "server queue ms" in text and "9.5" in text
