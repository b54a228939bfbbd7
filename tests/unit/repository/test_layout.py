"""The repository folder: model and version listing, name confinement, and version resolution."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.models import add_model, write_model

from modelport.errors import ModelConfigError, ModelLoadError, ModelNotFound, RepositoryError
from modelport.repository import pbtxt
from modelport.repository.layout import Repository, check_model_name
from modelport.repository.resolve import resolve


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    return repo


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A model-shaped folder next to the repository that no name may reach."""
    write_model(tmp_path, "secret", add_model())
    (tmp_path / "secret" / "config.pbtxt").write_text('name: "secret"')
    return tmp_path / "secret"


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every folder listed and file opened while the test runs, resolved."""
    seen: list[Path] = []

    def spy(real: Any) -> Any:
        def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(path, (str, os.PathLike)):
                seen.append(Path(os.path.realpath(path)))
            return real(path, *args, **kwargs)
        return wrapper

    for name in ("listdir", "scandir"):
        monkeypatch.setattr(os, name, spy(getattr(os, name)))
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    yield seen


# --- listing -------------------------------------------------------------------------------------


def test_model_names_are_sorted_folders(root: Path) -> None:
    """Folders with valid names are models; files, dot-folders and odd names are not."""
    for name in ("zeta", "alpha", "mid_1", "v2.0-rc"):
        (root / name).mkdir()
    (root / ".git").mkdir()
    (root / "has space").mkdir()
    (root / "README.md").write_text("hi")
    assert Repository(root).model_names() == ["alpha", "mid_1", "v2.0-rc", "zeta"]


def test_source_lists_numeric_version_folders(root: Path) -> None:
    """Only folders named by digits are versions; files and other folders are ignored."""
    for v in (1, 2, 10):
        write_model(root, "m", add_model(), version=v)
    (root / "m" / "latest").mkdir()
    (root / "m" / "3").write_text("a file, not a version")
    source = Repository(root).source("m")
    assert source.name == "m"
    assert source.path == root.resolve() / "m"
    assert sorted(source.versions) == [1, 2, 10]
    assert source.versions[10] == root.resolve() / "m" / "10"
    assert source.config_path == root.resolve() / "m" / "config.pbtxt"


def test_model_without_versions_has_none(root: Path) -> None:
    """A model folder with no version folders lists no versions."""
    (root / "empty").mkdir()
    assert Repository(root).source("empty").versions == {}


def test_repository_must_be_a_folder(tmp_path: Path) -> None:
    """A missing or non-folder repository raises RepositoryError naming it."""
    (tmp_path / "file").write_text("")
    for path in (tmp_path / "absent", tmp_path / "file"):
        with pytest.raises(RepositoryError, match=str(path.name)):
            Repository(path)


def test_unknown_model_is_not_found(root: Path) -> None:
    """A valid name with no folder raises ModelNotFound."""
    with pytest.raises(ModelNotFound, match="'nope' is not in the repository"):
        Repository(root).source("nope")


def test_model_that_is_a_file_is_not_found(root: Path) -> None:
    """A plain file with a model's name is not a model."""
    (root / "m").write_text("")
    with pytest.raises(ModelNotFound):
        Repository(root).source("m")


def test_fingerprint_changes_with_files(root: Path) -> None:
    """A version's fingerprint changes when its model file or the config changes."""
    write_model(root, "m", add_model())
    repo = Repository(root)
    first = repo.source("m").fingerprint(1)
    assert [entry[0] for entry in first] == ["1/model.onnx"]
    (root / "m" / "config.pbtxt").write_text("max_batch_size: 2")
    second = repo.source("m").fingerprint(1)
    assert [entry[0] for entry in second] == ["config.pbtxt", "1/model.onnx"]
    write_model(root, "m", add_model(scale=2.0))
    (root / "m" / "1" / "model.onnx").write_bytes(b"x" * 7)
    assert repo.source("m").fingerprint(1) != second


