"""Command-line registration for modelport bench (being written)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:  # pragma: no cover - replaced by the real command
    """Register nothing until the bench command lands."""
    del subparsers
    _ = argparse
