"""ONNX Runtime backend: graph optimizations, an on-disk cache of optimized models, threads
sized to the machine, CUDA/TensorRT execution providers when onnxruntime-gpu is present."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import BackendError, ModelLoadError
from modelport.repository.config import ModelConfig
from modelport.runtime.base import Instance, RuntimeSettings
from modelport.runtime.ortpool import in_background, shared_pool

log = logging.getLogger("modelport.runtime")


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def file_digest(path: Path) -> str:
    """sha256 of a file, cached by path, size and modification time."""
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=128)
def _digest(path_text: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path_text, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    wants_gpu = (
        any(g.kind == "KIND_GPU" for g in config.instance_groups) or settings.device == "gpu"
    )
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

    def __init__(self, session: Any, config: ModelConfig) -> None:
        self.session = session
        self.string_outputs = {s.name for s in config.outputs if s.datatype == "BYTES"}
        self.string_inputs = {s.name for s in config.inputs if s.datatype == "BYTES"}

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """Run one batch; BYTES tensors cross as UTF-8 text."""
        feed = {
            name: _to_text(arr) if name in self.string_inputs else arr
            for name, arr in inputs.items()
        }
        try:
            results: list[np.ndarray] = self.session.run(list(outputs), feed)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidArgument types
            raise BackendError(f"onnxruntime failed: {exc}") from None
        return [
            _to_bytes(arr) if name in self.string_outputs else arr
            for name, arr in zip(outputs, results, strict=False)
        ]

    def close(self) -> None:
        """Drop the session so its arena is freed."""
        self.session = None


def _to_text(arr: np.ndarray) -> np.ndarray:
    flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.ravel()]
    return np.array(flat, dtype=object).reshape(arr.shape)


def _to_bytes(arr: np.ndarray) -> np.ndarray:
    flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in arr.ravel()]
    return np.array(flat, dtype=object).reshape(arr.shape)


class OnnxRuntimeBackend:
    """Creates ONNX Runtime sessions, reusing cached optimized graphs across restarts."""

    def load(
        self, path: Path, config: ModelConfig, index: int, settings: RuntimeSettings
    ) -> Instance:
        """Create a session for the model at ``path``.

        Raises:
            ModelLoadError: onnxruntime cannot load the file.
        """
        ort = _ort()
        providers = providers_for(config, settings)
        options = ort.SessionOptions()
        pooled = (settings.shared_thread_pool and providers == ["CPUExecutionProvider"]
                  and not _explicit_threads(config)
                  and shared_pool(ort, settings.intra_op_threads or _cores()) > 0)
        if pooled:
            options.use_per_session_threads = False
        else:
            options.intra_op_num_threads = threads_for(config, settings)
            options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        source = path
        cached = self._cache_path(path, providers, settings)
        if cached is not None and cached.exists():
            source = cached
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        else:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if cached is not None and index == 0:
                cached.parent.mkdir(parents=True, exist_ok=True)
                options.optimized_model_filepath = str(cached.with_suffix(f".{os.getpid()}.tmp"))
        def create() -> Any:
            return ort.InferenceSession(str(source), sess_options=options, providers=providers)

        try:
            session = in_background(create) if pooled else create()
        except Exception as exc:
            raise ModelLoadError(f"{path}: onnxruntime cannot load the model: {exc}") from None
        if options.optimized_model_filepath:
            tmp = Path(options.optimized_model_filepath)
            if tmp.exists():
                tmp.replace(cached)  # type: ignore[arg-type]
        log.debug("loaded %s from %s with %s", config.name, source, providers)
        return OnnxRuntimeInstance(session, config)

    @staticmethod
    def _cache_path(path: Path, providers: list[str], settings: RuntimeSettings) -> Path | None:
        if settings.cache_dir is None or providers != ["CPUExecutionProvider"]:
            return None  # GPU providers' optimizations depend on the device; no cache
        key = f"{file_digest(path)[:24]}-ort{_ort().__version__}-cpu"
        return settings.cache_dir / "ort" / f"{key}.onnx"
