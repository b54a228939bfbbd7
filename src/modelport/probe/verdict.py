"""The verdict for one library on one machine (real or hypothetical), with reason codes.

Rules, in order: installed at all; uses CUDA at all; binary compatibility with the host (missing
libraries, GLIBC/GLIBCXX/CXXABI versions, cuDNN major/minor, pinned wheels); a driver present and
new enough for the library's CUDA major (minor-version compatibility within a major); then per GPU
SASS of the same major with a minor not above the GPU's (``a`` targets only on their exact CC),
else PTX for an older or equal CC whose ISA the driver can JIT-compile, else no kernel image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelport.probe.cudacompat import (
    MINOR_COMPAT_FLOOR,
    driver_meets,
    max_ptx_isa,
    parse_version,
    version_str,
)
from modelport.probe.driver import DriverFacts
from modelport.probe.facts import LibraryFacts
from modelport.probe.gpucode import GpuCode, cc_of, cc_str, ptx_jits_for, sass_runs_on
from modelport.probe.reasons import CODES, FAIL, Reason

OK, OK_JIT, FAILED, NOT_APPLICABLE, NOT_INSTALLED = (
    "ok",
    "ok via PTX JIT",
    "fail",
    "not applicable",
    "not installed",
)
_VERSION_CODES = {
    "GLIBC": "GLIBC_TOO_OLD",
    "GLIBCXX": "GLIBCXX_MISSING",
    "CXXABI": "CXXABI_MISSING",
}
_STATIC_FAILS = {
    "LIB_NOT_FOUND",
    "GLIBC_TOO_OLD",
    "GLIBCXX_MISSING",
    "CXXABI_MISSING",
    "SYMBOL_VERSION_MISSING",
    "CUDNN_MISMATCH",
    "CUDNN_NOT_FOUND",
}


@dataclass(frozen=True)
class Production:
    """Whether the library is a CUDA 12.4+ build fit for production here (None: not applicable)."""

    ready: bool | None
    text: str


@dataclass(frozen=True)
class Verdict:
    """A status, its reasons and one plain-language sentence."""

    status: str
    reasons: tuple[Reason, ...]
    sentence: str
    production: Production


def uses_cuda(facts: LibraryFacts) -> bool:
    """Tell whether the installed build of a library runs CUDA code at all."""
    if facts.cuda_mode == "none":
        return False
    if facts.cuda_mode in ("jit", "system"):
        return True
    return not facts.gpu_code.empty or facts.cuda is not None or facts.cudnn is not None


def _cpu_only_evidence(facts: LibraryFacts) -> str:
    """Why a build counts as CPU-only: what was looked for and not found.

    The library's own catalogue note is not a reason's detail: renderers show it apart.
    """
    files = facts.abi.files
    where = f"its {files} shared librar{'y' if files == 1 else 'ies'}" if files else "its files"
    return f"no CUDA or cuDNN build version and no GPU code in {where}"


def judge(facts: LibraryFacts, driver: DriverFacts) -> Verdict:
    """Decide whether ``facts``' library works on the machine ``driver`` describes.

    Args:
        facts: the library's static facts.
        driver: the driver and GPUs of this machine, or of a target given by ``--gpu/--driver``.

    Returns:
        The verdict with every reason found (several may fail at once).
    """
    if not facts.installed:
        reason = Reason("NOT_INSTALLED")
        return Verdict(
            NOT_INSTALLED,
            (reason,),
            f"{facts.title} is not installed.",
            Production(None, "not installed"),
        )
    if not uses_cuda(facts):
        code = "NO_CUDA_CODE" if facts.cuda_mode == "none" else "CPU_ONLY_BUILD"
        text = f"{facts.title} {facts.version} needs no CUDA: {CODES[code][1]}."
        reason = Reason(code, _cpu_only_evidence(facts) if code == "CPU_ONLY_BUILD" else "")
        return Verdict(NOT_APPLICABLE, (reason,), text, Production(None, "n/a: no CUDA code"))
    reasons = static_reasons(facts) + driver_reasons(facts, driver)
    jit = False
    if driver.present and not any(r.code == "DRIVER_TOO_OLD" for r in reasons):
        kernel, jit = kernel_reasons(facts, driver)
        reasons += kernel
    failed = any(r.severity == FAIL for r in reasons)
    status = FAILED if failed else (OK_JIT if jit else OK)
    return Verdict(status, tuple(reasons), _sentence(facts, status, reasons), production(facts))


def static_reasons(facts: LibraryFacts) -> list[Reason]:
    """Reasons that hold on any machine with this host's libraries: ABI, cuDNN, pins."""
    abi, reasons = facts.abi, []
    for item in abi.missing[:5]:
        reasons.append(
            Reason("LIB_NOT_FOUND", f"{item.soname} (needed by {_base(item.requester)})")
        )
    for item in abi.env_only[:5]:
        reasons.append(
            Reason("LIB_NOT_ON_PATH", f"{item.soname} (needed by {_base(item.requester)})")
        )
    seen: set[str] = set()
    for problem in abi.version_problems:
        if problem.version in seen:
            continue
        seen.add(problem.version)
        code = _VERSION_CODES.get(problem.family, "SYMBOL_VERSION_MISSING")
        reasons.append(
            Reason(
                code,
                f"{problem.version} needed by {_base(problem.requester)}, "
                f"not in {problem.provider}",
            )
        )
    reasons += _cudnn_reasons(facts)
    for loaded in abi.loaded:
        if loaded.shadows:
            reasons.append(
                Reason("LIB_SHADOWED", f"{loaded.path} loads instead of {loaded.shadows}")
            )
    for pin in facts.pins:
        extra = f" (extra '{pin.extra}')" if pin.extra else ""
        if pin.installed is None and pin.extra is None:
            reasons.append(Reason("PIN_MISSING", f"{pin.dist}{pin.spec}{extra}"))
        elif pin.installed is not None and not pin.ok:
            reasons.append(Reason("PIN_MISMATCH", f"{pin.dist}{pin.spec}, found {pin.installed}"))
    for error in facts.gpu_code.errors[:3]:
        reasons.append(Reason("FATBIN_UNREADABLE", error))
    return reasons


