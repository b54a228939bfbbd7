"""``--import`` mode: import each library in a subprocess; compare its answers with the probe's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelport.probe import importcheck


@dataclass(frozen=True)
class RuntimeView:
    """What a library reported when imported, and where that contradicts the static view."""

    module: str
    ok: bool
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    disagreements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "module": self.module,
            "ok": self.ok,
            "seconds": self.seconds,
            "data": self.data,
            "error": self.error,
            "disagreements": list(self.disagreements),
        }


def import_one(
    module: str, timeout: float, paths: Sequence[str] = (), python: str = ""
) -> RuntimeView:
    """Import ``module`` in a fresh interpreter, killed after ``timeout`` seconds.

    Args:
        module: the import name (``torch``).
        timeout: seconds before the subprocess is killed.
        paths: folders put in front of PYTHONPATH (the probe's ``--path`` folders).
        python: the interpreter to import with (the one owning ``paths``); this one if empty.

    Returns:
        The view; a crash, hang or import error becomes ``ok=False`` with ``error`` set.
    """
    cmd = [python or sys.executable, importcheck.__file__, module]
    env = dict(os.environ)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return RuntimeView(module, False, timeout, error=f"import took longer than {timeout:g} s")
    except OSError as exc:
        return RuntimeView(module, False, 0.0, error=f"cannot start {cmd[0]}: {exc}")
    seconds = round(time.perf_counter() - start, 3)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(importcheck.MARK)]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        why = " | ".join(tail) or f"exit status {done.returncode}"
        return RuntimeView(module, False, seconds, error=f"interpreter died: {why}")
    data: dict[str, Any] = json.loads(lines[-1][len(importcheck.MARK) :])
    error = data.pop("error", None)
    ok = bool(data.pop("ok", False))
    return RuntimeView(module, ok, seconds, data, error)


def import_all(
    modules: Sequence[str],
    timeout: float,
    paths: Sequence[str] = (),
    workers: int = 4,
    python: str = "",
) -> dict[str, RuntimeView]:
    """Import several modules in parallel subprocesses (of ``python``, else this one)."""
    if not modules:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(modules)))) as pool:
        views = list(pool.map(lambda m: import_one(m, timeout, paths, python), modules))
    return dict(zip(modules, views, strict=True))


def compare(
    view: RuntimeView,
    static_status: str,
    static_cuda: str | None,
    static_sass: Sequence[str],
) -> RuntimeView:
    """Return ``view`` with the disagreements between it and the static verdict filled in."""
    notes: list[str] = []
    usable = static_status in ("ok", "ok via PTX JIT")
    if not view.ok and static_status != "fail":
        notes.append(f"the import failed ({view.error}) but the static verdict is {static_status}")
    available = view.data.get("cuda_available")
    if available is False and usable:
        notes.append("the static verdict is usable but the library reports no usable CUDA device")
    if available is True and static_status == "fail":
        providers = view.data.get("providers")
        extra = " (ONNX Runtime lists providers it was built with, not ones that load)"
        notes.append(
            "the library reports CUDA available but the static verdict is fail"
            + (extra if providers else "")
        )
    built = view.data.get("cuda_build")
    if isinstance(built, int):  # cupy's runtimeGetVersion: 1000*major + 10*minor
        built = f"{built // 1000}.{built % 1000 // 10}"
    if built and static_cuda and not str(built).startswith(static_cuda):
        notes.append(f"run-time CUDA build {built} differs from the static {static_cuda}")
    arch_list = [a for a in view.data.get("arch_list") or [] if str(a).startswith("sm_")]
    if arch_list and static_sass and sorted(arch_list) != sorted(static_sass):
        notes.append(
            f"arch list {sorted(arch_list)} differs from the SASS found {sorted(static_sass)}"
        )
    return RuntimeView(view.module, view.ok, view.seconds, view.data, view.error, tuple(notes))
