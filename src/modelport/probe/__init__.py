"""modelport probe: which deep-learning libraries work with this machine's CUDA stack, and why not.

    from modelport.probe import ProbeConfig, probe
    report = probe(ProbeConfig(gpu="12.0", driver="550.54"))

Names are imported lazily so that ``modelport --help`` does not load the probe.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ProbeConfig", "ProbeReport", "Prober", "probe"]

_HOMES = {
    "ProbeConfig": "modelport.probe.prober",
    "Prober": "modelport.probe.prober",
    "probe": "modelport.probe.prober",
    "ProbeReport": "modelport.probe.report",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'modelport.probe' has no attribute {name!r}")
