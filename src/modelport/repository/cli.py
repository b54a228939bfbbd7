"""``modelport demo-repo PATH``: write the demo repository where a user can edit it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``demo-repo``."""
    p = subparsers.add_parser(
        "demo-repo", help="write the demo model repository to a folder",
        description="Write the demo repository (resnet18, text_encoder, mlp, text_upper: "
                    "seeded random weights, generated locally) as a Triton-layout folder you "
                    "can edit and serve with 'modelport serve PATH'.")
    p.add_argument("path", type=Path, help="folder to create (must be absent, empty, or an "
                   "earlier demo repository)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the repository and list what was written."""
    from modelport.repository.demo import DEMO_ENSEMBLES, DEMO_MODELS, write_demo_repository

    path = write_demo_repository(args.path)
    print(f"wrote demo repository to {path}: {', '.join((*DEMO_MODELS, *DEMO_ENSEMBLES))}")
    print(f"serve it with: modelport serve {path}")
    return 0
