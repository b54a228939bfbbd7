"""Lean asynchronous Open Inference Protocol clients: HTTP on aiohttp, gRPC on tritonclient."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from modelport.bench.backends.base import Array
from modelport.bench.remote.config import RemoteConfig
from modelport.bench.remote.payload import binary_body, json_body
from modelport.errors import BenchError, MissingExtra


class RequestFailed(Exception):
    """One inference request failed; the message is the server's or the transport's."""


class OipClient(abc.ABC):
    """What the load generator needs from a server: metadata, statistics and one fixed request."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def metadata(self) -> dict[str, Any]:
        """The model's metadata (inputs and outputs with datatypes and shapes)."""

    @abc.abstractmethod
    async def statistics(self) -> dict[str, Any] | None:
        """The statistics extension's answer for the model, or None when not offered."""

    @abc.abstractmethod
    def prepare(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> None:
        """Encode the request that every ``infer`` sends."""

    @abc.abstractmethod
    async def infer(self) -> None:
        """Send the prepared request and read the whole answer.

        Raises:
            RequestFailed: the server answered with an error or the connection failed.
        """


class HttpClient(OipClient):
    """HTTP/REST with JSON or the binary tensor data extension, on one aiohttp session."""

    def __init__(self, config: RemoteConfig) -> None:
        super().__init__(config)
        try:
            self.aiohttp: Any = importlib.import_module("aiohttp")
        except ImportError:
            raise MissingExtra("aiohttp", "remote", "bench --url http://") from None
        self.session: Any = None
        self.base = config.url
        self.body = b""
        self.headers: dict[str, str] = {}

    async def open(self) -> None:
        """Open a session whose connection pool fits the largest concurrency level."""
        limit = max(max(self.config.concurrency), self.config.max_outstanding)
        connector = self.aiohttp.TCPConnector(limit=limit)
        timeout = self.aiohttp.ClientTimeout(total=self.config.timeout)
        self.session = self.aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close(self) -> None:
        """Close the session."""
        if self.session is not None:
            await self.session.close()

    async def _get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            return int(resp.status), data

    async def metadata(self) -> dict[str, Any]:
        """GET /v2/models/{model}."""
        try:
            status, data = await self._get(f"/v2/models/{self.config.model}")
        except (OSError, self.aiohttp.ClientError) as exc:
            raise BenchError(f"cannot reach {self.config.url}: {exc}") from exc
        if status != 200 or not isinstance(data, dict):
            raise BenchError(f"model '{self.config.model}' metadata failed ({status}): {data}")
        return data

    async def statistics(self) -> dict[str, Any] | None:
        """GET /v2/models/{model}/stats, None when the server lacks the extension."""
        status, data = await self._get(f"/v2/models/{self.config.model}/stats")
        return data if status == 200 and isinstance(data, dict) else None

    def prepare(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> None:
        """Encode the request once; it is sent unchanged by every call."""
        if self.config.binary:
            self.body, header_len = binary_body(inputs, outputs)
            self.headers = {
                "Inference-Header-Content-Length": str(header_len),
                "Content-Type": "application/octet-stream",
            }
        else:
            self.body = json_body(inputs, outputs)
            self.headers = {"Content-Type": "application/json"}
        self.infer_url = f"{self.base}/v2/models/{self.config.model}/infer"

    async def infer(self) -> None:
        """POST the prepared request."""
        try:
            async with self.session.post(
                self.infer_url, data=self.body, headers=self.headers
            ) as resp:
                payload = await resp.read()
                if resp.status != 200:
                    raise RequestFailed(f"HTTP {resp.status}: {payload[:200]!r}")
        except (OSError, self.aiohttp.ClientError, TimeoutError) as exc:
            raise RequestFailed(f"{type(exc).__name__}: {exc}") from exc


class GrpcClient(OipClient):
    """gRPC through tritonclient's asyncio client (``pip install 'tritonclient[grpc]'``)."""

    def __init__(self, config: RemoteConfig) -> None:
        super().__init__(config)
        try:
            self.grpc: Any = importlib.import_module("tritonclient.grpc.aio")
            self.utils: Any = importlib.import_module("tritonclient.utils")
        except ImportError:
            raise MissingExtra("tritonclient[grpc]", "remote", "bench --url grpc://") from None
        self.client: Any = None
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []

    async def open(self) -> None:
        """Create the channel."""
        self.client = self.grpc.InferenceServerClient(self.config.address)

    async def close(self) -> None:
        """Close the channel."""
        if self.client is not None:
            await self.client.close()

    async def metadata(self) -> dict[str, Any]:
        """ModelMetadata as JSON."""
        try:
            data: dict[str, Any] = await self.client.get_model_metadata(
                self.config.model, as_json=True
            )
        except self.utils.InferenceServerException as exc:
            raise BenchError(f"model '{self.config.model}' metadata failed: {exc}") from exc
        return data

    async def statistics(self) -> dict[str, Any] | None:
        """ModelStatistics as JSON, None when not offered."""
        try:
            data: dict[str, Any] = await self.client.get_inference_statistics(
                self.config.model, as_json=True
            )
        except self.utils.InferenceServerException:
            return None
        return data

    def prepare(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> None:
        """Build the InferInput objects once."""
        from modelport.datatypes import from_numpy

        self.inputs = []
        for name, array in inputs.items():
            item = self.grpc.InferInput(name, list(array.shape), from_numpy(array.dtype).name)
            item.set_data_from_numpy(array)
            self.inputs.append(item)
        self.outputs = [self.grpc.InferRequestedOutput(o) for o in outputs]

    async def infer(self) -> None:
        """Call ModelInfer with the prepared tensors."""
        try:
            await self.client.infer(self.config.model, self.inputs, outputs=self.outputs)
        except self.utils.InferenceServerException as exc:
            raise RequestFailed(str(exc)) from exc


def client_for(config: RemoteConfig) -> OipClient:
    """The client for the URL's scheme."""
    return GrpcClient(config) if config.protocol == "grpc" else HttpClient(config)
