"""The machine and software a result was measured on, saved with every result."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from modelport.cpus import usable_cores

PACKAGES = (
    "modelport", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "torch",
    "ai-edge-litert", "flatbuffers", "mlcommons-loadgen", "tritonclient",
    "aiohttp",
)  # fmt: skip


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The ISA extensions that change which kernels runtimes pick (AVX-512, bf16, AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
            return [f for f in wanted if f in flags]
    return []


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (zeros where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def is_busy(load1: float, cores: int) -> bool:
    """Whether a 1-minute load average means other work competes for these cores."""
    return load1 > 0.25 * cores


def versions() -> dict[str, str]:
    """Installed versions of the packages that matter to a benchmark (absent ones left out)."""
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def memory_total_gib() -> float:
    """Physical memory in GiB (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return 0.0


def capture() -> dict[str, Any]:
    """A JSON-ready description of this machine and its software, now."""
    return {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count() or 1,
        "memory_gib": memory_total_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions(),
        "load_average": list(load_average()),
        "gpu": "none" if not Path("/dev/nvidiactl").exists() else "nvidia device present",
    }
