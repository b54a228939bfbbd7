"""The demo repository on disk: layout, configs, determinism, atomic writes and the cache."""

from __future__ import annotations

import threading
from pathlib import Path

import onnx
import pytest

from modelport.datatypes import BY_CONFIG
from modelport.errors import RepositoryError
from modelport.repository.demo import (
    DEMO_ENSEMBLES,
    DEMO_MODELS,
    cache,
    catalog,
    demo_repository_path,
    ensure_demo_repository,
    write_demo_repository,
    writer,
)

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_repository(tmp_path_factory.mktemp("demo") / "models")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_layout_has_config_and_version_1_per_model(repo: Path) -> None:
    """Each demo model gets <model>/config.pbtxt and <model>/1/model.onnx, and nothing else."""
    expected = {".modelport-demo"}
    for name in DEMO_MODELS:
        expected |= {f"{name}/config.pbtxt", f"{name}/1/model.onnx"}
    for name in DEMO_ENSEMBLES:
        expected |= {f"{name}/config.pbtxt", f"{name}/labels.txt"}
        assert (repo / name / "1").is_dir() and not any((repo / name / "1").iterdir())
    assert set(_files(repo)) == expected
    assert (repo / ".modelport-demo").read_text() == "2\n"


def test_catalog_order_matches_demo_models() -> None:
    """DEMO_MODELS lists the catalog's models in order."""
    assert DEMO_MODELS == ("resnet18", "text_encoder", "mlp", "text_upper", "image_preprocess")
    assert tuple(model.name for model in catalog.MODELS) == DEMO_MODELS


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_config_agrees_with_graph(repo: Path, name: str) -> None:
    """config.pbtxt parses as Triton's ModelConfig and matches the graph's names, types, shapes."""
    config = text_format.Parse(
        (repo / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    graph = onnx.load(str(repo / name / "1" / "model.onnx")).graph
    assert config.name == name
    assert config.platform == "onnxruntime_onnx"
    for declared, actual in ((config.input, graph.input), (config.output, graph.output)):
        assert [t.name for t in declared] == [v.name for v in actual]
        for tensor, value in zip(declared, actual, strict=True):
            data_type = model_config_pb2.DataType.Name(tensor.data_type)
            assert BY_CONFIG[data_type].onnx == value.type.tensor_type.elem_type
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in _shape(value)]
            if config.max_batch_size > 0:
                assert _shape(value)[0].dim_param == "batch"
                dims = dims[1:]
            assert dims == list(tensor.dims)


def _shape(value: onnx.ValueInfoProto) -> list[onnx.TensorShapeProto.Dimension]:
    return list(value.type.tensor_type.shape.dim)


def test_configs_pin_the_batching_settings(repo: Path) -> None:
    """Batch sizes, dynamic batching and instance groups are the documented ones."""
    configs = {
        name: text_format.Parse(
            (repo / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
        )
        for name in DEMO_MODELS
    }
    assert {n: c.max_batch_size for n, c in configs.items()} == {
        "resnet18": 16,
        "text_encoder": 8,
        "mlp": 64,
        "text_upper": 0,
        "image_preprocess": 16,
    }
    resnet = configs["resnet18"]
    assert list(resnet.dynamic_batching.preferred_batch_size) == [4, 8]
    assert resnet.dynamic_batching.max_queue_delay_microseconds == 2000
    assert [(g.count, g.kind) for g in resnet.instance_group] == [
        (1, model_config_pb2.ModelInstanceGroup.KIND_CPU)
    ]
    assert configs["text_encoder"].HasField("dynamic_batching")
    assert configs["mlp"].HasField("dynamic_batching")
    assert not configs["text_upper"].HasField("dynamic_batching")


def test_writing_twice_gives_identical_bytes(repo: Path, tmp_path: Path) -> None:
    """Generation is deterministic: a second repository's files equal the first's byte for byte."""
    again = write_demo_repository(tmp_path / "again")
    assert _files(again) == _files(repo)


def test_rewriting_replaces_a_demo_repository(tmp_path: Path) -> None:
    """Writing over an existing demo repository replaces it and leaves no stray folders."""
    path = write_demo_repository(tmp_path / "models")
    (path / "mlp" / "1" / "model.onnx").write_bytes(b"damaged")
    write_demo_repository(path)
    assert (path / "mlp" / "1" / "model.onnx").read_bytes().startswith(b"\x08\x08")
    assert _siblings(path) == []


def test_writes_into_an_empty_folder(tmp_path: Path) -> None:
    """An existing empty folder is a fine target."""
    (tmp_path / "models").mkdir()
    assert set(p.name for p in write_demo_repository(tmp_path / "models").iterdir()) == {
        ".modelport-demo",
        *DEMO_MODELS,
        *DEMO_ENSEMBLES,
    }


def test_refuses_a_non_empty_unrelated_folder(tmp_path: Path) -> None:
    """A folder with other content is left alone and the error says how to proceed."""
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(RepositoryError, match="not a modelport demo repository"):
        write_demo_repository(target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert _siblings(target) == []


def test_refuses_a_file(tmp_path: Path) -> None:
    """A file at the target path is an error, not overwritten."""
    target = tmp_path / "models"
    target.write_text("x")
    with pytest.raises(RepositoryError, match="not a folder"):
        write_demo_repository(target)
    assert target.read_text() == "x"


def test_a_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If generation fails half way, neither the target nor a temporary folder remains."""

    def broken() -> onnx.ModelProto:
        raise RuntimeError("boom")

    models = (catalog.MODELS[2], catalog.DemoModel(catalog.MODELS[0].config, broken))
    monkeypatch.setattr(catalog, "MODELS", models)
    with pytest.raises(RuntimeError, match="boom"):
        write_demo_repository(tmp_path / "models")
    assert list(tmp_path.iterdir()) == []


def test_cache_path_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MODELPORT_CACHE_DIR wins, then an absolute XDG_CACHE_HOME, then ~/.cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo_repository_path() == tmp_path / "own" / "demo-repo-v2"
    monkeypatch.delenv("MODELPORT_CACHE_DIR")
    assert demo_repository_path() == tmp_path / "xdg" / "modelport" / "demo-repo-v2"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert demo_repository_path() == tmp_path / "home" / ".cache" / "modelport" / "demo-repo-v2"


def test_ensure_generates_once_then_reuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path
) -> None:
    """The first call generates the cache; later ones return it without writing anything."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    path = ensure_demo_repository()
    assert path == tmp_path / "demo-repo-v2"
    assert _files(path) == _files(repo)
    stamp = (path / "resnet18" / "1" / "model.onnx").stat().st_mtime_ns

    def fail(path: Path, *, keep_complete: bool) -> None:
        raise AssertionError("regenerated a complete repository")

    monkeypatch.setattr(cache, "install_demo_repository", fail)
    assert ensure_demo_repository() == path
    assert (path / "resnet18" / "1" / "model.onnx").stat().st_mtime_ns == stamp


def test_ensure_repairs_an_incomplete_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A cached repository missing a file or its marker is regenerated."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    path = ensure_demo_repository()
    (path / "text_encoder" / "1" / "model.onnx").unlink()
    (path / ".modelport-demo").unlink()
    ensure_demo_repository()
    assert (path / "text_encoder" / "1" / "model.onnx").is_file()
    assert (path / ".modelport-demo").read_text() == "2\n"


def test_ensure_refuses_foreign_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Something else at the cache path is reported, not deleted."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    (tmp_path / "demo-repo-v2").mkdir()
    (tmp_path / "demo-repo-v2" / "data.bin").write_bytes(b"1")
    with pytest.raises(RepositoryError, match="demo-repo-v2"):
        ensure_demo_repository()
    assert (tmp_path / "demo-repo-v2" / "data.bin").read_bytes() == b"1"


def test_concurrent_ensure_calls_share_one_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path
) -> None:
    """Two callers that both build before either installs end with one whole repository."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    both_built = threading.Barrier(2, timeout=60)
    write_models = writer._write_models

    def build_then_wait(root: Path) -> None:
        write_models(root)
        both_built.wait()

    monkeypatch.setattr(writer, "_write_models", build_then_wait)
    results: list[Path] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(ensure_demo_repository())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [tmp_path / "demo-repo-v2"] * 2
    assert _files(results[0]) == _files(repo)
    assert [p.name for p in tmp_path.iterdir()] == ["demo-repo-v2"]
