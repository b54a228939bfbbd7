"""`modelport serve` with ONNX Runtime's intra-op workers told not to spin: a what-if variant.

Benchmark-only: modelport's server shares one process-wide ONNX Runtime pool whose workers spin
(busy-wait) after each parallel section, and ONNX Runtime's Python API cannot turn spinning off
for that global pool. This launcher gives each session its own pool instead
(`shared_pool` answers 0, the path modelport already takes when a process has an ONNX Runtime
environment) and sets `session.intra_op.allow_spinning=0` on every session, then runs the normal
command line. It measures what a server-side fix would gain; it is not how modelport runs.

Run: python benchmarks/_nospin_serve.py serve REPO [serve flags]
"""

from __future__ import annotations

import sys
from typing import Any

import modelport.runtime.onnxruntime as runtime
from modelport.cli import main

_options = runtime._options


def _no_spin(ort: Any, *args: Any, **kwargs: Any) -> Any:
    options = _options(ort, *args, **kwargs)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


runtime.shared_pool = lambda ort, threads: 0
runtime._options = _no_spin

if __name__ == "__main__":
    sys.exit(main())
