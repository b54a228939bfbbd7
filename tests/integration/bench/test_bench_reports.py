"""The command line end to end: plots, HTML, CSV, JSON and compare from one real run."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="not installed: matplotlib"
)


def bench(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m modelport bench`` and return the finished process."""
    cmd = [sys.executable, "-m", "modelport", "bench", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_reports_from_one_run(demo_mlp: Path, tmp_path: Path) -> None:
    """One run writes PNG plots, a self-contained HTML report, CSV and JSON."""
    out = bench(
        str(demo_mlp), "-r", "onnxruntime", "-b", "1,4", "--min-duration", "0.05",
        "--warmup", "1", "--no-progress", "--json", str(tmp_path / "a.json"),
        "--csv", str(tmp_path / "a.csv"), "--plots", str(tmp_path / "plots"),
        "--html", str(tmp_path / "a.html"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "onnxruntime" in out.stdout and "agrees" in out.stdout
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["latency.png", "throughput_vs_batch.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    page = (tmp_path / "a.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["environment"]["packages"]["onnxruntime"]
    assert [r["batch_size"] for r in data["rows"]] == [1, 4]


def test_compare_two_results(demo_mlp: Path, tmp_path: Path) -> None:
    """'bench compare' prints a ratio for each runtime and batch size in both files."""
    for name in ("a", "b"):
        args = (str(demo_mlp), "-r", "onnxruntime", "--min-duration", "0.05", "--no-progress")
        assert bench(*args, "--json", str(tmp_path / f"{name}.json")).returncode == 0
    out = bench("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert out.returncode == 0, out.stderr
    assert "onnxruntime b1" in out.stdout
    assert re.search(r"\d+\.\d\dx", out.stdout)  # a B/A ratio (its values need a wide console)
