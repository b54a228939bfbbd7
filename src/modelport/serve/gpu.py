"""GPU memory through NVML, loaded with ctypes so nothing is needed where no driver exists."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class GpuMemory:
    """Memory of one device: total and used on the device, and used by this process."""

    index: int
    name: str
    total_bytes: int
    used_bytes: int
    process_bytes: int


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong)]


class _Process(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("used", ctypes.c_ulonglong),
                ("gpu_instance", ctypes.c_uint), ("compute_instance", ctypes.c_uint)]


@lru_cache(maxsize=1)
def _nvml() -> Any:
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    return lib if lib.nvmlInit_v2() == 0 else None


def gpu_memory() -> list[GpuMemory]:
    """Every GPU's memory; an empty list where there is no NVIDIA driver."""
    lib = _nvml()
    if lib is None:
        return []
    count = ctypes.c_uint()
    if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
        return []
    out = []
    for index in range(count.value):
        handle = ctypes.c_void_p()
        if lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0:
            continue
        mem = _Memory()
        lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem))
        name = ctypes.create_string_buffer(96)
        lib.nvmlDeviceGetName(handle, name, 96)
        out.append(GpuMemory(index, name.value.decode(errors="replace"), mem.total, mem.used,
                             _process_bytes(lib, handle)))
    return out


def _process_bytes(lib: Any, handle: Any) -> int:
    query = getattr(lib, "nvmlDeviceGetComputeRunningProcesses_v3", None)  # driver R510+
    if query is None:
        return 0
    procs = (_Process * 64)()
    n = ctypes.c_uint(64)
    if query(handle, ctypes.byref(n), procs) != 0:
        return 0
    pid = os.getpid()
    return sum(int(procs[i].used) for i in range(n.value) if procs[i].pid == pid)
