"""Find the ONNX file of a model given as a path or as a name in the demo repository."""

from __future__ import annotations

import importlib
from pathlib import Path

from modelport.errors import BenchError


def resolve_model(model: str) -> Path:
    """The ONNX file for ``model``: an existing path, or the latest version of a demo model.

    Raises:
        BenchError: neither a file nor a model of the demo repository.
    """
    path = Path(model)
    if path.is_file():
        return path
    if path.suffix == ".onnx" or "/" in model:
        raise BenchError(f"model file {model} does not exist")
    try:
        demo = importlib.import_module("modelport.repository.demo")
    except ImportError:
        raise BenchError(
            f"'{model}' is not a file and the demo repository is not available; pass an .onnx path"
        ) from None
    repo = Path(demo.ensure_demo_repository())
    versions = sorted(
        (int(p.name) for p in (repo / model).glob("*") if p.name.isascii() and p.name.isdigit()),
        reverse=True,
    )
    for version in versions:
        candidate = repo / model / str(version) / "model.onnx"
        if candidate.is_file():
            return candidate
    if "ensemble" in _read(repo / model / "config.pbtxt"):
        raise BenchError(
            f"'{model}' is an ensemble: it has no single ONNX file to compare across "
            f"runtimes; bench it served: modelport serve, then modelport bench "
            f"--url http://127.0.0.1:8000 --model {model}"
        )
    names = sorted(p.name for p in repo.iterdir() if (p / "1" / "model.onnx").is_file())
    raise BenchError(f"no model '{model}' in the demo repository; choose from {', '.join(names)}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
