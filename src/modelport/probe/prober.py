"""The probe: configuration in, :class:`ProbeReport` out. The object users of the API touch."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, replace

from modelport.errors import ConfigError, ElfError, ProbeError
from modelport.probe.cudacompat import cuda_for_driver
from modelport.probe.driver import DriverFacts, Gpu, read_driver
from modelport.probe.elf import ElfFile
from modelport.probe.facts import gather
from modelport.probe.fatbin import has_fatbin
from modelport.probe.host import read_host
from modelport.probe.libraries import CATALOGUE, LibrarySpec, by_key, is_nvidia_component
from modelport.probe.loader import Loader
from modelport.probe.metadata import Dist, Environment
from modelport.probe.reasons import Reason
from modelport.probe.report import LibraryReport, ProbeReport
from modelport.probe.runtime import RuntimeView, compare, import_all
from modelport.probe.verdict import judge

_GPU = re.compile(r"^(?:sm_?)?(\d{1,2})\.?(\d)$")


def parse_gpu(text: str) -> tuple[int, int]:
    """Parse ``12.0``, ``8.6``, ``sm_90`` or ``120`` into a compute capability.

    Raises:
        ConfigError: the text is not a compute capability.
    """
    match = _GPU.match(text.strip().lower())
    if not match:
        raise ConfigError(
            f"--gpu {text!r} is not a compute capability: use e.g. 8.6, 12.0 or sm_90"
        )
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe and for which machine; the one place for defaults and validation.

    Attributes:
        libraries: catalogue keys or distribution names to report; empty means all.
        gpu: a target compute capability for a what-if verdict (``12.0``).
        driver: a target driver version for a what-if verdict (``550.54``).
        import_mode: also import each installed library in a subprocess.
        import_timeout: seconds each import may take.
        paths: folders searched for installed distributions; None means ``sys.path``.
        ld_library_path: the LD_LIBRARY_PATH to resolve with; None reads the environment.
        system_dirs: folders standing for the ld.so cache; None reads /etc/ld.so.conf.
        discover: also report non-catalogue packages whose shared libraries carry GPU code.
        query_driver: ask libcuda/NVML through ctypes (in a subprocess) when present.
    """

    libraries: tuple[str, ...] = ()
    gpu: str | None = None
    driver: str | None = None
    import_mode: bool = False
    import_timeout: float = 120.0
    paths: tuple[str, ...] | None = None
    ld_library_path: str | None = None
    system_dirs: tuple[str, ...] | None = None
    discover: bool = True
    query_driver: bool = True

    def __post_init__(self) -> None:
        if self.gpu is not None:
            parse_gpu(self.gpu)
        if self.driver is not None and not cuda_for_driver(self.driver):
            raise ConfigError(f"--driver {self.driver!r} is not a Linux driver version ≥ 450")
        if self.import_timeout <= 0:
            raise ConfigError("--timeout must be positive")

    @property
    def what_if(self) -> bool:
        """True when the verdict is for a target machine rather than this one."""
        return self.gpu is not None or self.driver is not None


