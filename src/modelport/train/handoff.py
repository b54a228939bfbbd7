"""Load an exported model on a running server through its explicit-mode repository API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import quote

from modelport.errors import ExportError

TIMEOUT_S = 120.0


class ServerHandle:
    """A server's base URL (``http://`` added when missing) and control-plane token."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = (url if "://" in url else f"http://{url}").rstrip("/")
        self.token = token

    def _request(self, method: str, path: str, body: bytes | None,
                 timeout: float) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=body, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def check_live(self) -> None:
        """Raise unless the server answers its liveness route.

        Raises:
            ExportError: nothing answers at the URL.
        """
        try:
            status, _ = self._request("GET", "/v2/health/live", None, 10.0)
        except (OSError, ValueError) as exc:
            raise ExportError(f"no server answers at {self.url} ({_reason(exc)}): start "
                              "'modelport serve REPO --model-control-mode explicit' or fix "
                              "--serve-url") from None
        if status != 200:
            raise ExportError(f"{self.url}/v2/health/live answered {status}: is this an "
                              "Open Inference Protocol server?")

    def load(self, name: str) -> None:
        """Ask the server to load (or reload) ``name`` from its repository.

        Raises:
            ExportError: the server refused or failed the load.
        """
        path = f"/v2/repository/models/{quote(name, safe='')}/load"
        try:
            status, body = self._request("POST", path, b"{}", TIMEOUT_S)
        except (OSError, ValueError) as exc:
            raise ExportError(f"loading '{name}' on {self.url} failed: {_reason(exc)}") from None
        if status != 200:
            raise ExportError(f"{self.url} did not load '{name}' ({status}): {_error(body)}")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _error(body: bytes) -> str:
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        message = None
    return str(message or body[:200].decode("utf-8", "replace"))
