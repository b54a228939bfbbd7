"""ONNX Runtime's process-wide thread pool, and session creation at background priority.

Sessions share one intra-op pool created once, at normal priority. That lets a new version's
session be built in a short-lived thread at the lowest CPU priority: building a ResNet-18
session costs ~60 ms of CPU, and at normal priority that CPU comes straight out of the requests
being served while it loads. Threads that serve requests are never re-prioritised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("modelport.runtime")
T = TypeVar("T")

_lock = threading.Lock()
_pool_size: int | None = None  # 0: the pool could not be made; sessions use their own threads


def shared_pool(ort: Any, threads: int) -> int:
    """Create the shared intra-op pool of ``threads`` threads once; returns its size (0 when the
    process already had an ONNX Runtime environment, so sessions must bring their own)."""
    global _pool_size
    with _lock:
        if _pool_size is None:
            _pool_size = _create_pool(ort, threads)
        return _pool_size


def _create_pool(ort: Any, threads: int) -> int:
    from onnx import TensorProto, helper

    try:
        ort.capi._pybind_state.set_global_thread_pool_sizes(threads, 1)
    except Exception as exc:  # the environment exists already (another session came first)
        log.debug("shared ONNX Runtime pool unavailable: %s", exc)
        return 0
    # A tiny session creates the environment, and with it the pool, on this thread now.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "pool", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.use_per_session_threads = False
    ort.InferenceSession(model.SerializeToString(), sess_options=options,
                         providers=["CPUExecutionProvider"])
    return threads


def in_background(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread at the lowest CPU priority and return its result.

    Only for work that creates no long-lived threads of its own (sessions on the shared pool).
    """
    result: dict[str, Any] = {}

    def body() -> None:
        # Not Linux, or not allowed: build at normal priority.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            result["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            result["error"] = exc

    worker = threading.Thread(target=body, name="modelport-load", daemon=True)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    value: T = result["value"]
    return value
