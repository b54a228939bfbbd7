"""DT_NEEDED resolution in ld.so's order: RPATH, LD_LIBRARY_PATH, RUNPATH, system folders."""

from __future__ import annotations

import shutil
from pathlib import Path

from probe_helpers import FIXTURES

from modelport.probe.abi import check_abi, cudnn_header_version, library_version
from modelport.probe.dynamic import DynamicInfo
from modelport.probe.loader import Loader, conf_dirs

ELF = FIXTURES / "sass_ptx.so"  # any x86-64 shared object serves as a candidate file


def place(folder: Path, soname: str) -> Path:
    """Put an x86-64 ELF file called ``soname`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ELF, folder / soname)
    return folder / soname


def requester(
    path: Path, rpath: tuple[str, ...] = (), runpath: tuple[str, ...] = ()
) -> DynamicInfo:
    """A requesting object (its folder created, so $ORIGIN exists) with the given search paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return DynamicInfo(str(path), 2, 62, rpath=rpath, runpath=runpath)


def test_rpath_beats_ld_library_path(tmp_path: Path) -> None:
    """torch-style RPATH wins over LD_LIBRARY_PATH."""
    place(tmp_path / "wheel", "libcudnn.so.9")
    place(tmp_path / "system", "libcudnn.so.9")
    loader = Loader(str(tmp_path / "system"), system_dirs=[])
    found = loader.resolve(
        "libcudnn.so.9", requester(tmp_path / "pkg/x.so", rpath=("$ORIGIN/../wheel",))
    )
    assert found.via == "rpath" and found.path == str(tmp_path / "wheel/libcudnn.so.9")


def test_ld_library_path_beats_runpath(tmp_path: Path) -> None:
    """TensorFlow-style RUNPATH loses to LD_LIBRARY_PATH: the classic cuDNN shadowing."""
    place(tmp_path / "wheel", "libcudnn.so.9")
    place(tmp_path / "system", "libcudnn.so.9")
    loader = Loader(str(tmp_path / "system"), system_dirs=[])
    found = loader.resolve(
        "libcudnn.so.9", requester(tmp_path / "pkg/x.so", runpath=("$ORIGIN/../wheel",))
    )
    assert found.via == "LD_LIBRARY_PATH" and found.path == str(tmp_path / "system/libcudnn.so.9")


def test_rpath_ignored_when_runpath_present(tmp_path: Path) -> None:
    """DT_RPATH is not used by an object that also has DT_RUNPATH."""
    place(tmp_path / "r", "liba.so")
    loader = Loader("", system_dirs=[])
    found = loader.resolve(
        "liba.so",
        requester(tmp_path / "x.so", rpath=(str(tmp_path / "r"),), runpath=("/nonexistent",)),
    )
    assert found.path is None and found.via == "missing"


def test_loader_chain_rpath(tmp_path: Path) -> None:
    """The RPATH of the object that loaded the requester is searched too."""
    place(tmp_path / "deps", "libdep.so")
    parent = requester(tmp_path / "parent.so", rpath=(str(tmp_path / "deps"),))
    loader = Loader("", system_dirs=[])
    assert loader.resolve("libdep.so", requester(tmp_path / "child.so"), (parent,)).via == "rpath"


def test_system_dirs_and_wrong_machine(tmp_path: Path) -> None:
    """System folders come last; a file for another machine is skipped like ld.so does."""
    place(tmp_path / "sys", "libz.so.1")
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "libz.so.1").write_bytes(b"\x7fELF\x01\x01" + b"\0" * 40)  # 32-bit
    loader = Loader(str(tmp_path / "first"), system_dirs=[str(tmp_path / "sys")])
    found = loader.resolve("libz.so.1", requester(tmp_path / "x.so"))
    assert found.via == "system" and found.path == str(tmp_path / "sys/libz.so.1")


def test_conf_dirs_follow_includes(tmp_path: Path) -> None:
    """ld.so.conf include globs are followed in order."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("/opt/a\n# comment\n")
    (tmp_path / "conf.d" / "b.conf").write_text("/opt/b\n")
    (tmp_path / "ld.so.conf").write_text("include conf.d/*.conf\n/opt/c\n")
    assert conf_dirs(str(tmp_path / "ld.so.conf")) == ["/opt/a", "/opt/b", "/opt/c"]


def test_check_abi_finds_missing_and_env_only(tmp_path: Path) -> None:
    """A libcudart.so.13 found nowhere is missing; one in an NVIDIA wheel folder is env-only."""
    lib = tmp_path / "pkg" / "k.so"
    lib.parent.mkdir()
    shutil.copyfile(ELF, lib)
    loader = Loader("", system_dirs=["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"])
    facts = check_abi([str(lib)], loader)
    assert "libcudart.so.13" in {m.soname for m in facts.missing}
    place(tmp_path / "nvidia" / "cu13" / "lib", "libcudart.so.13")
    facts = check_abi([str(lib)], loader, [str(tmp_path / "nvidia" / "cu13" / "lib")])
    assert "libcudart.so.13" in {m.soname for m in facts.env_only}
    assert dict(facts.requires).get("GLIBC") == "2.2.5"


def test_cudnn_version_from_header_and_name(tmp_path: Path) -> None:
    """cuDNN's version comes from the real file name or cudnn_version.h beside lib/."""
    lib = place(tmp_path / "cudnn" / "lib", "libcudnn.so.9")
    (tmp_path / "cudnn" / "include").mkdir()
    (tmp_path / "cudnn" / "include" / "cudnn_version.h").write_text(
        "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 0\n"
    )
    assert library_version(str(lib)) == "9.1.0"
    real = place(tmp_path / "sys", "libcudnn.so.8.2.4")
    (tmp_path / "sys" / "libcudnn.so.8").symlink_to(real)
    assert library_version(str(tmp_path / "sys" / "libcudnn.so.8")) == "8.2.4"
    assert cudnn_header_version(str(tmp_path / "none.h")) is None


def test_ld_library_path_shadowing_is_reported(tmp_path: Path) -> None:
    """A system cuDNN on LD_LIBRARY_PATH that beats the wheel's copy is flagged."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    lib = pkg / "k.so"
    shutil.copyfile(ELF, lib)
    wheel = tmp_path / "nvidia" / "cudnn" / "lib"
    place(wheel, "libcudnn.so.9")
    place(tmp_path / "sys", "libcudnn.so.9.0.0")
    (tmp_path / "sys" / "libcudnn.so.9").symlink_to(tmp_path / "sys" / "libcudnn.so.9.0.0")
    loader = Loader(str(tmp_path / "sys"), system_dirs=[])
    facts = check_abi([str(lib)], loader, [str(wheel)], dlopened=["libcudnn.so.9"])
    (cudnn,) = facts.loaded
    assert cudnn.via == "LD_LIBRARY_PATH" and cudnn.version == "9.0.0"
    assert cudnn.shadows == str(wheel / "libcudnn.so.9")
