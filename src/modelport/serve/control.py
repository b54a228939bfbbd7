"""The model control plane shared by both fronts: load, unload, index; mode and token checks."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from modelport.errors import InvalidInput, PermissionDenied, RepositoryError, Unavailable
from modelport.serve.config import ControlMode
from modelport.serve.manager import ModelManager, parse_config_override
from modelport.serve.views import IndexRow


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
        if self.mode != "explicit":  # Triton's words and status (503 / UNAVAILABLE)
            raise Unavailable(
                f"explicit model load / unload is not allowed if polling is enabled: model "
                f"control mode is '{self.mode}'; start the server with --model-control-mode "
                "explicit"
            )

    async def load(self, name: str, parameters: dict[str, Any]) -> None:
        """Load or reload a model, with an optional ``config`` override (Triton JSON)."""
        self._check_mode("load")
        files = {k.removeprefix("file:"): _file_bytes(k, v)
                 for k, v in parameters.items() if k.startswith("file:")}
        if files and "config" not in parameters:
            raise InvalidInput("a load request with 'file:' parameters needs a 'config' "
                               "parameter too (Triton's rule)")
        override = None
        config = parameters.get("config")
        if config is not None:
            if not isinstance(config, str):
                raise InvalidInput("load parameter 'config' must be a JSON string")
            override = parse_config_override(config)
        try:
            await self.manager.load(name, override, files or None)
        except RepositoryError as exc:  # Triton answers a failed load with 400
            raise InvalidInput(str(exc)) from None

    async def unload(self, name: str, parameters: dict[str, Any]) -> None:
        """Unload a model after in-flight requests finish."""
        self._check_mode("unload")
        await self.manager.unload(name)

    def index(self, ready_only: bool) -> list[IndexRow]:
        """The repository index rows."""
        return self.manager.index(ready_only)


def _file_bytes(key: str, value: Any) -> bytes:
    """File content: raw bytes over gRPC, base64 text over HTTP."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"load parameter '{key}' must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"load parameter '{key}' is not valid base64") from None
