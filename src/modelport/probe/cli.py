"""Command-line registration for modelport probe (being written)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:  # pragma: no cover - replaced by the real command
    """Register nothing until the probe command lands."""
    del subparsers
    _ = argparse
