"""The model manager with the fake backend: loads, reloads, failures, unloads and its answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from modelport.errors import ModelLoadError, ModelLoading, ModelNotFound, ModelUnavailable
from modelport.repository.layout import Repository
from modelport.runtime import RuntimeSettings
from modelport.serve.manager import ModelManager

FAKE = """
backend: "fake"
version_policy: {policy}
input [{{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }}]
output [{{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }}]
"""
LATEST = "{ latest { num_versions: 1 } }"


def _model(root: Path, name: str, versions: list[int], policy: str = LATEST) -> None:
    for v in versions:
        (root / name / str(v)).mkdir(parents=True, exist_ok=True)
    (root / name / "config.pbtxt").write_text(FAKE.format(policy=policy))


def _run(root: Path, scenario: Callable[[ModelManager], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        manager = ModelManager(Repository(root), RuntimeSettings())
        try:
            return await scenario(manager)
        finally:
            await manager.shutdown()
    return asyncio.run(main())


def test_load_reload_and_rollback(tmp_path: Path) -> None:
    """A new version replaces the old; removing it rolls back to the previous one."""
    _model(tmp_path, "m", [1])

    async def scenario(manager: ModelManager) -> None:
        await manager.load("m")
        assert manager.get("m").version == 1
        _model(tmp_path, "m", [1, 2])
        await manager.load("m")
        assert manager.versions("m") == [2]
        (tmp_path / "m" / "2").rmdir()
        await manager.load("m")
        assert manager.versions("m") == [1]
        (_, stats), = manager.lifecycle()
        assert stats.loads == {"success": 3, "failure": 0}

    _run(tmp_path, scenario)


def test_failed_new_version_keeps_the_old_one_serving(tmp_path: Path) -> None:
    """A version whose config cannot be used fails alone; the serving one stays and the
    index says why."""
    _model(tmp_path, "m", [1])

    async def scenario(manager: ModelManager) -> None:
        await manager.load("m")
        (tmp_path / "m" / "config.pbtxt").write_text(
            FAKE.format(policy=LATEST).replace('"fake"', '"nosuchbackend"'))
        (tmp_path / "m" / "2").mkdir()
        with pytest.raises(ModelLoadError, match="failed to load 'm'"):
            await manager.load("m")
        assert manager.versions("m") == [1] and manager.all_ready()
        rows = {(r.version, r.state) for r in manager.index()}
        assert ("1", "READY") in rows and ("2", "UNAVAILABLE") in rows

    _run(tmp_path, scenario)


def test_answers_tell_unknown_from_unavailable(tmp_path: Path) -> None:
    """Unknown, unloaded and never-loaded models each answer in their own words."""
    _model(tmp_path, "m", [1])
    _model(tmp_path, "other", [1])

    async def scenario(manager: ModelManager) -> None:
        await manager.load("m")
        with pytest.raises(ModelNotFound, match=r"'typo' is not found$"):
            manager.get("typo")
        with pytest.raises(ModelNotFound, match="in the repository but not loaded"):
            manager.get("other")
        await manager.unload("m")
        with pytest.raises(ModelUnavailable, match="it was unloaded"):
            manager.get("m")
        assert manager.all_ready()  # an unloaded model is not waited for

    _run(tmp_path, scenario)


def test_a_model_loading_for_the_first_time_is_not_ready(tmp_path: Path) -> None:
    """While its first load runs, the model answers 'loading' and the server is not ready."""
    _model(tmp_path, "m", [1])
    slow_warmup = ('parameters { key: "delay_ms" value { string_value: "10" } }\n'
                   'model_warmup [{ name: "w" batch_size: 0 count: 40 inputs { key: "x" value '
                   '{ data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } }]')
    (tmp_path / "m" / "config.pbtxt").write_text(FAKE.format(policy=LATEST) + slow_warmup)

    async def scenario(manager: ModelManager) -> None:
        loading = asyncio.ensure_future(manager.load("m"))
        await asyncio.sleep(0.1)
        with pytest.raises(ModelLoading, match="it is loading"):
            manager.get("m")
        assert manager.unready_models() == ["m"]
        await loading
        assert manager.all_ready()

    _run(tmp_path, scenario)


def test_live_walks_every_version_in_order(tmp_path: Path) -> None:
    """live() yields each live version by model name, then version."""
    _model(tmp_path, "b", [1, 2], policy="{ all { } }")
    _model(tmp_path, "a", [3])

    async def scenario(manager: ModelManager) -> list[tuple[str, int]]:
        await manager.load("b")
        await manager.load("a")
        return [(mv.name, mv.version) for mv in manager.live()]

    assert _run(tmp_path, scenario) == [("a", 3), ("b", 1), ("b", 2)]