def _cudnn_reasons(facts: LibraryFacts) -> list[Reason]:
    loaded = next((lib for lib in facts.abi.loaded if lib.role == "cudnn"), None)
    if facts.cudnn is None or loaded is None:
        return []
    if loaded.path is None:
        return [
            Reason(
                "CUDNN_NOT_FOUND", f"{loaded.soname} for a cuDNN {_v(facts.cudnn.version)} build"
            )
        ]
    runtime = parse_version(loaded.version)
    build = facts.cudnn.version
    if not runtime:
        return []
    where = f"{loaded.path} is cuDNN {loaded.version}; built against {_v(build)}"
    if runtime[0] != build[0] or (len(build) > 1 and len(runtime) > 1 and runtime[1] < build[1]):
        return [Reason("CUDNN_MISMATCH", where)]
    return []


def driver_reasons(facts: LibraryFacts, driver: DriverFacts) -> list[Reason]:
    """Reasons about the driver: present, initialising, new enough for the CUDA major."""
    if not driver.present:
        code = facts.gpu_code
        return [Reason("NO_DRIVER", "" if code.empty else f"the library covers {code.describe()}")]
    reasons = []
    if not driver.assumed and driver.cu_init not in (None, 0, 100):
        reasons.append(
            Reason("CUINIT_FAILED", f"cuInit = {driver.cu_init}: {driver.cu_init_meaning}")
        )
    if driver.cuda is None:
        if driver.assumed:
            reasons.append(Reason("DRIVER_UNSPECIFIED", "give --driver to check the CUDA level"))
        return reasons
    if facts.cuda is None:
        return reasons
    need, have = facts.cuda.version, driver.cuda
    label = f"driver {driver.version or ''} supports CUDA {cc_str(have)}".replace("  ", " ")
    floor = MINOR_COMPAT_FLOOR.get(need[0])
    if need[0] > have[0] or (driver.version and floor and not driver_meets(driver.version, floor)):
        reasons.append(Reason("DRIVER_TOO_OLD", f"CUDA {_v(need)} build; {label}"))
    elif need[0] == have[0] and len(need) > 1 and need[1] > have[1]:
        reasons.append(Reason("MINOR_VERSION_COMPAT", f"CUDA {_v(need)} build; {label}"))
    return reasons


