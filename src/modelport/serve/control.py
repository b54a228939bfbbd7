"""The model control plane shared by both fronts: load, unload, index; mode and token checks."""

from __future__ import annotations

import hmac
from typing import Any

from modelport.errors import InvalidInput, PermissionDenied, Unsupported
from modelport.serve.config import ControlMode
from modelport.serve.manager import ModelManager, parse_config_override


class ModelControl:
    """Applies Triton's rules: load/unload only in explicit mode; optional bearer token."""

    def __init__(self, manager: ModelManager, mode: ControlMode, token: str | None) -> None:
        self.manager = manager
        self.mode = mode
        self.token = token

    def authorize(self, authorization: str | None) -> None:
        """Check ``Authorization: Bearer <token>`` when a control token is configured.

        Raises:
            PermissionDenied: the token is missing or wrong.
        """
        if self.token is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise PermissionDenied("this control-plane call needs 'Authorization: Bearer <token>' "
                                   "matching the server's --control-token")

    def _check_mode(self, action: str) -> None:
        if self.mode != "explicit":
            raise Unsupported(
                f"explicit model {action} is not allowed in model control mode '{self.mode}'; "
                "start the server with --model-control-mode explicit"
            )

    async def load(self, name: str, parameters: dict[str, Any]) -> None:
        """Load or reload a model, with an optional ``config`` override (Triton JSON)."""
        self._check_mode("load")
        files = [k for k in parameters if k.startswith("file:")]
        if files:
            raise Unsupported("loading model files sent in the request is not supported yet; "
                              "put the files in the repository and load by name")
        override = None
        config = parameters.get("config")
        if config is not None:
            if not isinstance(config, str):
                raise InvalidInput("load parameter 'config' must be a JSON string")
            override = parse_config_override(config)
        await self.manager.load(name, override)

    async def unload(self, name: str, parameters: dict[str, Any]) -> None:
        """Unload a model after in-flight requests finish."""
        self._check_mode("unload")
        await self.manager.unload(name)

    def index(self, ready_only: bool) -> list[dict[str, str]]:
        """The repository index rows."""
        return self.manager.index(ready_only)
