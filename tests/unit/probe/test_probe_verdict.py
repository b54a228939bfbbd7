"""Verdict rules as a table: (library facts, GPU, driver) → (verdict, reason codes)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelport.probe.abi import AbiFacts, LoadedLibrary, VersionProblem
from modelport.probe.driver import DriverFacts, Gpu, target_driver
from modelport.probe.facts import Found, LibraryFacts
from modelport.probe.gpucode import GpuCode, Ptx, Sass
from modelport.probe.loader import Resolved
from modelport.probe.metadata import Pin
from modelport.probe.verdict import judge, production

CU126 = GpuCode(  # torch 2.8 cu126: sm_50…sm_90 + compute_90 PTX (ISA 8.5)
    frozenset(Sass(a) for a in (50, 60, 70, 75, 80, 86, 90)), frozenset({Ptx(90, "", (8, 5))})
)
CU128 = GpuCode(frozenset(Sass(a) for a in (75, 80, 86, 90, 100, 120)), frozenset())
ARCH_A = GpuCode(frozenset({Sass(90, "a"), Sass(100, "f")}), frozenset({Ptx(90, "a", (9, 0))}))
PTX_ONLY = GpuCode(frozenset(), frozenset({Ptx(80, "", (8, 7))}))
SASS_86 = GpuCode(frozenset({Sass(86)}), frozenset())


def lib(code: GpuCode = CU126, cuda: tuple[int, ...] = (12, 6), **extra: object) -> LibraryFacts:
    """A bundled-CUDA library with the given code and CUDA build."""
    facts = LibraryFacts(
        "torch",
        "PyTorch",
        "bundled",
        (("torch", "2.8.0+cu126"),),
        cuda=Found(cuda, "test"),
        gpu_code=code,
    )
    return replace(facts, **extra)  # type: ignore[arg-type]


def gpu(cc: str, driver: str | None = "570.86.10") -> DriverFacts:
    """A target machine with one GPU."""
    major, minor = (int(p) for p in cc.split("."))
    return target_driver(driver, (major, minor))


def cudnn_loaded(version: str | None, path: str | None = "/x/libcudnn.so.9") -> AbiFacts:
    """ABI facts where cuDNN would load from ``path`` at ``version``."""
    return AbiFacts(loaded=(LoadedLibrary("cudnn", "libcudnn.so.9", path, "rpath", version),))


CASES = [
    # (id, facts, machine, verdict, codes that must appear)
    ("sass-exact", lib(), gpu("8.6"), "ok", {"SASS_MATCH"}),
    ("sass-same-major-older-minor", lib(SASS_86), gpu("8.9"), "ok", {"SASS_MATCH"}),
    ("sass-newer-minor-does-not-run", lib(SASS_86), gpu("8.0"), "fail", {"NO_KERNEL_IMAGE"}),
    ("sass-other-major", lib(SASS_86), gpu("9.0"), "fail", {"NO_KERNEL_IMAGE"}),
    ("rtx50-cu126-ptx-jit", lib(), gpu("12.0"), "ok via PTX JIT", {"PTX_JIT"}),
    ("rtx50-cu128-sass", lib(CU128, (12, 8)), gpu("12.0"), "ok", {"SASS_MATCH"}),
    ("old-gpu-cu128", lib(CU128, (12, 8)), gpu("6.1"), "fail", {"NO_KERNEL_IMAGE"}),
    ("ptx-older-than-gpu", lib(PTX_ONLY, (12, 8)), gpu("8.6"), "ok via PTX JIT", {"PTX_JIT"}),
    ("ptx-newer-than-gpu", lib(PTX_ONLY, (12, 8)), gpu("7.5"), "fail", {"NO_KERNEL_IMAGE"}),
    (
        "ptx-isa-too-new",
        lib(PTX_ONLY, (12, 2)),
        gpu("8.6", "535.104.05"),
        "fail",
        {"PTX_ISA_TOO_NEW"},
    ),
    (
        "ptx-isa-at-driver-limit",
        lib(replace(PTX_ONLY, ptx=frozenset({Ptx(80, "", (8, 4))})), (12, 4)),
        gpu("8.6", "550.54.14"),
        "ok via PTX JIT",
        {"PTX_JIT"},
    ),
    ("arch-a-exact", lib(ARCH_A, (12, 8)), gpu("9.0"), "ok", {"SASS_MATCH"}),
    ("family-f-exact", lib(ARCH_A, (12, 8)), gpu("10.0", "580.65.06"), "ok", {"SASS_MATCH"}),
    (
        "arch-a-ptx-not-forward",
        lib(replace(ARCH_A, sass=frozenset({Sass(90, "a")})), (12, 8)),
        gpu("12.0"),
        "fail",
        {"NO_KERNEL_IMAGE"},
    ),
    (
        "arch-a-other-minor",
        lib(replace(ARCH_A, sass=frozenset({Sass(100, "a")}), ptx=frozenset()), (12, 8)),
        gpu("10.3"),
        "fail",
        {"NO_KERNEL_IMAGE", "ARCH_SPECIFIC_ONLY"},
    ),
    (
        "family-f-within-family",
        lib(ARCH_A, (12, 9)),
        gpu("10.3", "580.65.06"),
        "ok",
        {"SASS_MATCH"},
    ),
    (
        "family-f-not-other-major",
        lib(replace(ARCH_A, ptx=frozenset()), (12, 9)),
        gpu("12.0"),
        "fail",
        {"NO_KERNEL_IMAGE"},
    ),
    ("cuda13-on-r550", lib(CU128, (13, 0)), gpu("8.6", "550.54.14"), "fail", {"DRIVER_TOO_OLD"}),
    ("cuda12-on-r470", lib(), gpu("8.6", "470.82.01"), "fail", {"DRIVER_TOO_OLD"}),
    (
        "minor-version-compat",
        lib(cuda=(12, 8)),
        gpu("8.6", "550.54.14"),
        "ok",
        {"MINOR_VERSION_COMPAT", "SASS_MATCH"},
    ),
    ("older-major-on-new-driver", lib(cuda=(11, 8)), gpu("8.6", "580.65.06"), "ok", {"SASS_MATCH"}),
    ("no-driver", lib(), DriverFacts(present=False), "fail", {"NO_DRIVER"}),
    (
        "driver-no-gpu",
        lib(),
        DriverFacts(present=True, version="570.86", cuda=(12, 8), cu_init=100),
        "fail",
        {"NO_GPU"},
    ),
    (
        "cuinit-mismatch",
        lib(),
        DriverFacts(
            present=True, version="570.86", cuda=(12, 8), cu_init=803, gpus=(Gpu("x", (8, 6)),)
        ),
        "fail",
        {"CUINIT_FAILED"},
    ),
    ("what-if-driver-only", lib(), target_driver("570.86", None), "ok", {"GPU_UNSPECIFIED"}),
    (
        "what-if-gpu-only",
        lib(),
        target_driver(None, (8, 6)),
        "ok",
        {"DRIVER_UNSPECIFIED", "SASS_MATCH"},
    ),
    (
        "cudnn-same",
        lib(cudnn=Found((9, 1), "t"), abi=cudnn_loaded("9.1.0")),
        gpu("8.6"),
        "ok",
        {"SASS_MATCH"},
    ),
    (
        "cudnn-newer-minor-ok",
        lib(cudnn=Found((9, 1), "t"), abi=cudnn_loaded("9.5.1")),
        gpu("8.6"),
        "ok",
        {"SASS_MATCH"},
    ),
    (
        "cudnn-older-minor",
        lib(cudnn=Found((8, 7), "t"), abi=cudnn_loaded("8.2.4")),
        gpu("8.6"),
        "fail",
        {"CUDNN_MISMATCH"},
    ),
    (
        "cudnn-other-major",
        lib(cudnn=Found((9, 1), "t"), abi=cudnn_loaded("8.9.7")),
        gpu("8.6"),
        "fail",
        {"CUDNN_MISMATCH"},
    ),
    (
        "cudnn-missing",
        lib(cudnn=Found((9,), "t"), abi=cudnn_loaded(None, None)),
        gpu("8.6"),
        "fail",
        {"CUDNN_NOT_FOUND"},
    ),
    (
        "lib-missing",
        lib(
            abi=AbiFacts(
                missing=(Resolved("libcublas.so.12", "/t/libtorch_cuda.so", None, "missing"),)
            )
        ),
        gpu("8.6"),
        "fail",
        {"LIB_NOT_FOUND"},
    ),
    (
        "glibcxx-too-new",
        lib(
            abi=AbiFacts(
                version_problems=(
                    VersionProblem("/t/_C.so", "/usr/lib/libstdc++.so.6", "GLIBCXX_3.4.32"),
                )
            )
        ),
        gpu("8.6"),
        "fail",
        {"GLIBCXX_MISSING"},
    ),
    (
        "glibc-too-new",
        lib(
            abi=AbiFacts(
                version_problems=(VersionProblem("/t/_C.so", "/lib/libc.so.6", "GLIBC_2.38"),)
            )
        ),
        gpu("8.6"),
        "fail",
        {"GLIBC_TOO_OLD"},
    ),
    (
        "cxxabi-missing",
        lib(
            abi=AbiFacts(
                version_problems=(
                    VersionProblem("/t/_C.so", "/usr/lib/libstdc++.so.6", "CXXABI_1.3.15"),
                )
            )
        ),
        gpu("8.6"),
        "fail",
        {"CXXABI_MISSING"},
    ),
    (
        "pin-mismatch-warns",
        lib(pins=(Pin("nvidia-cublas-cu12", "==12.6.4.1", None, "12.4.5.8"),)),
        gpu("8.6"),
        "ok",
        {"PIN_MISMATCH"},
    ),
    (
        "pin-missing-warns",
        lib(pins=(Pin("nvidia-cublas-cu12", "==12.6.4.1", None, None),)),
        gpu("8.6"),
        "ok",
        {"PIN_MISSING"},
    ),
    (
        "env-only-warns",
        lib(abi=AbiFacts(env_only=(Resolved("libcudnn.so.9", "/t/x.so", None, "missing"),))),
        gpu("8.6"),
        "ok",
        {"LIB_NOT_ON_PATH"},
    ),
    (
        "jit-library",
        replace(lib(GpuCode()), cuda_mode="jit"),
        gpu("8.6"),
        "ok",
        {"RUNTIME_COMPILED"},
    ),
    (
        "system-library",
        replace(lib(GpuCode(), cuda=(13, 0)), cuda_mode="system"),
        gpu("8.6", "580.65.06"),
        "ok",
        {"SYSTEM_CUDA"},
    ),
    ("bundled-no-code-found", lib(GpuCode()), gpu("8.6"), "ok", {"NO_GPU_CODE_FOUND"}),
    (
        "cpu-only",
        replace(lib(GpuCode()), cuda=None),
        gpu("8.6"),
        "not applicable",
        {"CPU_ONLY_BUILD"},
    ),
    (
        "no-cuda-library",
        replace(lib(GpuCode()), cuda=None, cuda_mode="none"),
        gpu("8.6"),
        "not applicable",
        {"NO_CUDA_CODE"},
    ),
    ("not-installed", replace(lib(), dists=()), gpu("8.6"), "not installed", {"NOT_INSTALLED"}),
]


@pytest.mark.parametrize(
    ("facts", "machine", "status", "codes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verdict_table(
    facts: LibraryFacts, machine: DriverFacts, status: str, codes: set[str]
) -> None:
    """Each rule of the reference gives its verdict and names its reason."""
    verdict = judge(facts, machine)
    assert verdict.status == status, verdict
    assert codes <= {r.code for r in verdict.reasons}, verdict.reasons
    assert verdict.sentence.endswith(".") and "\n" not in verdict.sentence


def test_fail_sentence_names_the_first_failure() -> None:
    """The plain sentence of a failure explains the failing reason."""
    verdict = judge(lib(SASS_86), gpu("9.0"))
    assert "will fail here" in verdict.sentence and "CC 9.0" in verdict.sentence


def test_several_gpus_are_all_checked() -> None:
    """A machine with an 8.6 and a 12.0 GPU fails if either has no kernel."""
    machine = DriverFacts(
        present=True,
        version="570.86",
        cuda=(12, 8),
        gpus=(Gpu("a", (8, 6)), Gpu("b", (12, 0))),
        assumed=True,
    )
    verdict = judge(lib(SASS_86), machine)
    assert verdict.status == "fail"
    assert [r.code for r in verdict.reasons] == ["SASS_MATCH", "NO_KERNEL_IMAGE"]


@pytest.mark.parametrize(
    ("cuda", "mode", "ready"),
    [
        ((12, 4), "bundled", True),
        ((12, 3), "bundled", False),
        ((11, 7), "bundled", False),
        ((13, 0), "bundled", True),
        ((12,), "bundled", True),
        (None, "bundled", False),
        (None, "jit", True),
    ],
)
def test_production_line(cuda: tuple[int, ...] | None, mode: str, ready: bool) -> None:
    """CUDA 12.4+ readiness follows the CUDA build version."""
    facts = replace(lib(), cuda=Found(cuda, "t") if cuda else None, cuda_mode=mode)
    assert production(facts).ready is ready


def test_production_blocked_by_abi() -> None:
    """A CUDA 12.8 build whose libstdc++ needs are unmet is not ready."""
    facts = lib(
        cuda=(12, 8),
        abi=AbiFacts(
            version_problems=(
                VersionProblem("/t/_C.so", "/usr/lib/libstdc++.so.6", "GLIBCXX_3.4.32"),
            )
        ),
    )
    assert production(facts).ready is False
    assert "GLIBCXX_MISSING" in production(facts).text
