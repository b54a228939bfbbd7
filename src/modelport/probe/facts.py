"""Everything the probe learns about one library without importing it."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from modelport.probe.abi import AbiFacts, check_abi
from modelport.probe.cudacompat import parse_version
from modelport.probe.fatbin import read_fatbin
from modelport.probe.gpucode import GpuCode
from modelport.probe.libraries import LibrarySpec
from modelport.probe.loader import Loader
from modelport.probe.metadata import Dist, Environment, Pin, nvidia_pins, read_version_file

_CUDA_KEYS = ("cuda", "cuda_version", "torch_info.cuda_version", "cuda_build_version")
_CUDNN_KEYS = ("cudnn_version", "cudnn", "cudnn_build_version")
_ARCH_KEYS = ("cuda_compute_capabilities", "cuda_archs", "torch_cuda_arch_list")
_LOCAL_TAG = re.compile(r"\+cu(\d{3,})")
_NAME_CUDA = re.compile(r"(?:cuda|-cu)(\d{2,3})(?:x|\b|-)")


@dataclass(frozen=True)
class Found:
    """A version and where it was read."""

    version: tuple[int, ...]
    source: str


@dataclass(frozen=True)
class LibraryFacts:
    """The static facts of one library: metadata, version files, GPU code and ABI."""

    key: str
    title: str
    cuda_mode: str
    dists: tuple[tuple[str, str], ...] = ()
    cuda: Found | None = None
    cudnn: Found | None = None
    declared_archs: str | None = None
    pins: tuple[Pin, ...] = ()
    gpu_code: GpuCode = field(default_factory=GpuCode)
    abi: AbiFacts = field(default_factory=AbiFacts)
    note: str = ""
    discovered: bool = False

    @property
    def installed(self) -> bool:
        """True when at least one of the library's distributions is installed."""
        return bool(self.dists)

    @property
    def version(self) -> str | None:
        """Version of the library's main distribution."""
        return self.dists[0][1] if self.dists else None


def gather(
    spec: LibrarySpec,
    dists: Sequence[Dist],
    env: Environment,
    loader: Loader,
    env_lib_dirs: Sequence[str] = (),
    discovered: bool = False,
) -> LibraryFacts:
    """Collect the facts of one library from its installed distributions.

    Args:
        spec: the catalogue entry (or one made up for a discovered package).
        dists: its installed distributions, main one first; empty when not installed.
        env: the environment, for pinned NVIDIA wheels' installed versions.
        loader: resolves shared-library dependencies.
        env_lib_dirs: folders of the environment's NVIDIA wheels.
        discovered: the library is not in the catalogue but carries GPU code.

    Returns:
        The facts (with only the name filled in when ``dists`` is empty).
    """
    base = LibraryFacts(spec.key, spec.title, spec.cuda, note=spec.note, discovered=discovered)
    if not dists:
        return base
    values: dict[str, str] = {}
    for dist in dists:
        for relative in spec.version_files:
            located = dist.locate(relative)
            if located:
                values.update(read_version_file(located))
    pins = [pin for dist in dists for pin in nvidia_pins(dist, env)]
    files = [f for dist in dists for f in dist.shared_libraries if os.path.isfile(f)]
    gpu_code = GpuCode.from_fatbins(read_fatbin(f) for f in files)
    cuda = _cuda_build(values, dists, pins)
    if spec.cuda_from_version and cuda is None:
        parsed = parse_version(dists[0].version)
        cuda = Found(parsed[:2], f"{dists[0].name} version") if parsed else None
    cudnn = _cudnn_build(values, pins)
    # libraries dlopen cuDNN/cuBLAS rather than link them; name the file that would load
    dlopened = [f"libcudnn.so.{cudnn.version[0]}"] if cudnn else []
    if cuda and spec.cuda == "bundled" and not discovered:
        dlopened.append(f"libcublas.so.{cuda.version[0]}")
    abi = check_abi(files, loader, env_lib_dirs, dlopened)
    cuda = cuda or _from_needed(abi, r"libcudart\.so\.(\d+)$", "DT_NEEDED libcudart")
    cudnn = cudnn or _from_needed(abi, r"libcudnn\.so\.(\d+)$", "DT_NEEDED libcudnn")
    return LibraryFacts(
        key=spec.key,
        title=spec.title,
        cuda_mode=spec.cuda,
        dists=tuple((d.name, d.version) for d in dists),
        cuda=cuda,
        cudnn=cudnn,
        declared_archs=next((values[k] for k in _ARCH_KEYS if values.get(k)), None),
        pins=tuple(pins),
        gpu_code=gpu_code,
        abi=abi,
        note=spec.note,
        discovered=discovered,
    )


def _pick(candidates: Sequence[Found | None]) -> Found | None:
    """First candidate, refined by a later one of the same major that has a minor version."""
    found = [c for c in candidates if c is not None]
    if not found:
        return None
    best = found[0]
    if len(best.version) < 2:
        finer = [c for c in found[1:] if c.version[0] == best.version[0] and len(c.version) > 1]
        return (
            Found(finer[0].version, f"{best.source}; minor from {finer[0].source}")
            if finer
            else best
        )
    return best


def _from_values(values: dict[str, str], keys: Sequence[str], what: str) -> Found | None:
    for key in keys:
        parsed = parse_version(values.get(key))
        if parsed and values.get(key, "").lower() not in ("false", "none"):
            return Found(parsed[:2], f"{what} {key}={values[key]}")
    return None


def _cuda_build(values: dict[str, str], dists: Sequence[Dist], pins: Sequence[Pin]) -> Found | None:
    candidates: list[Found | None] = [_from_values(values, _CUDA_KEYS, "version file")]
    for dist in dists:
        tag = _LOCAL_TAG.search(dist.version)
        if tag:
            digits = tag.group(1)
            candidates.append(
                Found((int(digits[:-1]), int(digits[-1])), f"version tag +cu{digits}")
            )
    for pin in pins:
        if re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", pin.dist):
            parsed = parse_version(pin.spec)
            if parsed:
                candidates.append(Found(parsed[:2], f"requires {pin.dist}{pin.spec}"))
    for dist in dists:
        match = _NAME_CUDA.search(dist.name.lower() + "-")
        if match:
            digits = match.group(1)
            version = (int(digits),) if len(digits) == 2 else (int(digits[:-1]), int(digits[-1]))
            candidates.append(Found(version, f"distribution name {dist.name}"))
    return _pick(candidates)


def _cudnn_build(values: dict[str, str], pins: Sequence[Pin]) -> Found | None:
    candidates: list[Found | None] = [_from_values(values, _CUDNN_KEYS, "version file")]
    for pin in pins:
        if re.fullmatch(r"nvidia-cudnn(-cu\d+)?", pin.dist):
            parsed = parse_version(pin.spec)
            if parsed:
                candidates.append(Found(parsed[:2], f"requires {pin.dist}{pin.spec}"))
    return _pick(candidates)


def _from_needed(abi: AbiFacts, pattern: str, what: str) -> Found | None:
    for item in abi.resolved:
        match = re.match(pattern, item.soname)
        if match:
            return Found((int(match.group(1)),), f"{what} {item.soname}")
    return None
