"""Compatibility tables, version parsing and the driver/host fact readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.probe.cudacompat import (
    cuda_for_driver,
    cuda_from_api,
    driver_meets,
    max_ptx_isa,
    parse_version,
)
from modelport.probe.driver import merge_query, parse_proc_version, read_driver, target_driver
from modelport.probe.host import newest, read_host
from modelport.probe.loader import Loader


@pytest.mark.parametrize(
    ("driver", "cuda"),
    [
        ("550.54.14", (12, 4)),
        ("550.54", (12, 4)),
        ("535.104.05", (12, 2)),
        ("575.57.08", (12, 9)),
        ("580.65.06", (13, 0)),
        ("590.1", (13, 1)),
        ("999.0", (13, 1)),
        ("540.1", (12, 2)),
        ("470.82.01", (11, 4)),
        ("440.1", None),
        ("abc", None),
    ],
)
def test_driver_branch_to_cuda(driver: str, cuda: tuple[int, int] | None) -> None:
    """A driver's branch gives the newest CUDA it supports."""
    assert cuda_for_driver(driver) == cuda


def test_ptx_isa_levels() -> None:
    """Toolkit → PTX ISA, including 12.6 staying at 8.5 and 13.x → 9.x."""
    assert max_ptx_isa((12, 4)) == (8, 4)
    assert max_ptx_isa((12, 6)) == (8, 5)
    assert max_ptx_isa((13, 0)) == (9, 0)
    assert max_ptx_isa((13, 2)) == (9, 2)


def test_version_helpers() -> None:
    """Parsing and comparing dotted versions."""
    assert parse_version("2.5.1+cu124") == (2, 5, 1)
    assert parse_version(None) is None and parse_version("none") is None
    assert cuda_from_api(12040) == (12, 4) and cuda_from_api(13000) == (13, 0)
    assert driver_meets("525.60.13", "525.60.13") and not driver_meets("525.60.11", "525.60.13")


def test_proc_version_both_module_flavours() -> None:
    """The proprietary and the open kernel module lines both give the version."""
    closed = (
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024"
    )
    opened = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.57.08  Release Build"
    assert parse_proc_version(closed) == ("550.54.14", "proprietary")
    assert parse_proc_version(opened) == ("575.57.08", "open")
    assert parse_proc_version("garbage") is None and parse_proc_version("") is None


def test_query_answers_are_folded_in() -> None:
    """cuDriverGetVersion, cuInit codes and NVML devices end up in the facts."""
    base = read_driver(Loader(system_dirs=[]), query=False)
    answer = {
        "libcuda": {
            "loaded": True,
            "version": 12080,
            "init": 0,
            "devices": [{"name": "NVIDIA H100", "cc": [9, 0]}],
        },
        "nvml": {"loaded": True, "init": 0, "driver": "570.86.15", "cuda": 12080, "devices": []},
    }
    facts = merge_query(base, answer)
    assert facts.present and facts.version == "570.86.15" and facts.cuda == (12, 8)
    assert facts.gpus[0].cc == (9, 0) and facts.cu_init_meaning == "ok"
    stub = merge_query(base, {"libcuda": {"loaded": True, "version": 13000, "init": 34}})
    assert not stub.present and "stub" in (stub.cu_init_meaning or "")
    none = merge_query(base, {"libcuda": {"loaded": True, "version": 12040, "init": 100}})
    assert none.gpus == () and "no CUDA-capable device" in (none.cu_init_meaning or "")


def test_no_driver_on_this_machine_is_not_an_error() -> None:
    """Without /proc/driver/nvidia or libcuda the facts say so instead of raising."""
    if Path("/proc/driver/nvidia/version").exists():
        pytest.skip("this machine has an NVIDIA driver")
    facts = read_driver(Loader(system_dirs=[]), query=True)
    assert not facts.present and facts.gpus == ()


def test_target_driver() -> None:
    """--driver/--gpu build an assumed machine."""
    facts = target_driver("550.54", (12, 0))
    assert facts.assumed and facts.cuda == (12, 4) and facts.gpus[0].cc == (12, 0)


def test_host_facts() -> None:
    """glibc, GLIBCXX and Python are read from this host."""
    host = read_host(Loader())
    assert host.python.startswith("CPython") or host.python
    assert host.glibc is None or parse_version(host.glibc)
    if host.libstdcxx_path:
        assert host.glibcxx and host.glibcxx.startswith("GLIBCXX_3.4")
        assert host.cxxabi and host.cxxabi.startswith("CXXABI_1.3")


def test_newest_ignores_non_numeric_versions() -> None:
    """CXXABI_FLOAT128 and CXXABI_TM_1 are not versions."""
    defs = ("CXXABI_1.3", "CXXABI_1.3.13", "CXXABI_TM_1", "CXXABI_FLOAT128", "GLIBCXX_3.4.9")
    assert newest(defs, "CXXABI") == "CXXABI_1.3.13"
    assert newest(defs, "GLIBCXX") == "GLIBCXX_3.4.9"
    assert newest((), "GLIBC") is None
