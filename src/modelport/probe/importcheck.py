"""Import one library and print what it reports about CUDA; run as a script in a subprocess.

Usage: ``python importcheck.py MODULE``. The last stdout line starts with ``MODELPORT-JSON:``
followed by one JSON object. Standard library only, so it runs in any environment.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

MARK = "MODELPORT-JSON:"


def _torch(mod: Any) -> dict[str, Any]:
    cudnn = mod.backends.cudnn
    return {
        "cuda_build": mod.version.cuda,
        "cuda_available": bool(mod.cuda.is_available()),
        "device_count": mod.cuda.device_count(),
        "arch_list": list(mod.cuda.get_arch_list()),
        "cudnn": cudnn.version() if cudnn.is_available() else None,
    }


def _tensorflow(mod: Any) -> dict[str, Any]:
    info = dict(mod.sysconfig.get_build_info())
    gpus = mod.config.list_physical_devices("GPU")
    return {
        "cuda_build": info.get("cuda_version"),
        "cudnn": info.get("cudnn_version"),
        "cuda_available": bool(gpus),
        "device_count": len(gpus),
    }


def _jax(mod: Any) -> dict[str, Any]:
    backend = mod.default_backend()
    return {
        "backend": backend,
        "cuda_available": backend == "gpu",
        "device_count": len(mod.devices()),
    }


def _onnxruntime(mod: Any) -> dict[str, Any]:
    providers = list(mod.get_available_providers())
    return {"providers": providers, "cuda_available": "CUDAExecutionProvider" in providers}


def _cupy(mod: Any) -> dict[str, Any]:
    runtime = mod.cuda.runtime
    out: dict[str, Any] = {"cuda_build": runtime.runtimeGetVersion()}
    try:
        count = runtime.getDeviceCount()
    except Exception as exc:  # cupy raises its own CUDARuntimeError without a device
        out["cuda_error"] = f"{type(exc).__name__}: {exc}"
        count = 0
    return {**out, "cuda_available": count > 0, "device_count": count}


def _numba(mod: Any) -> dict[str, Any]:
    cuda = importlib.import_module("numba.cuda")
    return {"cuda_available": bool(cuda.is_available())}


def _paddle(mod: Any) -> dict[str, Any]:
    compiled = bool(mod.device.is_compiled_with_cuda())
    count = mod.device.cuda.device_count() if compiled else 0
    return {"compiled_with_cuda": compiled, "cuda_available": count > 0, "device_count": count}


PROBES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "torch": _torch,
    "tensorflow": _tensorflow,
    "jax": _jax,
    "onnxruntime": _onnxruntime,
    "cupy": _cupy,
    "numba": _numba,
    "paddle": _paddle,
}


def check(name: str) -> dict[str, Any]:
    """Import ``name`` and collect what it says about CUDA; never raises."""
    start = time.perf_counter()
    out: dict[str, Any] = {"module": name}
    try:
        mod = importlib.import_module(name)
        out["version"] = str(getattr(mod, "__version__", "") or "") or None
        probe = PROBES.get(name)
        if probe is not None:
            out.update(probe(mod))
        out["ok"] = True
    except BaseException as exc:  # the point is to report any failure, SystemExit included
        out["ok"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def main(argv: list[str]) -> int:
    """Print the check of ``argv[0]`` on the last line of stdout."""
    result = check(argv[0]) if argv else {"ok": False, "error": "no module named"}
    sys.stdout.write("\n" + MARK + json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
