"""The one module that reads modelport's environment variables.

Everything else takes settings as arguments: ``ServerConfig.from_env()`` and the command line
turn the environment into settings once, so a ``Server`` built from Python with an explicit
``ServerConfig`` behaves the same whatever the process environment holds.

| variable | setting |
|---|---|
| ``MODELPORT_CACHE_DIR`` | cache folder (optimized models, the demo repository) |
| ``XDG_CACHE_HOME`` | parent of the default cache folder (``$XDG_CACHE_HOME/modelport``) |
| ``MODELPORT_NO_CACHE`` | any value turns the optimized-model cache off |
| ``MODELPORT_CONTROL_TOKEN`` | bearer token for load/unload |
| ``MODELPORT_EXTRA_BACKENDS`` | operator backends, ``name=module:Class,...`` |
| ``OTEL_TRACES_EXPORTER`` / ``OTEL_SERVICE_NAME`` | tracing (OpenTelemetry's own names) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    """``~/.cache/modelport``: the cache folder when nothing says otherwise."""
    return Path.home() / ".cache" / "modelport"


@dataclass(frozen=True)
class Environment:
    """modelport's settings as the process environment gives them."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    model_cache: bool = True
    control_token: str | None = None
    extra_backends: dict[str, str] = field(default_factory=dict)
    traces_exporter: str = "none"
    service_name: str = "modelport"

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        """Read ``environ`` (the process environment by default)."""
        env = os.environ if environ is None else environ
        return cls(
            cache_dir=_cache_dir(env),
            model_cache=env.get("MODELPORT_NO_CACHE") is None,
            control_token=env.get("MODELPORT_CONTROL_TOKEN") or None,
            extra_backends=parse_backends(env.get("MODELPORT_EXTRA_BACKENDS", "")),
            traces_exporter=env.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none",
            service_name=env.get("OTEL_SERVICE_NAME", "modelport"),
        )


def _cache_dir(env: Mapping[str, str]) -> Path:
    """$MODELPORT_CACHE_DIR, else $XDG_CACHE_HOME/modelport (when absolute, as the XDG spec
    asks), else ~/.cache/modelport."""
    own = env.get("MODELPORT_CACHE_DIR")
    if own:
        return Path(own).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "modelport"
    return default_cache_dir()


def parse_backends(raw: str) -> dict[str, str]:
    """``"name=module:Class,..."`` as a mapping (malformed items are skipped)."""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): target.strip() for name, target in pairs if name.strip()}
