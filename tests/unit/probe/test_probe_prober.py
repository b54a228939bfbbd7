"""The whole probe on small fake environments holding nvcc-built libraries."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from probe_helpers import FIXTURES, fake_dist

from modelport.cli import main
from modelport.errors import ConfigError, ProbeError
from modelport.probe import ProbeConfig, probe
from modelport.probe.reasons import CODES
from modelport.probe.report import to_dict
from modelport.probe.schema import SCHEMA, validate

# the C library's folders only, so a CUDA toolkit on this machine cannot satisfy libcudart
SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")
TORCH_VERSION = '__version__ = "2.9.0+cu130"\ncuda = "13.0"\n'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site-packages with a fake CUDA 13 torch (real fatbin: sm_75, sm_80, compute_90) and a
    non-catalogue package carrying GPU code."""
    fake_dist(
        tmp_path,
        "torch",
        "2.9.0+cu130",
        {
            "torch/version.py": TORCH_VERSION,
            "torch/lib/libtorch_cuda.so": FIXTURES / "sass_ptx.so",
        },
    )
    # an ELF file without GPU code stands in for the CUDA runtime wheel's libcudart
    runtime = {"nvidia/cu13/lib/libcudart.so.13": Path(sys.executable).resolve()}
    fake_dist(tmp_path, "nvidia-cuda-runtime", "13.0.96", runtime)
    fake_dist(tmp_path, "gpu-kernels", "0.1", {"gpu_kernels/_k.so": FIXTURES / "arch_family.so"})
    return tmp_path


def run(site: Path, **options: object) -> dict[str, object]:
    """Probe ``site`` only, with the driver query off, and return the JSON form."""
    config = ProbeConfig(
        paths=(str(site),),
        ld_library_path="",
        system_dirs=SYSTEM_DIRS,
        query_driver=False,
        **options,  # type: ignore[arg-type]
    )
    return to_dict(probe(config))


def rows(report: dict[str, object]) -> dict[str, dict[str, object]]:
    """Library rows by key."""
    return {lib["key"]: lib for lib in report["libraries"]}  # type: ignore[index,union-attr]


def test_census_and_facts(site: Path) -> None:
    """torch's CUDA build, GPU code and pinned runtime location are read statically."""
    torch = rows(run(site))["torch"]
    assert torch["cuda_build"] == {"version": "13.0", "source": "version file cuda=13.0"}
    assert torch["gpu_code"]["sass"] == ["sm_75", "sm_80"]  # type: ignore[index]
    assert torch["gpu_code"]["ptx"] == [{"target": "compute_90", "isa": "9.0"}]  # type: ignore[index]
    assert {m["soname"] for m in torch["abi"]["env_only"]} == {"libcudart.so.13"}  # type: ignore[index]
    needed = {n["soname"]: n for n in torch["abi"]["needed"]}  # type: ignore[index]
    assert needed["libcudart.so.13"]["path"] is None
    assert needed["libc.so.6"]["via"] == "system" and needed["libc.so.6"]["path"]


def test_discovered_package(site: Path) -> None:
    """A package outside the catalogue whose .so carries a fatbin is reported."""
    found = rows(run(site))["gpu-kernels"]
    assert found["discovered"] is True
    assert found["gpu_code"]["sass"] == ["sm_90a", "sm_100f", "sm_120"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("gpu", "driver", "status", "code"),
    [
        ("8.6", "580.65.06", "ok", "SASS_MATCH"),
        ("12.0", "580.65.06", "ok via PTX JIT", "PTX_JIT"),
        ("12.0", "550.54", "fail", "DRIVER_TOO_OLD"),
        ("7.0", "580.65.06", "fail", "NO_KERNEL_IMAGE"),
    ],
)
def test_what_if(site: Path, gpu: str, driver: str, status: str, code: str) -> None:
    """--gpu/--driver verdicts for the fake torch follow the rules."""
    torch = rows(run(site, gpu=gpu, driver=driver, libraries=("torch",)))["torch"]
    assert torch["verdict"] == status
    assert code in {r["code"] for r in torch["reasons"]}  # type: ignore[union-attr]


