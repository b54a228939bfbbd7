"""modelport bench: one model on many runtimes, MLPerf scenarios, and load against OIP servers.

    from modelport.bench import Bench, BenchConfig, RuntimeChoice

    result = Bench(BenchConfig("resnet18", runtimes=(RuntimeChoice("onnxruntime"),))).run()

Names are imported on first use, so ``import modelport.bench`` stays as light as the CLI needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelport.bench.config import BenchConfig, RuntimeChoice, ScenarioConfig
    from modelport.bench.remote.config import RemoteConfig
    from modelport.bench.remote.driver import run_remote_bench
    from modelport.bench.results import BenchResult
    from modelport.bench.runner import Bench

_EXPORTS = {
    "Bench": "modelport.bench.runner",
    "BenchConfig": "modelport.bench.config",
    "BenchResult": "modelport.bench.results",
    "RemoteConfig": "modelport.bench.remote.config",
    "RuntimeChoice": "modelport.bench.config",
    "ScenarioConfig": "modelport.bench.config",
    "run_remote_bench": "modelport.bench.remote.driver",
}

__all__ = [
    "Bench",
    "BenchConfig",
    "BenchResult",
    "RemoteConfig",
    "RuntimeChoice",
    "ScenarioConfig",
    "run_remote_bench",
]


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first access."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'modelport.bench' has no attribute {name!r}")
