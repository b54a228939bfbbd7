"""nv_gpu_* read through the real NVIDIA driver agree with nvidia-smi (skipped without one)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelport.serve.gpu import NvmlGpus
from modelport.serve.host import CpuUtilization
from modelport.serve.metrics import render_machine


def _driver() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return shutil.which("nvidia-smi") is not None


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _driver(), reason="no NVIDIA driver")]


def test_nv_gpu_metrics_match_nvidia_smi() -> None:
    """Each GPU nvidia-smi lists appears by gpu_uuid with its total memory, in bytes."""
    smi = subprocess.run(["nvidia-smi", "--query-gpu=uuid,memory.total",
                          "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    expected = {uuid.strip(): int(mib) * 1024 * 1024
                for uuid, mib in (line.split(",") for line in smi.strip().splitlines())}
    text = render_machine(NvmlGpus(), CpuUtilization()).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    totals = {s.labels["gpu_uuid"]: s.value for s in fams["nv_gpu_memory_total_bytes"].samples}
    assert totals == pytest.approx(expected, rel=0.01)
    for sample in fams["nv_gpu_utilization"].samples:
        assert 0.0 <= sample.value <= 1.0
    power = fams.get("nv_gpu_power_usage")  # absent where the board does not report it
    assert power is None or all(0.0 < s.value < 5000.0 for s in power.samples)  # watts, not mW
