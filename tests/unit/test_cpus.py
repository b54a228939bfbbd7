"""modelport.cpus: the cores a process may use, its affinity held to its container's quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelport import cpus


def _files(tmp_path: Path, v2: str | None = None,
           v1: tuple[str, str] | None = None) -> tuple[Path, tuple[Path, Path]]:
    v2_path = tmp_path / "cpu.max"
    v1_paths = (tmp_path / "cpu.cfs_quota_us", tmp_path / "cpu.cfs_period_us")
    if v2 is not None:
        v2_path.write_text(v2 + "\n")
    if v1 is not None:
        for path, text in zip(v1_paths, v1, strict=True):
            path.write_text(text + "\n")
    return v2_path, v1_paths


@pytest.mark.parametrize(("text", "cores"), [
    ("max 100000", None), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1),
    ("400000 50000", 8), ("0 100000", None), ("garbage", None),
])
def test_cgroup_v2_quota_in_whole_cores(tmp_path: Path, text: str, cores: int | None) -> None:
    """cpu.max "<quota> <period>" rounds up to whole cores; "max" is no quota."""
    assert cpus.quota_cores(*_files(tmp_path, v2=text)) == cores


@pytest.mark.parametrize(("quota", "period", "cores"), [
    ("-1", "100000", None), ("300000", "100000", 3), ("10000", "100000", 1),
])
def test_cgroup_v1_quota_in_whole_cores(tmp_path: Path, quota: str, period: str,
                                        cores: int | None) -> None:
    """cgroup v1's cfs_quota_us / cfs_period_us, -1 meaning no quota."""
    assert cpus.quota_cores(*_files(tmp_path, v1=(quota, period))) == cores


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    """Outside a container (no cgroup CPU files) there is no quota."""
    assert cpus.quota_cores(*_files(tmp_path)) is None


@pytest.mark.parametrize(("quota", "expected"), [(None, 6), (2, 2), (16, 6)])
def test_usable_cores_is_the_smaller_of_affinity_and_quota(
        monkeypatch: pytest.MonkeyPatch, quota: int | None, expected: int) -> None:
    """A quota below the affinity mask holds the count down; one above it changes nothing."""
    monkeypatch.setattr(cpus, "affinity_cores", lambda: 6)
    monkeypatch.setattr(cpus, "quota_cores", lambda: quota)
    assert cpus.usable_cores() == expected


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no affinity on this OS")
def test_affinity_cores_counts_this_process_mask() -> None:
    """The real mask of this process, which is what taskset changes."""
    assert cpus.affinity_cores() == len(os.sched_getaffinity(0))