def test_json_matches_schema_and_summary(site: Path) -> None:
    """The JSON validates against the published schema and counts the libraries."""
    report = run(site, gpu="8.6", driver="580.65.06")
    assert validate(report) == []
    summary = report["summary"]
    assert summary["line"].startswith("2 of 2 installed libraries are CUDA 12.4+ ready")  # type: ignore[index]
    verdicts = {lib["key"]: lib["verdict"] for lib in report["libraries"]}  # type: ignore[union-attr]
    assert verdicts["torch"] == "ok" and verdicts["gpu-kernels"] == "fail"  # no code for CC 8.6
    assert report["exit_code"] == 1
    assert json.loads(json.dumps(report)) == report


def test_schema_validator_catches_violations() -> None:
    """The validator reports wrong types, enums and missing fields."""
    assert validate({"schema_version": "9"})  # many errors
    assert any("expected" in e for e in validate({"schema_version": "1.0", "elapsed_s": "x"}))


def test_every_reason_code_is_documented() -> None:
    """docs/probe.md explains every reason code."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "probe.md").read_text()
    missing = [code for code in CODES if f"`{code}`" not in docs]
    assert not missing


def test_bad_config() -> None:
    """Bad --gpu / --driver values are configuration errors."""
    with pytest.raises(ConfigError):
        ProbeConfig(gpu="banana")
    with pytest.raises(ConfigError):
        ProbeConfig(driver="300.1")
    assert ProbeConfig(gpu="sm_90").gpu == "sm_90"


def test_unknown_library(site: Path) -> None:
    """An unknown --library is a probe error that lists the known names."""
    with pytest.raises(ProbeError, match="unknown library"):
        run(site, libraries=("nope",))


def test_cli_exit_codes_and_formats(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """0 when ok, 1 when a library fails, 2 for a probe error; JSON and Markdown render."""
    base = ["probe", "--path", str(site), "--library", "torch"]
    assert main([*base, "--json", "--gpu", "8.6", "--driver", "580.65.06"]) == 0
    assert json.loads(capsys.readouterr().out)["libraries"][0]["verdict"] == "ok"
    assert main([*base, "--markdown", "--gpu", "7.0", "--driver", "580.65.06"]) == 1
    assert "| PyTorch | 2.9.0+cu130 | 13.0 |" in capsys.readouterr().out
    assert main([*base, "--gpu", "12.0", "--driver", "580.65.06"]) == 0
    assert "ok via PTX JIT" in capsys.readouterr().out
    assert main(["probe", "--path", str(site), "--library", "nope"]) == 2
    assert main(["probe", "--gpu", "x"]) == 2


def test_cli_fatbin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """probe fatbin lists ELF and PTX entries; a broken file exits 2."""
    assert main(["probe", "fatbin", str(FIXTURES / "compress_speed.so")]) == 0
    out = capsys.readouterr().out
    assert "ELF file    1: compress_speed.1.sm_80.cubin" in out
    assert "PTX file    1: compress_speed.2.sm_80.ptx" in out and "lz4" in out
    assert main(["probe", "fatbin", "--json", str(FIXTURES / "arch_family.so")]) == 0
    listing = json.loads(capsys.readouterr().out)[0]
    assert {e["target"] for e in listing["entries"]} == {
        "sm_90a",
        "sm_100f",
        "sm_120",
        "compute_90a",
    }
    broken = tmp_path / "broken.so"
    broken.write_bytes((FIXTURES / "sass_ptx.so").read_bytes()[:9000])
    assert main(["probe", "fatbin", str(broken)]) == 2
    assert "error" in capsys.readouterr().err


def test_schema_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """--schema prints the JSON schema."""
    assert main(["probe", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == SCHEMA["title"]
