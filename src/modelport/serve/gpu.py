"""GPU readings through NVML, loaded with ctypes so nothing is needed where no driver exists.

A ``GpuSource`` lists devices; ``NvmlGpus`` asks the driver, ``FakeGpus`` returns what it was
given (tests, and trying a dashboard on a machine without a GPU). Readings a device does not
support (power on many boards, utilization under MIG) are None rather than a made-up zero.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_NVML_SUCCESS = 0
_NAME_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE


@dataclass(frozen=True)
class GpuDevice:
    """One device's memory, and its utilization and power where NVML reports them."""

    index: int
    name: str
    uuid: str
    total_bytes: int
    used_bytes: int
    process_bytes: int
    utilization: float | None = None  # 0.0 to 1.0 over the driver's last sample period
    power_watts: float | None = None
    power_limit_watts: float | None = None


class GpuSource(Protocol):
    """Where GPU readings come from."""

    def devices(self) -> list[GpuDevice]:
        """Every device now; empty where there is none."""
        ...


class FakeGpus:
    """A GpuSource that returns the devices it was given."""

    def __init__(self, devices: Sequence[GpuDevice] = ()) -> None:
        self._devices = list(devices)

    def devices(self) -> list[GpuDevice]:
        """The given devices."""
        return list(self._devices)


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong)]


class _Utilization(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


class _Process(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("used", ctypes.c_ulonglong),
                ("gpu_instance", ctypes.c_uint), ("compute_instance", ctypes.c_uint)]


def load_nvml() -> Any:
    """The initialised NVML library, or None where there is no NVIDIA driver."""
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    return lib if lib.nvmlInit_v2() == _NVML_SUCCESS else None


class NvmlGpus:
    """A GpuSource that asks the NVIDIA driver through NVML on every call."""

    def __init__(self, load: Callable[[], Any] = load_nvml) -> None:
        self._load = load
        self._lib: Any = None
        self._loaded = False
        self._lock = threading.Lock()

    def _library(self) -> Any:
        with self._lock:
            if not self._loaded:
                self._lib, self._loaded = self._load(), True
            return self._lib

    def devices(self) -> list[GpuDevice]:
        """Every device the driver lists; empty without a driver."""
        lib = self._library()
        if lib is None:
            return []
        count = ctypes.c_uint()
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != _NVML_SUCCESS:
            return []
        found = (_device(lib, index) for index in range(count.value))
        return [d for d in found if d is not None]


def _device(lib: Any, index: int) -> GpuDevice | None:
    handle = ctypes.c_void_p()
    if lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != _NVML_SUCCESS:
        return None
    mem = _Memory()
    if lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem)) != _NVML_SUCCESS:
        return None
    util = _Utilization()
    busy = lib.nvmlDeviceGetUtilizationRates(handle, ctypes.byref(util)) == _NVML_SUCCESS
    power = _milli(lib.nvmlDeviceGetPowerUsage, handle)
    limit = _milli(lib.nvmlDeviceGetPowerManagementLimit, handle)
    name, uuid = _text(lib.nvmlDeviceGetName, handle), _text(lib.nvmlDeviceGetUUID, handle)
    return GpuDevice(index, name, uuid, int(mem.total), int(mem.used), _process_bytes(lib, handle),
                     utilization=util.gpu / 100.0 if busy else None,
                     power_watts=power, power_limit_watts=limit)


def _text(query: Any, handle: Any) -> str:
    buffer = ctypes.create_string_buffer(_NAME_BUFFER)
    if query(handle, buffer, _NAME_BUFFER) != _NVML_SUCCESS:
        return ""
    return buffer.value.decode(errors="replace")


def _milli(query: Any, handle: Any) -> float | None:
    """A milliwatt reading in watts; None where the device does not report it."""
    value = ctypes.c_uint()
    if query(handle, ctypes.byref(value)) != _NVML_SUCCESS:
        return None
    return value.value / 1000.0


def _process_bytes(lib: Any, handle: Any) -> int:
    query = getattr(lib, "nvmlDeviceGetComputeRunningProcesses_v3", None)  # driver R510+
    if query is None:
        return 0
    procs = (_Process * 64)()
    n = ctypes.c_uint(64)
    if query(handle, ctypes.byref(n), procs) != _NVML_SUCCESS:
        return 0
    pid = os.getpid()
    return sum(int(procs[i].used) for i in range(n.value) if procs[i].pid == pid)


NVML = NvmlGpus()


def gpu_memory() -> list[GpuDevice]:
    """Every GPU's readings through NVML; an empty list where there is no NVIDIA driver."""
    return NVML.devices()
