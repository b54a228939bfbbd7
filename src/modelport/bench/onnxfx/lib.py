"""torch, imported when the converter is, and typed as Any: torch is an optional extra, so
mypy must not depend on it being installed."""

from __future__ import annotations

import importlib
from typing import Any

torch: Any = importlib.import_module("torch")
F: Any = importlib.import_module("torch.nn.functional")
fx: Any = importlib.import_module("torch.fx")
