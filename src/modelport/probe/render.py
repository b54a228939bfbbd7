"""Human output of a probe report: a rich terminal table and Markdown."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from modelport.probe.cudacompat import version_str
from modelport.probe.gpucode import GpuCode
from modelport.probe.report import LibraryReport, ProbeReport

_STYLE = {
    "ok": "green",
    "ok via PTX JIT": "yellow",
    "fail": "bold red",
    "not applicable": "dim",
    "not installed": "dim",
}


def host_lines(report: ProbeReport) -> list[str]:
    """Host and driver facts as short lines."""
    host, driver = report.host, report.driver
    lines = [
        f"OS: {host.os_name} ({host.machine}, kernel {host.kernel})",
        f"glibc {host.glibc or 'not found'}; libstdc++ {host.glibcxx or 'not found'}"
        f" / {host.cxxabi or '-'} ({host.libstdcxx_path or 'not found'})",
        *python_lines(report),
    ]
    if not driver.present:
        lines.append("NVIDIA driver: no NVIDIA driver (no /proc/driver/nvidia, no libcuda.so.1)")
    else:
        cuda = f"CUDA {driver.cuda[0]}.{driver.cuda[1]}" if driver.cuda else "CUDA level unknown"
        what = " (what-if target)" if driver.assumed else ""
        lines.append(f"NVIDIA driver: {driver.version or 'version unknown'}, supports {cuda}{what}")
        if driver.cu_init is not None:
            lines.append(f"cuInit: {driver.cu_init} ({driver.cu_init_meaning})")
    gpus = ", ".join(f"{g.name} (CC {g.cc[0]}.{g.cc[1]})" for g in driver.gpus)
    lines.append(f"GPUs: {gpus or 'none'}")
    if host.ld_library_path:
        lines.append(f"LD_LIBRARY_PATH: {host.ld_library_path}")
    return lines


def python_lines(report: ProbeReport) -> list[str]:
    """Which Python's packages the report describes, and where they were read."""
    host = report.host
    folders = ", ".join(host.site_packages) or "none found"
    if host.python_source != "--path":
        return [f"Python: {host.python} ({host.python_executable})", f"site-packages: {folders}"]
    if host.python == "unknown":
        python = "Python inspected: unknown (no PREFIX/lib/pythonX.Y/site-packages layout)"
    else:
        where = host.python_executable or "no interpreter in its bin/"
        python = f"Python inspected: {host.python} ({where})"
    return [python, f"site-packages (--path): {folders}"]


def gpu_code_text(code: GpuCode) -> str:
    """Compact list of the SASS and PTX targets."""
    if code.empty:
        return "-"
    sass = " ".join(str(s) for s in sorted(code.sass))
    ptx = " ".join(f"{p}(ISA {version_str(p.isa)})" for p in sorted(code.ptx))
    return " ".join(part for part in (sass, ptx) if part)


def _pins_text(lib: LibraryReport) -> str:
    pins = [p for p in lib.facts.pins if p.extra is None or p.installed is not None]
    if not pins:
        return "-"
    bad = [p for p in pins if not p.ok]
    return f"{len(pins)} pinned, all ok" if not bad else f"{len(bad)} of {len(pins)} off"


def _row(lib: LibraryReport) -> list[str]:
    facts = lib.facts
    cuda = version_str(facts.cuda.version) if facts.cuda else "-"
    cudnn = version_str(facts.cudnn.version) if facts.cudnn else "-"
    codes = ", ".join(r.code for r in lib.verdict.reasons)
    return [
        facts.title,
        facts.version or "-",
        cuda,
        cudnn,
        _pins_text(lib),
        gpu_code_text(facts.gpu_code),
        lib.verdict.status,
        codes,
    ]


_HEADERS = [
    "library",
    "version",
    "CUDA",
    "cuDNN",
    "NVIDIA wheels",
    "GPU code",
    "verdict",
    "reasons",
]


def _details(libs: Iterable[LibraryReport]) -> list[tuple[str, list[str]]]:
    out = []
    for lib in libs:
        if not lib.facts.installed:
            continue
        lines = [lib.verdict.sentence]
        if lib.facts.note:  # about the library, not about any reason code below
            lines.append(f"library note: {lib.facts.note}")
        lines.append(f"CUDA 12.4+ production: {lib.verdict.production.text}")
        lines += _abi_lines(lib)
        lines += [f"{r.code}: {r.detail}" for r in lib.verdict.reasons if r.detail]
        for loaded in lib.facts.abi.loaded:
            if loaded.path:
                version = f", version {loaded.version}" if loaded.version else ""
                lines.append(f"{loaded.role}: {loaded.path} loads (via {loaded.via}{version})")
            else:
                lines.append(f"{loaded.role}: {loaded.soname} would not be found")
        if lib.runtime is not None:
            state = "imported" if lib.runtime.ok else f"import failed: {lib.runtime.error}"
            lines.append(f"--import: {state} in {lib.runtime.seconds:.1f} s; {lib.runtime.data}")
            lines += [f"disagreement: {d}" for d in lib.runtime.disagreements]
        out.append((lib.facts.title, lines))
    return out


def _abi_lines(lib: LibraryReport) -> list[str]:
    abi = lib.facts.abi
    if not abi.files:
        return []
    ways: dict[str, int] = {}
    for item in abi.direct:
        ways[item.via] = ways.get(item.via, 0) + 1
    found = ", ".join(
        f"{count} not found" if via == "missing" else f"{count} via {via}"
        for via, count in sorted(ways.items())
    )
    lines = [f"{abi.files} shared libraries need {len(abi.direct)} others: {found or 'none'}"]
    if abi.requires:
        needs = ", ".join(f"{family} {version}" for family, version in abi.requires)
        lines.append(f"newest symbol versions needed: {needs}")
    return lines


def render_table(report: ProbeReport, console: Console) -> None:
    """Print the report as rich tables to ``console``."""
    console.print(Group(*(Text(line) for line in host_lines(report))))
    table = Table(title="modelport probe", show_lines=False)
    for header in _HEADERS:
        table.add_column(header, overflow="fold")
    missing = [lib.facts.title for lib in report.libraries if not lib.facts.installed]
    for lib in report.libraries:
        if not lib.facts.installed and not lib.requested:
            continue
        cells = _row(lib)
        table.add_row(*cells[:-2], Text(cells[-2], style=_STYLE.get(cells[-2], "")), cells[-1])
    console.print(table)
    if missing:
        console.print(Text(f"not installed: {', '.join(missing)}", style="dim"))
    for title, lines in _details(report.libraries):
        console.print(Text(title, style="bold"))
        for line in lines:
            console.print(Text("  " + line))
    console.print(Text(report.summary.line, style="bold"))
    console.print(Text(f"probe took {report.elapsed_s:.2f} s"), style="dim")


def render_markdown(report: ProbeReport) -> str:
    """Return the report as a Markdown document."""
    out = ["# modelport probe", ""]
    out += [f"- {_md(line)}" for line in host_lines(report)]
    out += ["", "| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    out += ["| " + " | ".join(_md(c) for c in _row(lib)) + " |" for lib in report.libraries]
    out.append("")
    for title, lines in _details(report.libraries):
        out += [f"### {_md(title)}", ""] + [f"- {_md(line)}" for line in lines] + [""]
    out += [f"**{report.summary.line}**", ""]
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
