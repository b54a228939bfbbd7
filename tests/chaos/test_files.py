"""Model files that change under a load, and caches that cannot be written: poll mode under
traffic, with model files truncated, replaced or deleted while a load reads them, a version
folder copied in slowly, and an optimized-model cache that is unwritable or full. No request
fails, every answer comes from a version that was on disk, and the server ends up serving
what the repository holds."""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.chaos import AdderTraffic, heavy_adder, loading, wait_until

MODEL = "m"
POLL = ("--model-control-mode", "poll", "--repository-poll-secs", "0.2")


def place(repo: Path, version: int, content: bytes) -> Path:
    """Build a version folder aside and rename it into place; its model file."""
    staging = repo.parent / f"staging-{version}-{time.monotonic_ns()}"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(content)
    os.rename(staging, repo / MODEL / str(version))
    return repo / MODEL / str(version) / "model.onnx"


def swap_in(path: Path, content: bytes) -> None:
    """Replace a file's content in one rename."""
    tmp = path.with_name(f".{path.name}.{time.monotonic_ns()}")
    tmp.write_bytes(content)
    os.replace(tmp, path)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """MODEL version 1 (scale 1)."""
    root = tmp_path / "models"
    (root / MODEL / "1").mkdir(parents=True)
    (root / MODEL / "1" / "model.onnx").write_bytes(heavy_adder(1))
    return root


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(4096)


MUTATIONS: dict[str, tuple[Callable[[Path], None], Callable[[Path], None], set[tuple[int, float]],
                           tuple[int, float]]] = {
    # what to do mid-load, how to settle afterwards, allowed answers, the final answer
    "truncated": (_truncate, lambda p: swap_in(p, heavy_adder(2)),
                  {(1, 1.0), (2, 2.0)}, (2, 2.0)),
    "replaced": (lambda p: swap_in(p, heavy_adder(3)), lambda p: None,
                 {(1, 1.0), (2, 2.0), (2, 3.0)}, (2, 3.0)),
    "deleted": (lambda p: shutil.rmtree(p.parent), lambda p: None,
                {(1, 1.0), (2, 2.0)}, (1, 1.0)),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_model_file_changed_while_a_load_reads_it(start_server, repo: Path, tmp_path: Path,
                                                  mutation: str) -> None:
    """Version 2 appears; while its load runs its file is truncated, replaced or deleted:
    no request fails, every answer matches a file that was on disk, and once the files
    settle the server serves what they hold."""
    act, settle, allowed, final = MUTATIONS[mutation]
    cache = tmp_path / "cache"
    server = start_server(repo, *POLL, env={"MODELPORT_CACHE_DIR": str(cache)})
    with AdderTraffic(server.http_url, MODEL) as traffic:
        path = place(repo, 2, heavy_adder(2))
        wait_until(lambda: loading(cache), "the load of version 2", 20, every_s=0.001)
        act(path)
        settle(path)
        wait_until(lambda: traffic.last() == final, f"the answer {final}", 30)
        time.sleep(0.5)  # a few more polls: nothing flips back
        assert traffic.last() == final
    assert traffic.figures.failed == 0, traffic.figures.errors
    stray = {a for a in traffic.answers if (a[0], round(a[1], 3)) not in allowed}
    assert not stray, stray
    if mutation == "replaced":  # the cache must not hold scale 3 under scale 2's key
        with AdderTraffic(server.http_url, MODEL) as again:
            swap_in(path, heavy_adder(2))
            wait_until(lambda: again.last() == (2, 2.0), "the original content again", 30)
        assert again.figures.failed == 0, again.figures.errors
    assert server.alive()


def test_version_folder_copied_in_slowly(start_server, repo: Path) -> None:
    """Version 2's file grows in 8 pieces over ~1.6 s while polls run every 0.2 s: version 1
    serves every request meanwhile, then version 2 takes over; nothing fails."""
    server = start_server(repo, *POLL)
    whole = heavy_adder(2)
    folder = repo / MODEL / "2"
    with AdderTraffic(server.http_url, MODEL) as traffic:
        folder.mkdir()
        with (folder / "model.onnx").open("wb") as f:
            step = len(whole) // 8 + 1
            for i in range(0, len(whole), step):
                f.write(whole[i:i + step])
                f.flush()
                time.sleep(0.2)
        wait_until(lambda: traffic.last() == (2, 2.0), "version 2", 30)
    assert traffic.figures.failed == 0, traffic.figures.errors
    assert {(v, round(s, 3)) for v, s in traffic.answers} <= {(1, 1.0), (2, 2.0)}
    assert "copy a version folder aside and rename it into place" in server.log()


def test_cache_directory_that_cannot_be_created(start_server, repo: Path,
                                                tmp_path: Path) -> None:
    """The cache path lies under a regular file (no write can succeed, even as root): the
    server starts, serves, and reloads; the optimized-model cache is only an optimization."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache's parent folder should be")
    server = start_server(repo, *POLL, env={"MODELPORT_CACHE_DIR": str(blocker / "cache")})
    with AdderTraffic(server.http_url, MODEL) as traffic:
        place(repo, 2, heavy_adder(2))
        wait_until(lambda: traffic.last() == (2, 2.0), "version 2", 30)
    assert traffic.figures.failed == 0, traffic.figures.errors


def _file_size_limit() -> None:
    # 1 MiB: the server's log fits, a 32 MB optimized model does not (Python ignores SIGXFSZ,
    # so an oversized write fails with EFBIG instead of killing the process)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_cache_on_a_full_disk(start_server, repo: Path, tmp_path: Path) -> None:
    """Writes past 1 MiB fail (RLIMIT_FSIZE, a full disk as the process sees it): the cache
    entry cannot be written, yet every version loads and serves."""
    cache = tmp_path / "cache"
    server = start_server(repo, *POLL, env={"MODELPORT_CACHE_DIR": str(cache)},
                          preexec_fn=_file_size_limit)
    with AdderTraffic(server.http_url, MODEL) as traffic:
        place(repo, 2, heavy_adder(2))
        wait_until(lambda: traffic.last() == (2, 2.0), "version 2", 30)
    assert traffic.figures.failed == 0, traffic.figures.errors
    assert not list((cache / "ort").glob("*/model.onnx.data")), "a 32 MB entry was written?"
