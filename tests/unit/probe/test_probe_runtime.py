"""--import mode: subprocess imports with timeouts, and static/run-time disagreements."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.probe.runtime import RuntimeView, compare, import_all, import_one


def write(site: Path, name: str, body: str) -> None:
    """Create a module ``name`` in ``site``."""
    (site / f"{name}.py").write_text(body)


def test_import_success_failure_and_crash(tmp_path: Path) -> None:
    """A good module reports its version; a raising one its error; a dying one its exit."""
    write(tmp_path, "good_mod", "__version__ = '1.2'\nprint('noise on stdout')\n")
    write(tmp_path, "bad_mod", "raise OSError('libcudnn.so.9: cannot open shared object file')\n")
    write(tmp_path, "dying_mod", "import os\nos._exit(3)\n")
    views = import_all(["good_mod", "bad_mod", "dying_mod"], timeout=60, paths=[str(tmp_path)])
    assert views["good_mod"].ok and views["good_mod"].data["version"] == "1.2"
    assert not views["bad_mod"].ok and "libcudnn.so.9" in (views["bad_mod"].error or "")
    assert not views["dying_mod"].ok and "exit status 3" in (views["dying_mod"].error or "")


@pytest.mark.slow
def test_import_timeout(tmp_path: Path) -> None:
    """A hanging import is killed after the timeout."""
    write(tmp_path, "hang_mod", "import time\ntime.sleep(60)\n")
    view = import_one("hang_mod", timeout=2, paths=[str(tmp_path)])
    assert not view.ok and "longer than 2 s" in (view.error or "")


def view(**data: object) -> RuntimeView:
    """A successful import that reported ``data``."""
    return RuntimeView("m", True, 0.1, dict(data))


def test_disagreements() -> None:
    """Each kind of contradiction between the two views is named."""
    assert compare(view(cuda_available=True), "ok", "12.6", []).disagreements == ()
    lie = compare(view(cuda_available=True, providers=["CUDAExecutionProvider"]), "fail", None, [])
    assert "providers it was built with" in lie.disagreements[0]
    assert (
        "no usable CUDA device"
        in compare(view(cuda_available=False), "ok", None, []).disagreements[0]
    )
    other = compare(view(cuda_build="12.4"), "ok", "12.6", []).disagreements
    assert "12.4 differs from the static 12.6" in other[0]
    cupy = compare(view(cuda_build=12090), "ok", "12", []).disagreements
    assert cupy == ()
    arch = compare(view(arch_list=["sm_80", "sm_90"]), "ok", None, ["sm_80"]).disagreements
    assert "arch list" in arch[0]
    failed = RuntimeView("m", False, 0.1, {}, "ImportError: x")
    assert "the import failed" in compare(failed, "ok", None, []).disagreements[0]
