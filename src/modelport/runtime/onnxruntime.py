"""ONNX Runtime backend: graph optimizations, an on-disk cache of optimized models, threads
sized to the machine, CUDA/TensorRT execution providers when onnxruntime-gpu is present."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import ModelLoadError
from modelport.repository.config import ModelConfig
from modelport.runtime.base import Instance, RuntimeSettings
from modelport.runtime.onnxfile import OnnxFiles, onnx_files
from modelport.runtime.ortcache import CacheEntry, cache_entry
from modelport.runtime.orterrors import run_error
from modelport.runtime.ortpool import in_background, shared_pool

log = logging.getLogger("modelport.runtime")


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def _explicit_threads(config: ModelConfig) -> int:
    explicit = config.parameters.get("intra_op_thread_count", "")
    return int(explicit) if explicit.isascii() and explicit.isdigit() and int(explicit) > 0 else 0


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def threads_for(config: ModelConfig, settings: RuntimeSettings) -> int:
    """Intra-op threads of a session with its own pool: the config parameter, the server
    setting, or the cores shared out among the model's instances. (Sessions on the shared pool,
    the default on CPU, use the server setting or all cores, together.)"""
    explicit = _explicit_threads(config)
    if explicit:
        return explicit
    if settings.intra_op_threads > 0:
        return settings.intra_op_threads
    return max(1, _cores() // config.instance_count)


def providers_for(config: ModelConfig, settings: RuntimeSettings) -> list[str]:
    """Execution providers in priority order; CPU always last."""
    wants_gpu = any(g.kind == "KIND_GPU" for g in config.instance_groups)
    available = set(_ort().get_available_providers())
    chosen: list[str] = []
    if wants_gpu:
        trt = config.parameters.get("tensorrt", "").lower() in ("1", "true", "on")
        if trt and "TensorrtExecutionProvider" in available:
            chosen.append("TensorrtExecutionProvider")
        if "CUDAExecutionProvider" in available:
            chosen.append("CUDAExecutionProvider")
        else:
            log.warning(
                "model '%s' asks for a GPU but onnxruntime has no CUDA provider; running on CPU "
                "(pip install 'modelport[gpu]' on a machine with an NVIDIA driver)",
                config.name,
            )
    chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRuntimeInstance:
    """One InferenceSession."""

    def __init__(self, session: Any, config: ModelConfig, graph: Path | None = None) -> None:
        self.session = session
        self.model = config.name
        self.graph = graph  # the file the session was built from, to explain run errors

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """Run one batch. BYTES tensors cross as object arrays of ``str`` both ways (ONNX
        strings are text; the server decodes request bytes once, before queueing)."""
        try:
            results: list[np.ndarray] = self.session.run(list(outputs), dict(inputs))
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidArgument types
            raise run_error(exc, self.model, self.graph, inputs) from None
        return results

    def close(self) -> None:
        """Drop the session so its arena is freed."""
        self.session = None


class OnnxRuntimeBackend:
    """Creates ONNX Runtime sessions, reusing cached optimized graphs across restarts."""

    def load(
        self, path: Path, config: ModelConfig, index: int, settings: RuntimeSettings
    ) -> Instance:
        """Create a session for the model at ``path`` (and the external-data files it names).

        Raises:
            ModelLoadError: a file is missing or onnxruntime cannot load the model; the message
                names the user's files as ``<model>/<version>/<file>``.
        """
        ort = _ort()
        label = f"{config.name}/{path.parent.name}/{path.name}"
        files = onnx_files(path, label)
        providers = providers_for(config, settings)
        pooled = (settings.shared_thread_pool and providers == ["CPUExecutionProvider"]
                  and not _explicit_threads(config)
                  and shared_pool(ort, settings.intra_op_threads or _cores()) > 0)
        entry = self._cache_entry(files, providers, settings)
        if entry is not None and entry.exists():
            try:
                session = self._session(ort, entry.model, config, settings, providers, pooled,
                                        optimized=True)
                log.debug("loaded %s from the optimized-model cache %s", label, entry.folder)
                return OnnxRuntimeInstance(session, config, entry.model)
            except Exception as exc:  # a damaged entry: rebuild it from the user's files
                log.warning("optimized-model cache entry %s is unusable (%s); rebuilding",
                            entry.folder, exc)
                entry.discard()
        try:
            session = self._build(ort, path, config, settings, providers, pooled,
                                  entry if index == 0 else None)
        except Exception as exc:
            detail = str(exc).replace(str(path.parent), str(Path(label).parent))
            raise ModelLoadError(f"{label}: onnxruntime cannot load the model: {detail}") from None
        log.debug("loaded %s with %s", label, providers)
        return OnnxRuntimeInstance(session, config, path)

    @staticmethod
    def _build(ort: Any, path: Path, config: ModelConfig, settings: RuntimeSettings,
               providers: list[str], pooled: bool, entry: CacheEntry | None) -> Any:
        """A session from the user's files, writing its optimized form into ``entry``; a
        cache that cannot be written (read-only, full) costs the cache, not the load."""
        options = _options(ort, config, settings, pooled, optimized=False)
        try:
            writer = entry.writer(options) if entry is not None else None
        except OSError as exc:
            log.warning("the optimized-model cache cannot be written (%s); loading without it",
                        exc)
            writer = None
        try:
            session = _create(ort, path, options, providers, pooled)
        except Exception as exc:
            if writer is None:
                raise
            writer.abandon()
            if str(writer.staging) not in str(exc):
                raise
            log.warning("the optimized-model cache cannot be written (%s); loading without it",
                        str(exc).splitlines()[0][-300:])
            options = _options(ort, config, settings, pooled, optimized=False)
            return _create(ort, path, options, providers, pooled)
        if writer is not None:
            writer.commit()
        return session

    @staticmethod
    def _session(ort: Any, source: Path, config: ModelConfig, settings: RuntimeSettings,
                 providers: list[str], pooled: bool, optimized: bool) -> Any:
        options = _options(ort, config, settings, pooled, optimized)
        return _create(ort, source, options, providers, pooled)

    @staticmethod
    def _cache_entry(files: OnnxFiles, providers: list[str],
                     settings: RuntimeSettings) -> CacheEntry | None:
        if settings.cache_dir is None or providers != ["CPUExecutionProvider"]:
            return None  # GPU providers' optimizations depend on the device; no cache
        return cache_entry(settings.cache_dir, files, _ort().__version__,
                           "cpu-level99-external1024")


def _options(ort: Any, config: ModelConfig, settings: RuntimeSettings, pooled: bool,
             optimized: bool) -> Any:
    """Session options; ``optimized``: the graph was optimized already (from the cache)."""
    options = ort.SessionOptions()
    if pooled:
        options.use_per_session_threads = False
    else:
        options.intra_op_num_threads = threads_for(config, settings)
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if optimized
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return options


def _create(ort: Any, source: Path, options: Any, providers: list[str], pooled: bool) -> Any:
    def create() -> Any:
        return ort.InferenceSession(str(source), sess_options=options, providers=providers)

    return in_background(create) if pooled else create()
