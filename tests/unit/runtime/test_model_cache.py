"""External-data ONNX models and the optimized-model cache, with real ONNX Runtime sessions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelport.errors import ModelLoadError
from modelport.repository.config import ModelConfig, TensorSpec
from modelport.runtime import RuntimeSettings
from modelport.runtime.onnxfile import onnx_files
from modelport.runtime.onnxruntime import OnnxRuntimeBackend

CONFIG = ModelConfig(name="lin", max_batch_size=4, inputs=(TensorSpec("x", "FP32", (8,)),),
                     outputs=(TensorSpec("y", "FP32", (64,)),))


def _linear(folder: Path, seed: int, external: bool = True) -> Path:
    """y = x @ W with W [8, 64] from ``seed``; W in model.onnx.data when ``external``."""
    w = np.random.default_rng(seed).standard_normal((8, 64)).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "lin", [x], [y],
                              initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx.data").unlink(missing_ok=True)  # onnx.save appends to it otherwise
    path = folder / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=external, location="model.onnx.data",
              size_threshold=0)
    return path


def _run(path: Path, cache: Path | None) -> np.ndarray:
    instance = OnnxRuntimeBackend().load(path, CONFIG, 0, RuntimeSettings(cache_dir=cache))
    x = np.arange(16, dtype=np.float32).reshape(2, 8)
    (y,) = instance.run({"x": x}, ["y"])
    instance.close()
    return y


def _expected(seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal((8, 64)).astype(np.float32)
    return np.arange(16, dtype=np.float32).reshape(2, 8) @ w


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "ort").iterdir() if p.is_dir())


def test_external_files_are_listed(tmp_path: Path) -> None:
    """The weights file an external-data model names is part of the model."""
    path = _linear(tmp_path / "lin" / "1", seed=0)
    assert onnx_files(path).external == ("model.onnx.data",)
    assert onnx_files(_linear(tmp_path / "inline" / "1", 0, external=False)).external == ()


def test_missing_weights_name_the_users_file(tmp_path: Path) -> None:
    """A missing model.onnx.data is named as the user laid it out, not by a cache path."""
    path = _linear(tmp_path / "lin" / "1", seed=0)
    (path.parent / "model.onnx.data").unlink()
    with pytest.raises(ModelLoadError) as exc:
        OnnxRuntimeBackend().load(path, CONFIG, 0, RuntimeSettings(cache_dir=tmp_path / "c"))
    assert str(exc.value).startswith("lin/1/model.onnx.data is missing: lin/1/model.onnx keeps")
    assert str(tmp_path) not in str(exc.value)


def test_cached_entry_serves_after_a_restart_and_a_copy(tmp_path: Path) -> None:
    """The first load writes a self-contained entry; a later load of the same files (also a
    copy elsewhere) reads it and computes the same outputs."""
    cache = tmp_path / "cache"
    path = _linear(tmp_path / "repo" / "lin" / "1", seed=0)
    first = _run(path, cache)
    (entry,) = _entries(cache)
    assert sorted(p.name for p in entry.iterdir()) == ["model.onnx", "model.onnx.data"]
    np.testing.assert_allclose(first, _expected(0), rtol=1e-5)
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "repo", copy)
    np.testing.assert_allclose(_run(copy / "lin" / "1" / "model.onnx", cache), first, rtol=1e-6)
    assert _entries(cache) == [entry]


def test_new_weights_with_the_same_graph_miss_the_cache(tmp_path: Path) -> None:
    """A retrain that changes only model.onnx.data gets a new entry and the new outputs."""
    cache = tmp_path / "cache"
    path = _linear(tmp_path / "lin" / "1", seed=0)
    _run(path, cache)
    graph_bytes = path.read_bytes()
    _linear(tmp_path / "lin" / "1", seed=1)
    assert path.read_bytes() == graph_bytes  # only the weights file differs
    np.testing.assert_allclose(_run(path, cache), _expected(1), rtol=1e-5)
    assert len(_entries(cache)) == 2


def test_damaged_entry_is_rebuilt(tmp_path: Path) -> None:
    """A cache entry whose files were damaged is discarded and rebuilt from the user's files."""
    cache = tmp_path / "cache"
    path = _linear(tmp_path / "lin" / "1", seed=0)
    _run(path, cache)
    (entry,) = _entries(cache)
    (entry / "model.onnx.data").write_bytes(b"")
    np.testing.assert_allclose(_run(path, cache), _expected(0), rtol=1e-5)
    assert (entry / "model.onnx.data").stat().st_size == 8 * 64 * 4


def test_cache_off_writes_nothing(tmp_path: Path) -> None:
    """With no cache folder, sessions are built from the user's files only."""
    path = _linear(tmp_path / "lin" / "1", seed=0)
    np.testing.assert_allclose(_run(path, None), _expected(0), rtol=1e-5)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "model.onnx", "model.onnx.data"]


def test_unwritable_cache_costs_the_cache_not_the_load(tmp_path: Path) -> None:
    """A cache path under a regular file (no write can succeed, even as root): the model
    loads from the user's files."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = _linear(tmp_path / "lin" / "1", seed=0)
    np.testing.assert_allclose(_run(path, blocker / "cache"), _expected(0), rtol=1e-5)


def test_private_folders_of_dead_writers_are_removed(tmp_path: Path) -> None:
    """A writer killed mid-entry leaves <key>.<pid>.tmp; the next write of that entry removes
    it when the pid is gone, and keeps a live process's."""
    import subprocess
    import sys

    cache = tmp_path / "cache"
    path = _linear(tmp_path / "lin" / "1", seed=0)
    _run(path, cache)
    (entry,) = _entries(cache)
    shutil.rmtree(entry)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = entry.with_name(f"{entry.name}.{dead}.tmp")
    live = entry.with_name(f"{entry.name}.1.tmp")  # pid 1 is always running
    for folder in (orphan, live):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    np.testing.assert_allclose(_run(path, cache), _expected(0), rtol=1e-5)
    assert not orphan.exists() and live.exists() and entry.is_dir()
