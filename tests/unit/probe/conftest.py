"""Fixtures for probe unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from probe_helpers import FIXTURES


@pytest.fixture
def fixtures_dir() -> Path:
    """Folder of the committed fatbin fixtures."""
    return FIXTURES