# --- names that try to leave the repository ------------------------------------------------------


ESCAPING = ["..", ".", "../secret", "a/b", "secret/../secret", "/etc", "/", ".hidden", "",
            "a\\b", "a\x00b", "x" * 300, "~", "-rf"]


@pytest.mark.parametrize("name", ESCAPING)
def test_check_model_name_rejects_paths(name: str) -> None:
    """Anything but one plain path component is ModelNotFound."""
    with pytest.raises(ModelNotFound):
        check_model_name(name)


@pytest.mark.parametrize("name", ["m", "resnet18", "text_encoder", "v1.2-rc", "_private"])
def test_check_model_name_accepts_plain_names(name: str) -> None:
    """Ordinary model names pass unchanged."""
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", [*ESCAPING, str(Path("/tmp").resolve())])
def test_escaping_names_never_touch_files_outside(root: Path, outside: Path, name: str,
                                                  touched: list[Path]) -> None:
    """source() and resolve() refuse escaping names without listing or opening outside paths."""
    inside = root.resolve()
    repo = Repository(root)
    with pytest.raises(ModelNotFound):
        repo.source(name)
    with pytest.raises(ModelNotFound):
        resolve(repo, name)
    seen = list(touched)
    assert not [p for p in seen if not p.is_relative_to(inside)]


def test_symlink_to_outside_folder_is_not_found(root: Path, outside: Path,
                                                touched: list[Path]) -> None:
    """A model folder that is a symlink out of the repository is refused, and not listed."""
    (root / "link").symlink_to(outside, target_is_directory=True)
    repo = Repository(root)
    with pytest.raises(ModelNotFound, match="'link'"):
        repo.source("link")
    with pytest.raises(ModelNotFound):
        resolve(repo, "link")
    assert repo.model_names() == []
    seen = list(touched)
    assert root.resolve() in seen  # the spy does see listings
    assert not [p for p in seen if p.is_relative_to(outside)]


def test_symlink_within_repository_is_served(root: Path) -> None:
    """A symlink to another model folder inside the repository stays usable."""
    write_model(root, "real", add_model())
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    source = Repository(root).source("alias")
    assert source.path == root.resolve() / "real"
    assert sorted(source.versions) == [1]


# --- config reading ------------------------------------------------------------------------------


def test_read_config_without_file_is_empty(root: Path) -> None:
    """No config.pbtxt reads as an empty message."""
    write_model(root, "m", add_model())
    repo = Repository(root)
    assert repo.read_config(repo.source("m")) == pbtxt.Message()


def test_read_config_syntax_error_names_the_file(root: Path) -> None:
    """A broken config.pbtxt is a ModelConfigError naming its path and line."""
    write_model(root, "m", add_model(), config='name: "m"\nmax_batch_size: [\n')
    repo = Repository(root)
    with pytest.raises(ModelConfigError, match=r"m/config.pbtxt: 2:"):
        repo.read_config(repo.source("m"))


def test_read_config_not_utf8_is_a_config_error(root: Path) -> None:
    """A config.pbtxt that is not UTF-8 raises ModelConfigError, not UnicodeDecodeError."""
    write_model(root, "m", add_model())
    (root / "m" / "config.pbtxt").write_bytes(b'name: "\xff\xfe"')
    repo = Repository(root)
    with pytest.raises(ModelConfigError, match="cannot read"):
        repo.read_config(repo.source("m"))


# --- resolve -------------------------------------------------------------------------------------


