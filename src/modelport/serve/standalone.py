"""Run a repository model in-process through the server's own model manager, no sockets.

``modelport run`` uses it for ensembles: their steps are other repository models, each loaded,
batched and run exactly as ``modelport serve`` would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from modelport.repository.layout import Repository
from modelport.runtime import RuntimeSettings
from modelport.serve.manager import ModelManager
from modelport.serve.types import InferRequest, InputTensor
from modelport.serve.validate import check


def run_in_manager(repository: Path, name: str, feed: dict[str, np.ndarray], repeat: int,
                   ) -> tuple[dict[str, np.ndarray], float, list[float]]:
    """Load ``name`` (and what it needs), run ``feed`` ``repeat`` times.

    Returns:
        The last outputs by name, the load time and each run's latency, in seconds.

    Raises:
        ModelportError: the model cannot load or the request does not fit it.
    """
    return asyncio.run(_run(repository, name, feed, max(repeat, 1)))


async def _run(repository: Path, name: str, feed: dict[str, np.ndarray], repeat: int,
               ) -> tuple[dict[str, np.ndarray], float, list[float]]:
    manager = ModelManager(Repository(repository), RuntimeSettings(), histograms=False)
    started = time.perf_counter()
    try:
        await manager.load(name)
        load_s = time.perf_counter() - started
        model = manager.get(name)
        request = InferRequest(name, inputs=[
            InputTensor(n, spec.datatype, list(feed[n].shape), feed[n])
            for n, spec in ((s.name, s) for s in model.config.inputs) if n in feed])
        checked = check(model.config, request)
        latencies: list[float] = []
        arrays: list[np.ndarray] = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            arrays = await model.scheduler.submit(checked)
            latencies.append(time.perf_counter() - t0)
        return dict(zip(checked.outputs, arrays, strict=True)), load_s, latencies
    finally:
        await manager.shutdown()
