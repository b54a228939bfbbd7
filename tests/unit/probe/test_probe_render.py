"""The rendered report: the header names the Python inspected, notes sit apart from codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from probe_helpers import fake_dist
from rich.console import Console

from modelport.probe import ProbeConfig, probe
from modelport.probe.render import render_markdown, render_table
from modelport.probe.report import ProbeReport, to_dict

SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")
ORT_INIT = "def get_available_providers():\n    return ['CPUExecutionProvider']\n"
ORT_INFO = "build_type = 'Release'\n"  # what a CPU wheel's build_and_package_info.py holds


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A Python 3.9 venv layout (not this interpreter) whose site-packages holds a CPU-only
    ONNX Runtime; its bin/python3.9 records each call, then runs this interpreter."""
    root = tmp_path / "other-venv"
    site = root / "lib" / "python3.9" / "site-packages"
    site.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text("home = /opt/py39/bin\nversion = 3.9.18\n")
    (root / "bin").mkdir()
    python = root / "bin" / "python3.9"
    python.write_text(f'#!/bin/sh\necho "$@" >> "{root}/calls"\nexec "{sys.executable}" "$@"\n')
    os.chmod(python, 0o755)
    lib = Path(sys.executable).resolve()  # any ELF file without GPU code
    fake_dist(site, "onnxruntime", "1.20.0", {
        "onnxruntime/__init__.py": ORT_INIT, "onnxruntime/capi/build_and_package_info.py": ORT_INFO,
        "onnxruntime/capi/onnxruntime_pybind11_state.so": lib,
    })  # fmt: skip
    return root


def report_of(venv: Path, import_mode: bool = False) -> ProbeReport:
    """Probe only the venv's site-packages."""
    site = venv / "lib" / "python3.9" / "site-packages"
    config = ProbeConfig(
        libraries=("onnxruntime",), paths=(str(site),), ld_library_path="",
        system_dirs=SYSTEM_DIRS, query_driver=False, import_mode=import_mode,
    )  # fmt: skip
    return probe(config)


def table_text(report: ProbeReport) -> str:
    """The terminal rendering as plain text."""
    console = Console(record=True, width=200)
    render_table(report, console)
    return console.export_text()


def test_header_shows_the_python_of_the_path_folders(venv: Path) -> None:
    """With --path the header, Markdown and JSON name that Python, not modelport's own."""
    report = report_of(venv)
    site = str(venv / "lib" / "python3.9" / "site-packages")
    expected = f"Python inspected: CPython 3.9.18 ({venv}/bin/python3.9)"
    for text in (table_text(report), render_markdown(report)):
        assert expected in text and f"site-packages (--path): {site}" in text
        assert sys.executable not in text
    host = to_dict(report)["host"]
    assert host["python"] == "CPython 3.9.18" and host["python_source"] == "--path"
    assert host["site_packages"] == [site]


def test_import_runs_in_the_python_of_the_path_folders(venv: Path) -> None:
    """--import with --path imports with the interpreter that owns those folders."""
    report = report_of(venv, import_mode=True)
    assert "onnxruntime" in (venv / "calls").read_text()
    runtime = report.libraries[0].runtime
    assert runtime is not None and runtime.ok


def test_a_library_note_is_not_shown_as_a_reason(venv: Path) -> None:
    """CPU_ONLY_BUILD carries its own evidence; ONNX Runtime's catalogue note has its own line."""
    report = report_of(venv)
    for text in (table_text(report), render_markdown(report)):
        lines = [line.strip(" -") for line in text.splitlines()]
        code_line = next(line for line in lines if line.startswith("CPU_ONLY_BUILD:"))
        assert "CUDAExecutionProvider" not in code_line
        assert "no GPU code in its 1 shared library" in code_line
        assert (
            "library note: lists CUDAExecutionProvider even when CUDA libraries cannot load"
            in lines
        )
    lib = to_dict(report)["libraries"][0]
    assert lib["note"].startswith("lists CUDAExecutionProvider")
    assert "CUDAExecutionProvider" not in lib["reasons"][0]["detail"]