def _repo_with_versions(root: Path, versions: list[int], config: str = "") -> Repository:
    for v in versions:
        write_model(root, "m", add_model(), version=v)
    if config:
        (root / "m" / "config.pbtxt").write_text(config)
    return Repository(root)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("", [10]),
        ("version_policy { latest { num_versions: 2 } }", [3, 10]),
        ("version_policy { latest { num_versions: 7 } }", [1, 2, 3, 10]),
        ("version_policy { all { } }", [1, 2, 3, 10]),
        ("version_policy { specific { versions: [1, 3, 99] } }", [1, 3]),
    ],
)
def test_resolve_selects_versions_by_policy(root: Path, policy: str, expected: list[int]) -> None:
    """latest N, all and specific pick versions numerically (10 is newer than 3)."""
    resolved = resolve(_repo_with_versions(root, [1, 2, 3, 10], policy), "m")
    assert resolved.versions == expected
    assert resolved.config.name == "m"
    assert resolved.source.name == "m"


def test_resolve_skips_versions_without_model_file(root: Path) -> None:
    """Version folders lacking model.onnx are not candidates for the policy."""
    repo = _repo_with_versions(root, [1, 2])
    (root / "m" / "5").mkdir()
    (root / "m" / "6").mkdir()
    (root / "m" / "6" / "other.onnx").write_bytes(b"")
    assert resolve(repo, "m").versions == [2]


def test_resolve_uses_default_model_filename(root: Path) -> None:
    """default_model_filename decides which file makes a version loadable."""
    write_model(root, "m", add_model(), version=1)
    (root / "m" / "2").mkdir()
    (root / "m" / "2" / "net.onnx").write_bytes(add_model().SerializeToString())
    (root / "m" / "config.pbtxt").write_text('default_model_filename: "net.onnx"')
    resolved = resolve(Repository(root), "m")
    assert resolved.versions == [2]
    assert resolved.config.default_model_filename == "net.onnx"


def test_resolve_without_loadable_version_is_a_load_error(root: Path) -> None:
    """No version with a model file raises ModelLoadError saying where the file should be."""
    (root / "m" / "1").mkdir(parents=True)
    with pytest.raises(ModelLoadError, match=r"m/<version>/model.onnx"):
        resolve(Repository(root), "m")


def test_resolve_specific_policy_matching_nothing_is_a_load_error(root: Path) -> None:
    """A specific policy naming only absent versions leaves nothing to load."""
    repo = _repo_with_versions(root, [1], "version_policy { specific { versions: [4] } }")
    with pytest.raises(ModelLoadError, match="version policy: specific"):
        resolve(repo, "m")


def test_resolve_completes_config_from_graph(root: Path) -> None:
    """The resolved message and view are completed from the newest selected version's graph."""
    resolved = resolve(_repo_with_versions(root, [1]), "m")
    assert [t.name for t in resolved.config.inputs] == ["a", "b"]
    assert resolved.message.name == "m"
    assert resolved.config.max_batch_size == 8


def test_resolve_override_replaces_file_and_is_not_modified(root: Path) -> None:
    """An override config is used instead of config.pbtxt and the caller's copy stays as given."""
    repo = _repo_with_versions(root, [1, 2], "max_batch_size: 99999")
    override = pbtxt.parse_json({"max_batch_size": 2, "version_policy": {"all": {}}})
    before = pbtxt.Message()
    before.CopyFrom(override)
    resolved = resolve(repo, "m", override)
    assert resolved.config.max_batch_size == 2
    assert resolved.versions == [1, 2]
    assert override == before


def test_resolve_fake_backend_needs_no_model_file(root: Path) -> None:
    """backend: "fake" versions are loadable without a model file."""
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "config.pbtxt").write_text(
        'backend: "fake" input [ { name: "x" data_type: TYPE_FP32 dims: [1] } ] '
        'output [ { name: "y" data_type: TYPE_FP32 dims: [1] } ]')
    resolved = resolve(Repository(root), "m")
    assert resolved.versions == [1]
    assert resolved.config.backend == "fake"


def test_resolve_bad_config_is_a_config_error(root: Path) -> None:
    """A config contradicting the graph surfaces as ModelConfigError from resolve."""
    repo = _repo_with_versions(root, [1], 'input [ { name: "zzz" } ]')
    with pytest.raises(ModelConfigError, match="'zzz'"):
        resolve(repo, "m")
