"""Where things are in a demo repository, and how to tell a complete one from anything else.

A demo repository has Triton's layout, ``<model>/config.pbtxt`` and ``<model>/1/model.onnx`` for
each demo model, ``<ensemble>/config.pbtxt``, an empty ``<ensemble>/1/`` and a labels file for each
demo ensemble, plus a marker file holding the format version. The marker is written last, so a
repository with the right marker and all its files is complete.
"""

from __future__ import annotations

from pathlib import Path

DEMO_MODELS: tuple[str, ...] = ("resnet18", "text_encoder", "mlp", "text_upper",
                                "image_preprocess")
"""The demo models' names, which are also their folders."""

DEMO_ENSEMBLES: tuple[str, ...] = ("classify_image",)
"""The demo ensembles' names (folders too): configs that chain demo models."""

ENSEMBLE_LABELS = "labels.txt"

FORMAT_VERSION = 2
"""Bumped whenever the generated files change; it names the cache folder too."""

MARKER = ".modelport-demo"
CONFIG_FILE = "config.pbtxt"
MODEL_VERSION = "1"
MODEL_FILE = "model.onnx"


def config_path(root: Path, model: str) -> Path:
    """The model's config.pbtxt."""
    return root / model / CONFIG_FILE


def model_path(root: Path, model: str) -> Path:
    """The model's only version's ONNX file."""
    return root / model / MODEL_VERSION / MODEL_FILE


def marker_text() -> str:
    """What the marker file holds."""
    return f"{FORMAT_VERSION}\n"


def is_complete(root: Path) -> bool:
    """Whether ``root`` holds a whole demo repository of this format version."""
    try:
        marker = (root / MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    files = [f(root, name) for name in DEMO_MODELS for f in (config_path, model_path)]
    files += [path for name in DEMO_ENSEMBLES
              for path in (config_path(root, name), root / name / ENSEMBLE_LABELS)]
    return marker == marker_text() and all(path.is_file() for path in files)


def is_demo_like(root: Path) -> bool:
    """Whether ``root`` is (or was meant to be) a demo repository, so it may be replaced.

    True for one with a marker of any version, and for one holding nothing but model folders.
    """
    if (root / MARKER).exists():
        return True
    return all(entry.name in (*DEMO_MODELS, *DEMO_ENSEMBLES) for entry in root.iterdir())
