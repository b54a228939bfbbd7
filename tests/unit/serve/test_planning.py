"""Planning a load: which versions to build and which to drop, without building anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.backends import BUILTINS
from modelport.errors import ModelNotFound, PlanFailed
from modelport.repository import pbtxt
from modelport.repository.layout import Repository
from modelport.serve.planning import LiveIdentity, plan_load

FAKE = """
backend: "fake"
input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]
"""


def _repo(root: Path, versions: list[int], config: str = FAKE) -> Repository:
    for v in versions:
        (root / "m" / str(v)).mkdir(parents=True, exist_ok=True)
        (root / "m" / str(v) / "weights.txt").write_text(f"version {v}")
    (root / "m" / "config.pbtxt").write_text(config)
    return Repository(root)


def _live(repo: Repository, versions: list[int]) -> dict[int, LiveIdentity]:
    """What the live table would hold had ``versions`` loaded from the repository as it is."""
    plan = plan_load(repo, "m", None, {}, BUILTINS)
    return {v: LiveIdentity(plan.fingerprints.get(v) or repo.source("m").fingerprint(v),
                            plan.config.message) for v in versions}


def test_first_load_builds_the_newest_version(tmp_path: Path) -> None:
    """Nothing live: the policy's versions (latest: the newest) are built."""
    plan = plan_load(_repo(tmp_path, [1, 2]), "m", None, {}, BUILTINS)
    assert (plan.selected, plan.build) == ((2,), (2,))


def test_unchanged_live_version_is_kept(tmp_path: Path) -> None:
    """Same files and config as live: nothing to build."""
    repo = _repo(tmp_path, [1, 2])
    plan = plan_load(repo, "m", None, _live(repo, [2]), BUILTINS)
    assert plan.build == ()


def test_changed_files_rebuild_and_a_new_version_drops_the_old(tmp_path: Path) -> None:
    """A changed weights file rebuilds its version; a new version makes the old one stale."""
    repo = _repo(tmp_path, [1])
    live = _live(repo, [1])
    (tmp_path / "m" / "1" / "weights.txt").write_text("retrained, longer than before")
    assert plan_load(repo, "m", None, live, BUILTINS).build == (1,)
    _repo(tmp_path, [1, 2])
    plan = plan_load(repo, "m", None, live, BUILTINS)
    assert plan.build == (2,) and plan.stale(live) == [1]


def test_config_override_rebuilds_every_selected_version(tmp_path: Path) -> None:
    """A load with a config override always builds fresh, even with unchanged files."""
    repo = _repo(tmp_path, [1, 2])
    override = pbtxt.parse_json({"backend": "fake", "version_policy": {"all": {}},
                                 "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [2]}],
                                 "output": [{"name": "y", "data_type": "TYPE_FP32",
                                             "dims": [2]}]})
    plan = plan_load(repo, "m", override, _live(repo, [1, 2]), BUILTINS)
    assert plan.build == (1, 2)


def test_bad_config_fails_on_the_model_and_a_bad_version_on_itself(tmp_path: Path) -> None:
    """A config that cannot be used fails the model (no versions named); a new version whose
    completion fails names that version."""
    repo = _repo(tmp_path, [1], config="max_batch_size: -1 " + FAKE)
    with pytest.raises(PlanFailed) as model_level:
        plan_load(repo, "m", None, {}, BUILTINS)
    assert model_level.value.versions == [1]  # new version, nothing live yet
    with pytest.raises(PlanFailed) as live_level:
        plan_load(repo, "m", None, {1: LiveIdentity((), None)}, BUILTINS)
    assert live_level.value.versions == []  # nothing new: the model's own failure
    (tmp_path / "m" / "config.pbtxt").write_text("not a config {")
    with pytest.raises(PlanFailed) as unreadable:
        plan_load(repo, "m", None, {}, BUILTINS)
    assert unreadable.value.versions == []


def test_missing_model_is_not_found(tmp_path: Path) -> None:
    """A model the repository does not hold is ModelNotFound, not a plan failure."""
    with pytest.raises(ModelNotFound):
        plan_load(_repo(tmp_path, [1]), "other", None, {}, BUILTINS)
