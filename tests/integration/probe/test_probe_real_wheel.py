"""The probe against a real NVIDIA wheel from PyPI and against this machine's environment."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelport.probe import ProbeConfig, probe
from modelport.probe.fatbin import read_fatbin
from modelport.probe.gpucode import GpuCode
from modelport.probe.report import to_dict
from modelport.probe.schema import validate

ROOT = Path(__file__).resolve().parents[3]
WHEEL = "nvidia-curand-cu12==10.3.5.147"
SITE = ROOT / ".cache" / "probe" / "curand-10.3.5.147"
LIBCURAND = SITE / "nvidia" / "curand" / "lib" / "libcurand.so.10"


@pytest.fixture(scope="module")
def curand_site() -> Path:
    """A site folder holding the real wheel, installed once and kept under .cache/."""
    if not LIBCURAND.exists():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(SITE),
            WHEEL,
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
        except subprocess.TimeoutExpired:
            pytest.skip(f"PyPI unreachable: installing {WHEEL} took over 240 s")
        if done.returncode != 0 or not LIBCURAND.exists():
            pytest.skip(f"PyPI unreachable, cannot install {WHEEL}: {done.stderr.strip()[-300:]}")
    return SITE


@pytest.mark.slow
def test_curand_census_matches_nvidia_facts(curand_site: Path) -> None:
    """libcurand: 11 containers, SASS sm_50…sm_90, PTX compute_90 with ISA 8.4, LZ4 PTX."""
    result = read_fatbin(LIBCURAND)
    assert result.error is None and len(result.containers) == 11
    code = GpuCode.from_fatbins([result])
    assert sorted(s.arch for s in code.sass) == [50, 60, 70, 75, 80, 86, 89, 90]
    assert {(str(p), p.isa) for p in code.ptx} == {("compute_90", (8, 4))}
    ptx = [e for e in result.entries if e.kind == "ptx"]
    assert ptx and all(e.compression == "lz4" for e in ptx)
    assert all(e.uncompressed_size > e.payload_size for e in ptx if e.payload_size > 1000)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("gpu", "driver", "status", "code"),
    [
        ("8.6", "550.54.14", "ok", "SASS_MATCH"),
        ("12.0", "550.54.14", "ok via PTX JIT", "PTX_JIT"),
        ("12.0", "535.104.05", "fail", "PTX_ISA_TOO_NEW"),
        ("9.0", "470.82.01", "fail", "DRIVER_TOO_OLD"),
    ],
)
def test_curand_what_if(curand_site: Path, gpu: str, driver: str, status: str, code: str) -> None:
    """The wheel is discovered and judged for target GPUs and drivers."""
    config = ProbeConfig(
        libraries=("nvidia-curand-cu12",),
        gpu=gpu,
        driver=driver,
        paths=(str(curand_site),),
        query_driver=False,
    )
    report = to_dict(probe(config))
    assert validate(report) == []
    (lib,) = report["libraries"]
    assert lib["discovered"] and lib["version"] == "10.3.5.147"
    assert lib["verdict"] == status
    assert code in {r["code"] for r in lib["reasons"]}


@pytest.mark.slow
def test_whole_probe_on_this_environment() -> None:
    """`modelport probe --json` on this venv is fast, does not crash and matches the schema."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "modelport", "probe", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.perf_counter() - start
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert validate(report) == []
    assert report["exit_code"] == done.returncode
    assert len(report["libraries"]) >= 17
    assert report["summary"]["line"].split()[1:3] == [
        "of",
        str(report["summary"]["cuda_libraries"]),
    ]
    if not Path("/proc/driver/nvidia/version").exists() and not report["driver"]["present"]:
        assert report["driver"]["gpus"] == []
    assert elapsed < 60


@pytest.mark.slow
def test_import_mode_records_run_time_facts() -> None:
    """--import imports installed libraries in subprocesses and records what they report."""
    config = ProbeConfig(libraries=("onnxruntime",), import_mode=True, import_timeout=120)
    (lib,) = probe(config).libraries
    if not lib.facts.installed:
        pytest.skip("onnxruntime is not installed here")
    assert lib.runtime is not None and lib.runtime.ok, lib.runtime
    assert "CPUExecutionProvider" in lib.runtime.data["providers"]
