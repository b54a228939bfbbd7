"""The bench command line."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelport.bench import cli
from modelport.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    """Parse argv with only the bench command registered."""
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["bench", *argv])


def test_parses_lists_and_registers_func() -> None:
    """Comma lists become tuples and the command function is set."""
    args = parse("mlp", "-r", "onnxruntime,openvino@fp32", "-b", "1,8", "--concurrency", "1,2")
    assert args.batch_size == (1, 8) and args.concurrency == (1, 2)
    assert args.func is cli.command


def test_bad_list_is_a_usage_error() -> None:
    """A non-numeric batch list exits with argparse's usage error."""
    with pytest.raises(SystemExit):
        parse("mlp", "-b", "1,x")


def test_compare_needs_two_files() -> None:
    """'bench compare' with one file is a configuration error."""
    with pytest.raises(ConfigError):
        cli.command(parse("compare", "a.json"))


def test_list_runtimes(capsys: pytest.CaptureFixture[str]) -> None:
    """--list-runtimes shows onnxruntime available and names every runtime."""
    assert cli.command(parse("--list-runtimes")) == 0
    out = capsys.readouterr().out
    assert "available" in out and "onnxruntime" in out and "litert" in out


def test_local_run_writes_json_and_csv(tiny_mlp: Path, tmp_path: Path) -> None:
    """A full local run through the command writes the requested files."""
    args = parse(
        str(tiny_mlp), "-r", "onnxruntime", "--min-count", "2", "--min-duration", "0",
        "--warmup", "0", "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv"),
        "--no-progress",
    )  # fmt: skip
    assert cli.command(args) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["rows"][0]["runtime"] == "onnxruntime" and data["rows"][0]["agrees"] is True
    assert (tmp_path / "r.csv").read_text().count("\n") == 2


def test_import_modelport_stays_light() -> None:
    """Importing modelport and the bench CLI module never imports a runtime."""
    code = (
        "import sys, modelport, modelport.bench.cli, modelport.bench.backends; "
        "print([m for m in ('torch', 'onnxruntime', 'openvino', 'matplotlib', 'aiohttp') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_package_exports_the_hub_objects() -> None:
    """modelport.bench exposes Bench, BenchConfig and the remote entry point."""
    import modelport.bench as bench

    assert {"Bench", "BenchConfig", "BenchResult", "RemoteConfig", "run_remote_bench"} <= set(
        bench.__all__
    )
    assert bench.Bench.__name__ == "Bench"
    with pytest.raises(AttributeError):
        _ = bench.NotAThing  # type: ignore[attr-defined]
