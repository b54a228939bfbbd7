"""Triton's nv_gpu_* and nv_cpu_* families: names, types, units and labels, from fake sources."""

from __future__ import annotations

import ctypes
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelport.serve.gpu import FakeGpus, GpuDevice, NvmlGpus
from modelport.serve.host import CpuTimes, CpuUtilization, HostMemory
from modelport.serve.metrics import render_machine

H200 = GpuDevice(index=0, name="NVIDIA H200", uuid="GPU-5f1c0a2e-0000-4c1e-9a0d-1234567890ab",
                 total_bytes=150_754_820_096, used_bytes=1_048_576_000, process_bytes=524_288_000,
                 utilization=0.37, power_watts=118.25, power_limit_watts=700.0)
# A board whose driver reports neither power nor utilization (NVML_ERROR_NOT_SUPPORTED).
QUIET = GpuDevice(index=1, name="Tesla T4", uuid="GPU-aaaa", total_bytes=16 << 30,
                  used_bytes=1 << 20, process_bytes=0)


def _cpu(busy: int = 25, idle: int = 75) -> CpuUtilization:
    readings = [CpuTimes(0, 0), CpuTimes(busy, idle)]
    return CpuUtilization(lambda: readings.pop(0), min_window_s=0.0)


def _families(text: bytes) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def _samples(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_gpu_families_carry_triton_names_units_and_gpu_uuid() -> None:
    """Utilization as a 0..1 ratio, memory in bytes, power in watts, labelled gpu_uuid alone."""
    text = render_machine(FakeGpus([H200]), _cpu(), lambda: HostMemory(8 << 30, 3 << 30))
    fams = _families(text)
    label = (("gpu_uuid", H200.uuid),)
    expected = {"nv_gpu_utilization": 0.37, "nv_gpu_memory_total_bytes": 150_754_820_096,
                "nv_gpu_memory_used_bytes": 1_048_576_000, "nv_gpu_power_usage": 118.25,
                "nv_gpu_power_limit": 700.0}
    for name, value in expected.items():
        assert fams[name].type == "gauge", name
        assert _samples(fams[name]) == {label: value}, name


def test_readings_a_board_lacks_are_left_out_not_zeroed() -> None:
    """Without power or utilization from NVML, those series are absent; memory is still there."""
    fams = _families(render_machine(FakeGpus([H200, QUIET]), _cpu(), lambda: None))
    assert set(_samples(fams["nv_gpu_power_usage"])) == {(("gpu_uuid", H200.uuid),)}
    assert set(_samples(fams["nv_gpu_utilization"])) == {(("gpu_uuid", H200.uuid),)}
    assert _samples(fams["nv_gpu_memory_total_bytes"])[(("gpu_uuid", "GPU-aaaa"),)] == 16 << 30
    fams = _families(render_machine(FakeGpus([QUIET]), _cpu(), lambda: None))
    assert "nv_gpu_power_usage" not in fams and "nv_gpu_utilization" not in fams


def test_modelport_gpu_extras_are_kept() -> None:
    """modelport_gpu_* (by index and name, with this process's share) stay beside nv_gpu_*."""
    fams = _families(render_machine(FakeGpus([H200]), _cpu(), lambda: None))
    labels = (("gpu", "0"), ("name", "NVIDIA H200"))
    assert _samples(fams["modelport_gpu_process_memory_bytes"]) == {labels: 524_288_000}
    assert _samples(fams["modelport_gpu_memory_used_bytes"]) == {labels: 1_048_576_000}
    assert _samples(fams["modelport_gpu_memory_total_bytes"]) == {labels: 150_754_820_096}


def test_no_gpu_means_no_gpu_family_and_cpu_families_unlabelled() -> None:
    """Without devices no nv_gpu_* family is announced; nv_cpu_* are unlabelled gauges."""
    text = render_machine(FakeGpus(), _cpu(25, 75), lambda: HostMemory(8 << 30, 3 << 30))
    fams = _families(text)
    assert not [n for n in fams if "gpu" in n]
    assert {n: (f.type, _samples(f)) for n, f in fams.items()} == {
        "nv_cpu_utilization": ("gauge", {(): 0.25}),
        "nv_cpu_memory_total_bytes": ("gauge", {(): 8 << 30}),
        "nv_cpu_memory_used_bytes": ("gauge", {(): 3 << 30}),
    }


def test_label_values_are_escaped() -> None:
    """A quote or backslash in a device name cannot break the exposition."""
    odd = GpuDevice(0, 'GPU "x"\\y', "GPU-1", 10, 5, 0)
    fams = _families(render_machine(FakeGpus([odd]), _cpu(), lambda: None))
    assert _samples(fams["modelport_gpu_memory_total_bytes"]) == {
        (("gpu", "0"), ("name", 'GPU "x"\\y')): 10}


def test_nvml_source_without_a_driver_lists_nothing() -> None:
    """Where libnvidia-ml cannot be loaded the source is empty, once, without raising."""
    loads: list[int] = []
    source = NvmlGpus(load=lambda: loads.append(1))
    assert source.devices() == [] and source.devices() == [] and loads == [1]


class FakeNvml:
    """Just enough of libnvidia-ml's C API, called through ctypes the way the driver is."""

    NOT_SUPPORTED = 3

    def __init__(self, power_mw: int | None) -> None:
        self.power_mw = power_mw

    @staticmethod
    def _set(ref: Any, value: int) -> int:
        ref._obj.value = value
        return 0

    def nvmlDeviceGetCount_v2(self, count: Any) -> int:
        return self._set(count, 1)

    def nvmlDeviceGetHandleByIndex_v2(self, index: int, handle: Any) -> int:
        return self._set(handle, 0x1000 + index)

    def nvmlDeviceGetMemoryInfo(self, handle: Any, mem: Any) -> int:
        mem._obj.total, mem._obj.used, mem._obj.free = 80 << 30, 3 << 30, 77 << 30
        return 0

    def nvmlDeviceGetUtilizationRates(self, handle: Any, util: Any) -> int:
        util._obj.gpu, util._obj.memory = 42, 7
        return 0

    def nvmlDeviceGetPowerUsage(self, handle: Any, value: Any) -> int:
        return self.NOT_SUPPORTED if self.power_mw is None else self._set(value, self.power_mw)

    def nvmlDeviceGetPowerManagementLimit(self, handle: Any, value: Any) -> int:
        return self._set(value, 400_000)

    def nvmlDeviceGetName(self, handle: Any, buffer: Any, size: int) -> int:
        ctypes.memmove(buffer, b"NVIDIA A100 80GB\0", 17)
        return 0

    def nvmlDeviceGetUUID(self, handle: Any, buffer: Any, size: int) -> int:
        ctypes.memmove(buffer, b"GPU-1234\0", 9)
        return 0


@pytest.mark.parametrize("power_mw", [250_500, None])
def test_nvml_readings_are_converted_to_triton_units(power_mw: int | None) -> None:
    """Percent becomes a ratio, milliwatts watts; an unsupported reading becomes None."""
    (device,) = NvmlGpus(load=lambda: FakeNvml(power_mw)).devices()
    assert device == GpuDevice(
        index=0, name="NVIDIA A100 80GB", uuid="GPU-1234", total_bytes=80 << 30,
        used_bytes=3 << 30, process_bytes=0, utilization=0.42,
        power_watts=None if power_mw is None else 250.5, power_limit_watts=400.0)