class Prober:
    """Runs the probe for a :class:`ProbeConfig`."""

    def __init__(self, config: ProbeConfig | None = None) -> None:
        """Keep the configuration; nothing is read until :meth:`run`."""
        self.config = config or ProbeConfig()

    def run(self) -> ProbeReport:
        """Probe the environment and return the report.

        Raises:
            ProbeError: a requested library is neither in the catalogue nor installed.
        """
        start = time.perf_counter()
        config = self.config
        loader = Loader(config.ld_library_path, config.system_dirs)
        env = Environment(config.paths)
        host = read_host(loader, config.paths)
        driver = self._target(read_driver(loader, query=config.query_driver))
        env_dirs = nvidia_lib_dirs(env)
        rows = []
        for spec, dists, requested, discovered in self._select(env):
            facts = gather(spec, dists, env, loader, env_dirs, discovered)
            rows.append(LibraryReport(facts, judge(facts, driver), requested=requested))
        if config.import_mode:
            rows = self._with_imports(rows, host.python_executable)
        return ProbeReport(host, driver, tuple(rows), time.perf_counter() - start, config.what_if)

    def _target(self, host: DriverFacts) -> DriverFacts:
        config = self.config
        if not config.what_if:
            return host
        gpus = (Gpu(f"target CC {config.gpu}", parse_gpu(config.gpu)),) if config.gpu else host.gpus
        version = config.driver or host.version
        cuda = cuda_for_driver(config.driver) if config.driver else host.cuda
        evidence = (*host.evidence, f"what-if: --gpu {config.gpu} --driver {config.driver}")
        return replace(
            host,
            present=bool(version) or bool(config.gpu),
            version=version,
            cuda=cuda,
            gpus=gpus,
            evidence=evidence,
            assumed=True,
        )

    def _select(self, env: Environment) -> list[tuple[LibrarySpec, list[Dist], bool, bool]]:
        chosen: list[tuple[LibrarySpec, list[Dist], bool, bool]] = []
        for spec in CATALOGUE:
            chosen.append((spec, _dists_of(spec, env), False, False))
        if self.config.discover or self.config.libraries:
            for dist in discover(env):
                chosen.append((_spec_for_dist(dist), [dist], False, True))
        if not self.config.libraries:
            return chosen
        picked = []
        for name in self.config.libraries:
            known_spec = by_key(name)
            key = known_spec.key if known_spec else re.sub(r"[-_.]+", "-", name).lower()
            match = [row for row in chosen if row[0].key == key]
            if not match:
                known = ", ".join(s.key for s in CATALOGUE)
                raise ProbeError(
                    f"unknown library {name!r}: use one of {known}, or an installed "
                    "package whose shared libraries carry GPU code"
                )
            picked.append((match[0][0], match[0][1], True, match[0][3]))
        return picked

    def _with_imports(self, rows: list[LibraryReport], python: str) -> list[LibraryReport]:
        modules = {r.facts.key: _module_of(r) for r in rows if r.facts.installed}
        names = [m for m in modules.values() if m]
        paths = self.config.paths or ()
        views = import_all(names, self.config.import_timeout, paths, python=python)
        out = []
        for row in rows:
            module = modules.get(row.facts.key)
            view: RuntimeView | None = views.get(module) if module else None
            if view is not None:
                cuda = row.facts.cuda
                sass = [str(s) for s in row.facts.gpu_code.sass]
                cuda_text = ".".join(map(str, cuda.version)) if cuda else None
                view = compare(view, row.verdict.status, cuda_text, sass)
            verdict = row.verdict
            if view is not None and view.disagreements:
                extra = tuple(Reason("IMPORT_DISAGREES", d) for d in view.disagreements)
                verdict = replace(verdict, reasons=verdict.reasons + extra)
            out.append(replace(row, runtime=view, verdict=verdict))
        return out


def _module_of(row: LibraryReport) -> str | None:
    spec = by_key(row.facts.key)
    return spec.module if spec and not row.facts.discovered else None


def _dists_of(spec: LibrarySpec, env: Environment) -> list[Dist]:
    found = []
    for pattern in spec.dists:
        found += [d for name, d in env.dists.items() if re.fullmatch(pattern, name)]
    return list(dict.fromkeys(found).keys()) if found else []


def _spec_for_dist(dist: Dist) -> LibrarySpec:
    name = re.sub(r"[-_.]+", "-", dist.name).lower()
    return LibrarySpec(name, dist.name, (re.escape(name),), note="discovered: carries GPU code")


def discover(env: Environment) -> list[Dist]:
    """Installed distributions outside the catalogue whose shared libraries carry GPU code."""
    found = []
    for name, dist in sorted(env.dists.items()):
        if any(spec.matches(name) for spec in CATALOGUE):
            continue
        if any(_carries_gpu_code(path) for path in dist.shared_libraries):
            found.append(dist)
    return found


def _carries_gpu_code(path: str) -> bool:
    try:
        with ElfFile(path) as elf:
            return has_fatbin(elf)
    except ElfError:
        return False


def nvidia_lib_dirs(env: Environment) -> list[str]:
    """Folders holding the shared libraries of NVIDIA's CUDA wheels (nvidia/*/lib)."""
    dirs = {
        os.path.dirname(path)
        for name, dist in env.dists.items()
        if is_nvidia_component(name)
        for path in dist.shared_libraries
    }
    return sorted(dirs)


def probe(config: ProbeConfig | None = None) -> ProbeReport:
    """Run the probe once: ``probe(ProbeConfig(gpu="12.0", driver="550.54"))``."""
    return Prober(config).run()
