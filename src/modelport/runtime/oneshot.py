"""One inference outside the server: resolve the model, make or read inputs, run, summarize."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.datatypes import BY_NAME
from modelport.errors import InvalidInput, ModelNotFound, ModelportError
from modelport.repository import autocomplete, pbtxt
from modelport.repository.config import ModelConfig
from modelport.repository.layout import Repository
from modelport.repository.resolve import resolve
from modelport.runtime import RuntimeSettings, get_backend


@dataclass
class OneShot:
    """What ``modelport run`` measured and computed."""

    config: ModelConfig
    model_file: Path
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    load_s: float
    latencies_s: list[float] = field(default_factory=list)


def input_symbols(model_file: Path) -> dict[str, tuple[str, ...]]:
    """Each graph input's symbolic dim names ({} when the file cannot be read as ONNX)."""
    try:
        inputs, _ = autocomplete.read_signature(model_file)
    except ModelportError:
        return {}
    return {t.name: t.symbols for t in inputs}


def locate(model: str, repository: Path | None) -> tuple[ModelConfig, Path]:
    """An .onnx path, or a model name in ``repository`` (default: the demo repository)."""
    path = Path(model)
    if path.suffix == ".onnx" and path.is_file():
        msg = autocomplete.complete(pbtxt.Message(), _safe_name(path.stem), path)
        return pbtxt.to_view(msg), path
    if path.suffix == ".onnx":
        raise ModelNotFound(f"model file {path} does not exist")
    if repository is None:
        from modelport.repository.demo import ensure_demo_repository

        repository = ensure_demo_repository()
    resolved = resolve(Repository(repository), model)
    version = max(resolved.versions)
    file = resolved.source.versions[version] / resolved.config.default_model_filename
    return resolved.config, file


def _safe_name(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in stem) or "model"


def make_inputs(
    config: ModelConfig,
    given: dict[str, np.ndarray],
    batch: int,
    dims: dict[str, list[int]],
    seed: int = 0,
    symbols: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Inputs from .npy files where given, else seeded random data of the right type.

    A generated input takes the size of each variable dimension from a given input that shares
    its symbolic name in the graph (``symbols``: input name -> each dim's name, batch dim
    included), so an ``attention_mask`` follows the sequence length of a given ``input_ids``.
    """
    rng = np.random.default_rng(seed)
    unknown = set(given) - {s.name for s in config.inputs}
    if unknown:
        raise InvalidInput(
            f"no input named {sorted(unknown)}; inputs are {[s.name for s in config.inputs]}"
        )
    known = _known_sizes(given, symbols or {})
    feed: dict[str, np.ndarray] = {}
    for spec in config.inputs:
        if spec.name in given:
            feed[spec.name] = _as(spec.datatype, given[spec.name])
            continue
        names = (symbols or {}).get(spec.name, ())
        full_dims = [-1, *spec.dims] if config.batching else list(spec.dims)
        full = [_size(d, names[i] if i < len(names) else "", known, default)
                for i, (d, default) in enumerate(zip(full_dims, _defaults(config, batch, spec.dims),
                                                     strict=True))]
        if spec.name in dims:
            full = [*full[:1], *dims[spec.name]] if config.batching else list(dims[spec.name])
        feed[spec.name] = _random(spec.datatype, full, rng)
    return feed


def _as(datatype: str, arr: np.ndarray) -> np.ndarray:
    """A given array as the model's datatype (BYTES as text, what runtimes take)."""
    if datatype != "BYTES":
        return arr.astype(BY_NAME[datatype].numpy, copy=False)
    flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.ravel()]
    return np.array(flat, dtype=object).reshape(arr.shape)


def _defaults(config: ModelConfig, batch: int, dims: tuple[int, ...]) -> list[int]:
    fixed = [8 if d == -1 else d for d in dims]
    return [batch, *fixed] if config.batching else fixed


def _known_sizes(given: dict[str, np.ndarray], symbols: dict[str, tuple[str, ...]],
                 ) -> dict[str, int]:
    """Symbolic dim name -> its size in the given arrays."""
    known: dict[str, int] = {}
    for name, arr in given.items():
        for label, size in zip(symbols.get(name, ()), arr.shape, strict=False):
            if label:
                known.setdefault(label, int(size))
    return known


def _size(dim: int, label: str, known: dict[str, int], default: int) -> int:
    if dim != -1:
        return dim
    return known.get(label, default) if label else default


def _random(datatype: str, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    dtype = BY_NAME[datatype].numpy
    if datatype == "BYTES":
        return np.array(
            [f"sample text {i}" for i in range(int(np.prod(shape)))], dtype=object
        ).reshape(shape)
    if datatype == "BOOL":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        return rng.integers(0, 100, size=shape).astype(dtype)  # valid token ids, class ids...
    return rng.standard_normal(shape).astype(dtype)


def run_once(
    config: ModelConfig, model_file: Path, feed: dict[str, np.ndarray], repeat: int = 1
) -> OneShot:
    """Load the model with the server's runtime, run ``repeat`` times, keep the last outputs.

    An ensemble (``model_file`` is then where its version folder would hold a file) runs
    in-process through the server's model manager, which loads its steps' models too.
    """
    if config.is_ensemble:
        from modelport.serve.standalone import run_in_manager

        outputs, loaded_s, timings = run_in_manager(model_file.parents[2], config.name, feed,
                                                    repeat)
        return OneShot(config, model_file.parent, feed, outputs, loaded_s, timings)
    started = time.perf_counter()
    instance = get_backend(config.backend).load(model_file, config, 0, RuntimeSettings())
    load_s = time.perf_counter() - started
    names = [s.name for s in config.outputs]
    latencies: list[float] = []
    results: list[Any] = []
    try:
        for _ in range(max(repeat, 1)):
            t0 = time.perf_counter()
            results = instance.run(feed, names)
            latencies.append(time.perf_counter() - t0)
    finally:
        instance.close()
    return OneShot(
        config, model_file, feed, dict(zip(names, results, strict=False)), load_s, latencies
    )


def top_k(arr: np.ndarray, k: int) -> list[list[tuple[int, float]]] | None:
    """Top-k (index, score) per row for classifier-like outputs ([N, C] floats, C >= 2)."""
    if arr.ndim != 2 or arr.dtype.kind != "f" or arr.shape[1] < 2 or k <= 0:
        return None
    idx = np.argsort(-arr, axis=1)[:, :k]
    return [[(int(i), float(row[i])) for i in order] for row, order in zip(arr, idx, strict=False)]
