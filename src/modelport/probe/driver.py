"""The NVIDIA driver and GPUs of this machine (or of a target machine given on the command line).

Sources, cheapest first: /proc/driver/nvidia/version, /sys/module/nvidia/version, the file name
``libcuda.so.<version>``, then (in a subprocess, only when libcuda or NVML is present) ctypes calls
to cuDriverGetVersion/cuInit and NVML. A machine without a driver gives ``present=False``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.probe import cudaquery
from modelport.probe.cudacompat import cuda_for_driver, cuda_from_api
from modelport.probe.dynamic import DynamicInfo
from modelport.probe.elf import elf_identity
from modelport.probe.loader import Loader

CU_INIT_MEANING = {
    0: "ok",
    100: "no CUDA-capable device is detected",
    35: "the driver is older than this libcuda needs (CUDA_ERROR_INSUFFICIENT_DRIVER)",
    34: "a stub libcuda was loaded instead of the driver's (CUDA_ERROR_STUB_LIBRARY)",
    803: "system driver mismatch: libcuda and the kernel module differ",
    804: "forward compatibility is not supported on this device (needs a data-center GPU)",
    999: "unknown CUDA error",
}
_PROC_VERSION = re.compile(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)")
_LIBCUDA_NAME = re.compile(r"libcuda\.so\.(\d+\.\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Gpu:
    """One GPU with its compute capability."""

    name: str
    cc: tuple[int, int]


@dataclass(frozen=True)
class DriverFacts:
    """What is known about the NVIDIA driver; ``assumed`` when it comes from ``--driver``."""

    present: bool
    version: str | None = None
    cuda: tuple[int, int] | None = None
    kernel_module: str | None = None
    libcuda: str | None = None
    compat_libcuda: str | None = None
    cu_init: int | None = None
    gpus: tuple[Gpu, ...] = ()
    evidence: tuple[str, ...] = field(default=())
    assumed: bool = False

    @property
    def cu_init_meaning(self) -> str | None:
        """cuInit's result in words."""
        if self.cu_init is None:
            return None
        return CU_INIT_MEANING.get(self.cu_init, f"CUDA error {self.cu_init}")


def target_driver(version: str | None, gpu_cc: tuple[int, int] | None) -> DriverFacts:
    """Describe a hypothetical machine for ``--driver``/``--gpu`` what-if questions."""
    gpus = (Gpu("target GPU", gpu_cc),) if gpu_cc else ()
    if version is None:
        return DriverFacts(present=True, gpus=gpus, assumed=True, evidence=("--gpu given",))
    return DriverFacts(
        present=True,
        version=version,
        cuda=cuda_for_driver(version),
        gpus=gpus,
        evidence=(f"--driver {version}",),
        assumed=True,
    )


def parse_proc_version(text: str) -> tuple[str, str] | None:
    """Return (driver version, 'open'|'proprietary') from /proc/driver/nvidia/version text."""
    first = text.splitlines()[0] if text else ""
    match = _PROC_VERSION.search(first)
    if not match:
        return None
    return match.group(1), "open" if "Open Kernel Module" in first else "proprietary"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def read_driver(loader: Loader, query: bool = True, timeout: float = 15.0) -> DriverFacts:
    """Collect the driver facts of this machine without ever raising for a missing driver.

    Args:
        loader: finds libcuda.so.1 and libnvidia-ml.so.1 the way the dynamic loader would.
        query: also run the ctypes query subprocess when a libcuda or NVML is present.
        timeout: seconds the query subprocess may take.

    Returns:
        The facts; ``present`` is False when no source shows a driver.
    """
    evidence: list[str] = []
    version = module = None
    proc = _read("/proc/driver/nvidia/version")
    if proc and (parsed := parse_proc_version(proc)):
        version, module = parsed
        evidence.append(f"/proc/driver/nvidia/version: {version} ({module} kernel module)")
    sys_version = (_read("/sys/module/nvidia/version") or "").strip()
    if sys_version:
        evidence.append(f"/sys/module/nvidia/version: {sys_version}")
        version = version or sys_version
    libcuda = _find(loader, "libcuda.so.1")
    if libcuda:
        name = os.path.basename(os.path.realpath(libcuda))
        match = _LIBCUDA_NAME.search(name)
        evidence.append(f"libcuda.so.1 → {os.path.realpath(libcuda)}")
        version = version or (match.group(1) if match else None)
    compat = next(iter(sorted(Path("/usr/local/cuda/compat").glob("libcuda.so.*"))), None)
    if compat:
        evidence.append(f"forward-compat libcuda: {compat}")
    facts = DriverFacts(
        present=bool(version or libcuda),
        version=version,
        cuda=cuda_for_driver(version) if version else None,
        kernel_module=module,
        libcuda=libcuda,
        compat_libcuda=str(compat) if compat else None,
        evidence=tuple(evidence),
    )
    nvml = _find(loader, "libnvidia-ml.so.1")
    if query and (libcuda or nvml):
        facts = merge_query(facts, run_query(libcuda, nvml, timeout))
    return facts


def _find(loader: Loader, soname: str) -> str | None:
    ident = elf_identity(sys.executable) or (2, 62)
    found = loader.resolve(soname, DynamicInfo(sys.executable, ident[0], ident[1]))
    return found.path


def run_query(libcuda: str | None, nvml: str | None, timeout: float) -> dict[str, Any]:
    """Run :mod:`cudaquery` in a subprocess; a crash or hang becomes an ``error`` entry."""
    cmd = [sys.executable, "-I", cudaquery.__file__, libcuda or "libcuda.so.1"]
    cmd.append(nvml or "libnvidia-ml.so.1")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    except subprocess.TimeoutExpired:
        return {"error": f"driver query timed out after {timeout:.0f} s"}
    except (ValueError, IndexError, OSError) as exc:
        return {"error": f"driver query failed: {exc}"}


def merge_query(facts: DriverFacts, answer: dict[str, Any]) -> DriverFacts:
    """Fold the libcuda/NVML answer into ``facts``; the APIs override file-name guesses."""
    evidence = list(facts.evidence)
    if "error" in answer:
        evidence.append(str(answer["error"]))
    cu = answer.get("libcuda") or {}
    nv = answer.get("nvml") or {}
    cuda, version, cu_init = facts.cuda, facts.version, None
    gpus: list[Gpu] = []
    if cu.get("loaded"):
        cuda = cuda_from_api(int(cu.get("version", 0))) if cu.get("version") else cuda
        cu_init = int(cu.get("init", 999))
        evidence.append(f"cuDriverGetVersion: {cu.get('version')}; cuInit(0): {cu_init}")
        gpus = [Gpu(d["name"], (d["cc"][0], d["cc"][1])) for d in cu.get("devices", [])]
    if nv.get("loaded"):
        evidence.append(f"nvmlInit: {nv.get('init')}; NVML driver {nv.get('driver', '?')}")
        version = nv.get("driver") or version
        cuda = cuda_from_api(int(nv["cuda"])) if nv.get("cuda") else cuda
        gpus = gpus or [Gpu(d["name"], (d["cc"][0], d["cc"][1])) for d in nv.get("devices", [])]
    stub_only = cu_init == 34 and facts.kernel_module is None and not nv.get("driver")
    return DriverFacts(
        present=(facts.present or bool(version)) and not stub_only,
        version=version,
        cuda=cuda,
        kernel_module=facts.kernel_module,
        libcuda=facts.libcuda,
        compat_libcuda=facts.compat_libcuda,
        cu_init=cu_init,
        gpus=tuple(gpus),
        evidence=tuple(evidence),
    )
