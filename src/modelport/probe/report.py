"""The probe's result: host, driver, one row per library, a summary, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelport.probe.cudacompat import version_str
from modelport.probe.driver import DriverFacts
from modelport.probe.facts import Found, LibraryFacts
from modelport.probe.host import HostFacts
from modelport.probe.runtime import RuntimeView
from modelport.probe.verdict import FAILED, NOT_APPLICABLE, NOT_INSTALLED, OK, OK_JIT, Verdict

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class LibraryReport:
    """One library: what was read, what was decided, and (with --import) what it said."""

    facts: LibraryFacts
    verdict: Verdict
    runtime: RuntimeView | None = None
    requested: bool = False


@dataclass(frozen=True)
class Summary:
    """Counts over the installed libraries."""

    ready: int
    cuda_libraries: int
    no_cuda: int
    counts: dict[str, int]

    @property
    def line(self) -> str:
        """The one-line summary users read first."""
        text = (
            f"{self.ready} of {self.cuda_libraries} installed libraries are CUDA 12.4+ ready "
            "on this machine"
        )
        return text + (f" ({self.no_cuda} more need no CUDA)" if self.no_cuda else "")


@dataclass(frozen=True)
class ProbeReport:
    """Everything one probe run found."""

    host: HostFacts
    driver: DriverFacts
    libraries: tuple[LibraryReport, ...]
    elapsed_s: float = 0.0
    what_if: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def summary(self) -> Summary:
        """Counts of verdicts and of CUDA 12.4+ ready libraries."""
        installed = [lib for lib in self.libraries if lib.facts.installed]
        cuda = [lib for lib in installed if lib.verdict.status != NOT_APPLICABLE]
        ready = sum(1 for lib in cuda if lib.verdict.production.ready)
        counts = {s: 0 for s in (OK, OK_JIT, FAILED, NOT_APPLICABLE, NOT_INSTALLED)}
        for lib in self.libraries:
            counts[lib.verdict.status] += 1
        return Summary(ready, len(cuda), len(installed) - len(cuda), counts)

    def exit_code(self) -> int:
        """0 when every requested library is ok (or needs no CUDA), 1 when one fails.

        A library named with ``--library`` that is not installed counts as a failure.
        """
        for lib in self.libraries:
            if lib.verdict.status == FAILED:
                return 1
            if lib.requested and lib.verdict.status == NOT_INSTALLED:
                return 1
        return 0


def _found(found: Found | None) -> dict[str, Any] | None:
    return {"version": version_str(found.version), "source": found.source} if found else None


def library_dict(lib: LibraryReport) -> dict[str, Any]:
    """The JSON object of one library (see docs/probe.md, "JSON output")."""
    facts, verdict, code = lib.facts, lib.verdict, lib.facts.gpu_code
    abi = facts.abi
    return {
        "key": facts.key,
        "title": facts.title,
        "installed": facts.installed,
        "version": facts.version,
        "distributions": [{"name": n, "version": v} for n, v in facts.dists],
        "discovered": facts.discovered,
        "note": facts.note,
        "cuda_mode": facts.cuda_mode,
        "cuda_build": _found(facts.cuda),
        "cudnn_build": _found(facts.cudnn),
        "declared_archs": facts.declared_archs,
        "pins": [
            {"dist": p.dist, "spec": p.spec, "extra": p.extra, "installed": p.installed, "ok": p.ok}
            for p in facts.pins
        ],
        "gpu_code": {
            "sass": [str(s) for s in sorted(code.sass)],
            "ptx": [{"target": str(p), "isa": version_str(p.isa)} for p in sorted(code.ptx)],
            "relocatable": sorted(code.relocatable),
            "compression": sorted(code.compression),
            "files": list(code.files),
            "containers": code.containers,
            "coverage": code.describe(),
            "errors": list(code.errors),
        },
        "abi": {
            "files": abi.files,
            "needed": [
                {"soname": r.soname, "needed_by": r.requester, "path": r.path, "via": r.via}
                for r in abi.direct
            ],
            "missing": [{"soname": r.soname, "needed_by": r.requester} for r in abi.missing],
            "env_only": [{"soname": r.soname, "needed_by": r.requester} for r in abi.env_only],
            "driver_libraries": list(abi.driver_libs),
            "requires": dict(abi.requires),
            "version_problems": [
                {"version": p.version, "needed_by": p.requester, "provider": p.provider}
                for p in abi.version_problems
            ],
            "loads": [
                {
                    "role": x.role,
                    "soname": x.soname,
                    "path": x.path,
                    "via": x.via,
                    "version": x.version,
                    "shadows": x.shadows,
                }
                for x in abi.loaded
            ],
        },
        "verdict": verdict.status,
        "reasons": [
            {"code": r.code, "severity": r.severity, "detail": r.detail} for r in verdict.reasons
        ],
        "sentence": verdict.sentence,
        "production": {"ready": verdict.production.ready, "text": verdict.production.text},
        "runtime": lib.runtime.to_dict() if lib.runtime else None,
    }


def to_dict(report: ProbeReport) -> dict[str, Any]:
    """The whole report as plain JSON-ready data, versioned by ``schema_version``."""
    host, driver, summary = report.host, report.driver, report.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "elapsed_s": round(report.elapsed_s, 3),
        "what_if": report.what_if,
        "host": {
            "os": host.os_name,
            "kernel": host.kernel,
            "machine": host.machine,
            "glibc": host.glibc,
            "libstdcxx": host.libstdcxx_path,
            "glibcxx": host.glibcxx,
            "cxxabi": host.cxxabi,
            "python": host.python,
            "python_executable": host.python_executable,
            "ld_library_path": host.ld_library_path,
            "site_packages": list(host.site_packages),
            "python_source": host.python_source,
        },
        "driver": {
            "present": driver.present,
            "version": driver.version,
            "cuda": f"{driver.cuda[0]}.{driver.cuda[1]}" if driver.cuda else None,
            "kernel_module": driver.kernel_module,
            "libcuda": driver.libcuda,
            "compat_libcuda": driver.compat_libcuda,
            "cu_init": driver.cu_init,
            "cu_init_meaning": driver.cu_init_meaning,
            "gpus": [{"name": g.name, "cc": f"{g.cc[0]}.{g.cc[1]}"} for g in driver.gpus],
            "evidence": list(driver.evidence),
            "assumed": driver.assumed,
        },
        "libraries": [library_dict(lib) for lib in report.libraries],
        "summary": {
            "ready": summary.ready,
            "cuda_libraries": summary.cuda_libraries,
            "no_cuda": summary.no_cuda,
            "counts": summary.counts,
            "line": summary.line,
        },
        "notes": list(report.notes),
        "exit_code": report.exit_code(),
    }
