"""Ask libcuda and NVML, through ctypes, what the driver says; run as a script in a subprocess.

It is a separate process because a broken driver can hang or crash the caller; the parent gives it
a timeout and reads one JSON object from stdout. It imports nothing but the standard library.
"""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any

CU_DEVICE_ATTRIBUTE_CC_MAJOR = 75
CU_DEVICE_ATTRIBUTE_CC_MINOR = 76


def query_libcuda(name: str = "libcuda.so.1") -> dict[str, Any]:
    """cuDriverGetVersion, cuInit(0) and the devices' names and compute capabilities."""
    try:
        cuda = ctypes.CDLL(name)
    except OSError as exc:
        return {"loaded": False, "error": str(exc)}
    out: dict[str, Any] = {"loaded": True}
    version = ctypes.c_int(0)
    out["get_version_status"] = cuda.cuDriverGetVersion(ctypes.byref(version))
    out["version"] = version.value
    out["init"] = cuda.cuInit(0)
    devices = []
    count = ctypes.c_int(0)
    if out["init"] == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0:
        for index in range(count.value):
            device, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
            name_buf = ctypes.create_string_buffer(256)
            cuda.cuDeviceGet(ctypes.byref(device), index)
            cuda.cuDeviceGetName(name_buf, 256, device)
            cuda.cuDeviceGetAttribute(ctypes.byref(major), CU_DEVICE_ATTRIBUTE_CC_MAJOR, device)
            cuda.cuDeviceGetAttribute(ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_CC_MINOR, device)
            devices.append(
                {"name": name_buf.value.decode(errors="replace"), "cc": [major.value, minor.value]}
            )
    out["devices"] = devices
    return out


def query_nvml(name: str = "libnvidia-ml.so.1") -> dict[str, Any]:
    """NVML's driver version, CUDA driver version and per-device compute capability."""
    try:
        nvml = ctypes.CDLL(name)
    except OSError as exc:
        return {"loaded": False, "error": str(exc)}
    out: dict[str, Any] = {"loaded": True, "init": nvml.nvmlInit_v2()}
    if out["init"] != 0:
        return out
    text = ctypes.create_string_buffer(96)
    if nvml.nvmlSystemGetDriverVersion(text, 96) == 0:
        out["driver"] = text.value.decode(errors="replace")
    cuda = ctypes.c_int(0)
    if nvml.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(cuda)) == 0:
        out["cuda"] = cuda.value
    count = ctypes.c_uint(0)
    devices = []
    if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0:
        for index in range(count.value):
            handle = ctypes.c_void_p()
            if nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0:
                continue
            name_buf = ctypes.create_string_buffer(96)
            nvml.nvmlDeviceGetName(handle, name_buf, 96)
            major, minor = ctypes.c_int(0), ctypes.c_int(0)
            nvml.nvmlDeviceGetCudaComputeCapability(
                handle, ctypes.byref(major), ctypes.byref(minor)
            )
            devices.append(
                {"name": name_buf.value.decode(errors="replace"), "cc": [major.value, minor.value]}
            )
    out["devices"] = devices
    nvml.nvmlShutdown()
    return out


def main(argv: list[str]) -> int:
    """Print one JSON object with what libcuda and NVML report (argv: [libcuda, libnvml])."""
    libcuda = argv[0] if argv else "libcuda.so.1"
    libnvml = argv[1] if len(argv) > 1 else "libnvidia-ml.so.1"
    print(json.dumps({"libcuda": query_libcuda(libcuda), "nvml": query_nvml(libnvml)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