def kernel_reasons(facts: LibraryFacts, driver: DriverFacts) -> tuple[list[Reason], bool]:
    """Reasons about GPU code for each GPU; returns (reasons, whether PTX JIT is needed)."""
    code = facts.gpu_code
    if facts.cuda_mode in ("jit", "system") and code.empty:
        mode = "RUNTIME_COMPILED" if facts.cuda_mode == "jit" else "SYSTEM_CUDA"
        return [Reason(mode)], False
    if code.empty:
        return [Reason("NO_GPU_CODE_FOUND", "verdict rests on the driver check alone")], False
    ccs = sorted({gpu.cc for gpu in driver.gpus})
    if not ccs:
        if driver.assumed:
            return [Reason("GPU_UNSPECIFIED", code.describe())], False
        return [Reason("NO_GPU", f"the library covers {code.describe()}")], False
    reasons: list[Reason] = []
    jit = False
    for cc in ccs:
        found, needs_jit = kernel_for(code, cc, driver)
        reasons += found
        jit = jit or needs_jit
    return reasons, jit


def kernel_for(
    code: GpuCode, cc: tuple[int, int], driver: DriverFacts
) -> tuple[list[Reason], bool]:
    """Pick the code the CUDA runtime would load on a GPU of compute capability ``cc``."""
    runnable = sorted(s for s in code.sass if sass_runs_on(s, cc))
    if runnable:
        return [Reason("SASS_MATCH", f"{runnable[-1]} runs on CC {cc_str(cc)}")], False
    ptx = sorted(p for p in code.ptx if ptx_jits_for(p, cc))
    if ptx:
        if driver.cuda is None:
            return [Reason("PTX_JIT", f"{ptx[-1]} for CC {cc_str(cc)} (ISA not checked)")], True
        limit = max_ptx_isa(driver.cuda)
        usable = [p for p in ptx if p.isa <= limit]
        if usable:
            best = usable[-1]
            return [
                Reason(
                    "PTX_JIT",
                    f"{best} (ISA {_v(best.isa)}) compiled for CC {cc_str(cc)} on first use",
                )
            ], True
        return [
            Reason(
                "PTX_ISA_TOO_NEW",
                f"{ptx[-1]} has ISA {_v(ptx[-1].isa)}; driver "
                f"{driver.version or ''} compiles up to ISA {_v(limit)}",
            )
        ], False
    reasons = [Reason("NO_KERNEL_IMAGE", f"GPU CC {cc_str(cc)}; ships {code.describe()}")]
    if any(s.variant == "a" and cc_of(s.arch)[0] == cc[0] for s in code.sass):
        reasons.append(Reason("ARCH_SPECIFIC_ONLY", "sm_XYa code runs only on exactly CC X.Y"))
    return reasons, False


def production(facts: LibraryFacts) -> Production:
    """The CUDA 12.4+ production-readiness line of an installed CUDA library."""
    blockers = [r for r in static_reasons(facts) if r.code in _STATIC_FAILS]
    if blockers:
        return Production(False, f"no: {blockers[0].code} ({blockers[0].detail})")
    if facts.cuda is None:
        if facts.cuda_mode in ("jit", "system"):
            return Production(True, "yes: compiles for, or calls, the installed CUDA at run time")
        return Production(False, "no: CUDA build version unknown")
    version = facts.cuda.version
    text = f"CUDA {_v(version)}{'.x' if len(version) == 1 else ''} build"
    if version[0] > 12 or (version[0] == 12 and (len(version) == 1 or version[1] >= 4)):
        return Production(True, f"yes: {text}")
    return Production(False, f"no: {text}, older than 12.4")


def _sentence(facts: LibraryFacts, status: str, reasons: Sequence[Reason]) -> str:
    name = f"{facts.title} {facts.version}"
    first_fail = next((r for r in reasons if r.severity == FAIL), None)
    if first_fail is not None:
        return f"{name} will fail here: {_explain(first_fail)}."
    if status == OK_JIT:
        jit = next(r for r in reasons if r.code == "PTX_JIT")
        return f"{name} works, but JIT-compiles PTX on first use (slow start): {jit.detail}."
    main = next((r for r in reasons if r.code != "MINOR_VERSION_COMPAT"), None)
    tail = f": {_explain(main)}" if main else ""
    return f"{name} works here{tail}."


def _explain(reason: Reason) -> str:
    meaning = CODES[reason.code][1]
    return f"{meaning} ({reason.detail})" if reason.detail else meaning


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _v(version: tuple[int, ...]) -> str:
    return version_str(version)
