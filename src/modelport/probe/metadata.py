"""Installed distributions read without importing them: versions, files, pins and version files."""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from modelport.probe.cudacompat import parse_version
from modelport.probe.libraries import normalise

_SHARED = re.compile(r"\.so(\.\d+)*$")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^;()]*)\)?\s*")
_EXTRA = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")
_CLAUSE = re.compile(r"(===|==|!=|~=|>=|<=|>|<)\s*([^\s,]+)")


@dataclass(frozen=True)
class Pin:
    """A requirement on an NVIDIA wheel and whether the installed version satisfies it."""

    dist: str
    spec: str
    extra: str | None
    installed: str | None

    @property
    def ok(self) -> bool:
        """True when the wheel is installed at a version the spec allows."""
        return self.installed is not None and satisfies(self.installed, self.spec)


@dataclass(frozen=True)
class Dist:
    """One installed distribution."""

    name: str
    version: str
    location: str
    files: tuple[str, ...]
    requires: tuple[str, ...]

    @property
    def shared_libraries(self) -> list[str]:
        """Absolute paths of the ELF shared libraries the distribution installed."""
        return [f for f in self.files if _SHARED.search(f)]

    def locate(self, relative: str) -> str | None:
        """Absolute path of ``relative`` (e.g. ``torch/version.py``) when the dist installed it."""
        wanted = os.path.normpath(os.path.join(self.location, relative))
        return wanted if wanted in self.files or os.path.isfile(wanted) else None


class Environment:
    """The distributions visible on a search path (``sys.path`` by default)."""

    def __init__(self, paths: Sequence[str] | None = None) -> None:
        """Index the distributions found on ``paths``; the first of a name wins, like pip's."""
        self.paths = list(paths) if paths is not None else None
        found = metadata.distributions(path=list(paths)) if paths is not None else None
        self.dists: dict[str, Dist] = {}
        for dist in found if found is not None else metadata.distributions():
            name = normalise(dist.metadata["Name"] or "")
            if name and name not in self.dists:
                self.dists[name] = _load(dist)

    def get(self, name: str) -> Dist | None:
        """Return the installed distribution called ``name``, if any."""
        return self.dists.get(normalise(name))

    def version(self, name: str) -> str | None:
        """Return the installed version of ``name``, if any."""
        dist = self.get(name)
        return dist.version if dist else None

    def owner(self, path: str) -> Dist | None:
        """Return the distribution that installed ``path``."""
        real = os.path.normpath(path)
        return next((d for d in self.dists.values() if real in d.files), None)


def _load(dist: metadata.Distribution) -> Dist:
    location = str(dist.locate_file(""))
    files = tuple(os.path.normpath(str(dist.locate_file(f))) for f in dist.files or ())
    return Dist(
        name=dist.metadata["Name"] or "",
        version=dist.version or "",
        location=location,
        files=files,
        requires=tuple(dist.requires or ()),
    )


def nvidia_pins(dist: Dist, env: Environment) -> list[Pin]:
    """The NVIDIA wheels ``dist`` requires, with the version installed of each."""
    pins = []
    for requirement in dist.requires:
        match = _REQUIREMENT.match(requirement)
        if not match or not normalise(match.group(1)).startswith("nvidia-"):
            continue
        marker = requirement.split(";", 1)[1] if ";" in requirement else ""
        extra = _EXTRA.search(marker)
        name = normalise(match.group(1))
        spec = match.group(3).strip()
        pins.append(Pin(name, spec, extra.group(1) if extra else None, env.version(name)))
    return pins


def satisfies(version: str, spec: str) -> bool:
    """Tell whether ``version`` meets a PEP 440 specifier such as ``==9.1.0.70`` or ``>=12,<13``.

    Only numeric release segments are compared, which is what NVIDIA wheels use.
    """
    have = parse_version(version) or ()
    for op, text in _CLAUSE.findall(spec):
        if text.endswith(".*"):
            prefix = parse_version(text[:-2]) or ()
            same = have[: len(prefix)] == prefix
            if (op == "==" and not same) or (op == "!=" and same):
                return False
            continue
        want = parse_version(text) or ()
        width = max(len(have), len(want))
        a, b = _pad(have, width), _pad(want, width)
        checks = {
            "==": a == b,
            "===": version == text,
            "!=": a != b,
            ">=": a >= b,
            "<=": a <= b,
            ">": a > b,
            "<": a < b,
            "~=": a >= b and a[: len(want) - 1] == b[: len(want) - 1],
        }
        if not checks[op]:
            return False
    return True


def _pad(version: tuple[int, ...], width: int) -> tuple[int, ...]:
    return version + (0,) * (width - len(version))


def read_version_file(path: str) -> dict[str, str]:
    """Read constants from a generated version file without importing it.

    Python files are parsed with :mod:`ast`: module-level ``name = "text"`` assignments and
    dict literals (flattened as ``name.key``). JSON files are flattened the same way.

    Args:
        path: a ``.py`` or ``.json`` file.

    Returns:
        Name → text of every constant found; empty when the file cannot be read or parsed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    if path.endswith(".json"):
        try:
            return dict(_flatten("", json.loads(text)))
        except ValueError:
            return {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    found: dict[str, str] = {}
    for node in tree.body:
        targets = _targets(node)
        value = getattr(node, "value", None)
        if not targets or value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        for target in targets:
            found.update(_flatten(target, literal))
    return found


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    elif isinstance(value, (list, tuple)):
        yield prefix, ",".join(str(v) for v in value)
    elif value is not None and not isinstance(value, bytes):
        yield prefix, str(value)
