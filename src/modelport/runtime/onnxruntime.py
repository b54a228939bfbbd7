"""ONNX Runtime backend: graph optimizations, an on-disk cache of optimized models, threads
sized to the machine, CUDA/TensorRT execution providers when onnxruntime-gpu is present."""

from __future__ import annotations

import logging
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
from modelport.runtime.ortthreads import SessionThreads, session_threads

log = logging.getLogger("modelport.runtime")


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def threads_for(config: ModelConfig, settings: RuntimeSettings) -> int:
    """Intra-op threads of a session with its own pool (the default): the config parameter,
    the server setting, or the cores shared out among the model's instances. (Sessions on the
    shared, spinning pool, with ``intra_op_spinning``, use the server setting or all cores,
    together.)"""
    return session_threads(config, settings, may_share=False).intra


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
        threads = _threads(ort, config, settings, providers)
        entry = self._cache_entry(files, providers, settings)
        if entry is not None and index == 0 and threads.spawns_threads and not entry.exists():
            _optimize_quietly(ort, path, entry)
        if entry is not None and entry.exists():
            try:
                session = self._session(ort, entry.model, providers, threads, optimized=True)
                log.debug("loaded %s from the optimized-model cache %s", label, entry.folder)
                return OnnxRuntimeInstance(session, config, entry.model)
            except Exception as exc:  # a damaged entry: rebuild it from the user's files
                log.warning("optimized-model cache entry %s is unusable (%s); rebuilding",
                            entry.folder, exc)
                entry.discard()
        try:
            session = self._build(ort, path, providers, threads, entry if index == 0 else None)
        except Exception as exc:
            detail = str(exc).replace(str(path.parent), str(Path(label).parent))
            raise ModelLoadError(f"{label}: onnxruntime cannot load the model: {detail}") from None
        log.debug("loaded %s with %s", label, providers)
        return OnnxRuntimeInstance(session, config, path)

    @staticmethod
    def _build(ort: Any, path: Path, providers: list[str], threads: SessionThreads,
               entry: CacheEntry | None) -> Any:
        """A session from the user's files, writing its optimized form into ``entry``; a
        cache that cannot be written (read-only, full) costs the cache, not the load."""
        options = _options(ort, threads, optimized=False)
        try:
            writer = entry.writer(options) if entry is not None else None
        except OSError as exc:
            log.warning("the optimized-model cache cannot be written (%s); loading without it",
                        exc)
            writer = None
        try:
            session = _create(ort, path, options, providers, threads)
        except Exception as exc:
            if writer is None:
                raise
            writer.abandon()
            if str(writer.staging) not in str(exc):
                raise
            log.warning("the optimized-model cache cannot be written (%s); loading without it",
                        str(exc).splitlines()[0][-300:])
            options = _options(ort, threads, optimized=False)
            return _create(ort, path, options, providers, threads)
        if writer is not None:
            writer.commit()
        return session

    @staticmethod
    def _session(ort: Any, source: Path, providers: list[str], threads: SessionThreads,
                 optimized: bool) -> Any:
        options = _options(ort, threads, optimized)
        return _create(ort, source, options, providers, threads)

    @staticmethod
    def _cache_entry(files: OnnxFiles, providers: list[str],
                     settings: RuntimeSettings) -> CacheEntry | None:
        if settings.cache_dir is None or providers != ["CPUExecutionProvider"]:
            return None  # GPU providers' optimizations depend on the device; no cache
        return cache_entry(settings.cache_dir, files, _ort().__version__,
                           "cpu-level99-external1024")


def _threads(ort: Any, config: ModelConfig, settings: RuntimeSettings,
             providers: list[str]) -> SessionThreads:
    """The session's threads: on the shared pool when it may and the pool exists (it cannot
    when the process had an ONNX Runtime environment before), else its own."""
    may_share = settings.shared_thread_pool and providers == ["CPUExecutionProvider"]
    threads = session_threads(config, settings, may_share)
    if threads.shared and shared_pool(ort, threads.intra) == 0:
        return session_threads(config, settings, may_share=False)
    return threads


def _optimize_quietly(ort: Any, path: Path, entry: CacheEntry) -> None:
    """Write the optimized-model cache entry at background priority, with a session that starts
    no threads (optimizing ResNet-18 costs ~60-180 ms of CPU that live traffic would otherwise
    lose); the serving session, whose pool threads must keep normal priority, then loads the
    entry in milliseconds. A failure here leaves the entry absent; the normal path reports it."""
    options = _options(ort, SessionThreads(1, 1, False, False), optimized=False)
    try:
        writer = entry.writer(options)
    except OSError:  # an unwritable cache: the normal path warns and loads without it
        return
    try:
        in_background(lambda: ort.InferenceSession(str(path), sess_options=options,
                                                   providers=["CPUExecutionProvider"]))
    except Exception:  # the normal path builds it again and words the error
        writer.abandon()
        return
    writer.commit()


def _options(ort: Any, threads: SessionThreads, optimized: bool) -> Any:
    """Session options; ``optimized``: the graph was optimized already (from the cache)."""
    options = ort.SessionOptions()
    if threads.shared:
        options.use_per_session_threads = False
    else:
        options.intra_op_num_threads = threads.intra
        options.inter_op_num_threads = threads.inter
        for key, value in threads.config_entries().items():
            options.add_session_config_entry(key, value)
    options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if threads.parallel
                              else ort.ExecutionMode.ORT_SEQUENTIAL)
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if optimized
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return options


def _create(ort: Any, source: Path, options: Any, providers: list[str],
            threads: SessionThreads) -> Any:
    """Build the session; on CPU at background priority unless it starts pool threads of its
    own (they would inherit the low priority and serve requests with it)."""
    def create() -> Any:
        return ort.InferenceSession(str(source), sess_options=options, providers=providers)

    quiet = providers == ["CPUExecutionProvider"] and not threads.spawns_threads
    return in_background(create) if quiet else create()
