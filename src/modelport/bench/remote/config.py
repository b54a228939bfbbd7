"""RemoteConfig: the settings of a load test against an inference server."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from modelport.errors import ConfigError

DEFAULT_CONCURRENCY = (1, 4, 16)


@dataclass(frozen=True)
class RemoteConfig:
    """A sweep over concurrency levels or request rates, each level lasting ``duration`` seconds.

    Args:
        url: ``http://host:port`` or ``grpc://host:port``.
        model: model name on the server (its latest version is used).
        concurrency: requests kept in flight, one level after another.
        request_rates: requests per second instead of concurrency (constant arrivals).
        duration: seconds per level.
        batch_size: the batch dimension of each request.
        binary: use the binary tensor data extension (HTTP) instead of JSON.
        warmup_requests: requests sent before the first level and not counted.
        max_outstanding: in request-rate mode, the cap on requests in flight.
    """

    url: str
    model: str
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY
    request_rates: tuple[float, ...] = ()
    duration: float = 5.0
    batch_size: int = 1
    binary: bool = False
    seq_len: int = 16
    warmup_requests: int = 5
    max_outstanding: int = 256
    timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "grpc") or not parts.hostname or not parts.port:
            raise ConfigError(f"--url must be http://HOST:PORT or grpc://HOST:PORT, not {self.url}")
        if not self.model:
            raise ConfigError("name the server's model with --model")
        if self.duration <= 0 or self.batch_size < 1:
            raise ConfigError("duration and batch size must be positive")
        if self.binary and parts.scheme == "grpc":
            raise ConfigError("--binary applies to HTTP; gRPC always sends raw tensors")

    @property
    def protocol(self) -> str:
        """'http' or 'grpc'."""
        return urlsplit(self.url).scheme

    @property
    def address(self) -> str:
        """host:port."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port}"

    @property
    def levels(self) -> list[tuple[str, float]]:
        """('concurrency', n) or ('rate', r) for each level of the sweep."""
        if self.request_rates:
            return [("rate", r) for r in self.request_rates]
        return [("concurrency", float(c)) for c in self.concurrency]

    @classmethod
    def build(
        cls,
        url: str,
        model: str,
        concurrency: tuple[int, ...] | None = None,
        request_rates: tuple[float, ...] | None = None,
        duration: float = 5.0,
        batch_size: int = 1,
        binary: bool = False,
        seq_len: int = 16,
    ) -> RemoteConfig:
        """Build from command-line values, where None means the default."""
        return cls(
            url=url.rstrip("/"),
            model=model,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            request_rates=request_rates or (),
            duration=duration,
            batch_size=batch_size,
            binary=binary,
            seq_len=seq_len,
        )
