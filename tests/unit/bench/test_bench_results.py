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
