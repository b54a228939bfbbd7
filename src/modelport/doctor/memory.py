"""Is a server's memory growing, how fast, and where?

With ``--debug-endpoints`` on the server, drives /v2/debug/memory over time: traced Python heap,
RSS, and the allocation sites that grew. Without them, reads the process RSS from /metrics
(``process_resident_memory_bytes``) over the same samples and judges that alone.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from modelport.errors import ModelportError

# Growth below both bounds over the whole run is noise, not a leak.
MIN_GROWTH_BYTES = 2 * 1024 * 1024
MIN_GROWTH_FRACTION = 0.05
RSS_METRIC = "process_resident_memory_bytes"
NO_SITES = ("allocation sites need --debug-endpoints: restart the server with it to see "
            "which lines grow")


@dataclass
class MemoryReport:
    """What ``doctor memory`` found."""

    url: str
    source: str = "debug"  # "debug": /v2/debug/memory; "metrics": RSS from /metrics only
    note: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)
    growing: bool = False
    traced_rate_bytes_per_s: float = 0.0
    rss_rate_bytes_per_s: float = 0.0
    traced_growth_bytes: int = 0
    rss_growth_bytes: int = 0
    sites: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


class DebugClient:
    """Calls the server's debug routes."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.base = url.rstrip("/")
        if "://" not in self.base:
            self.base = "http://" + self.base
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str) -> Any:
        """One JSON call; errors become ModelportError with the server's message."""
        return json.loads(self._fetch(method, path))

    def text(self, path: str) -> str | None:
        """GET a text page; None when the server has no such route (404)."""
        try:
            return self._fetch("GET", path, missing_ok=True).decode(errors="replace")
        except _Missing:
            return None

    def has_debug_routes(self) -> bool:
        """Whether the server runs with --debug-endpoints (a wrong token still raises)."""
        try:
            self._fetch("GET", "/v2/debug/memory", missing_ok=True)
        except _Missing:
            return False
        return True

    def _fetch(self, method: str, path: str, missing_ok: bool = False) -> bytes:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=b"" if method == "POST" else None)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and missing_ok:
                raise _Missing from None
            body = exc.read().decode(errors="replace")
            raise ModelportError(f"{method} {path}: HTTP {exc.code}: {body}") from None
        except urllib.error.URLError as exc:
            raise ModelportError(f"cannot reach {self.base}: {exc.reason}") from None


class _Missing(Exception):
    """The server answered 404: it has no such route."""


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def diagnose(client: DebugClient, interval_s: float, samples: int, top: int = 10,
             frames: int = 10, progress: Any = None) -> MemoryReport:
    """Sample ``samples`` times ``interval_s`` apart and judge the growth.

    Traces allocations where the server has --debug-endpoints; reads RSS from /metrics where not.

    Raises:
        ModelportError: the server cannot be reached, refuses the token, or has neither the
            debug routes nor /metrics.
    """
    if client.has_debug_routes():
        return _diagnose_traced(client, interval_s, samples, top, frames, progress)
    return diagnose_rss(client, interval_s, samples, progress)


def diagnose_rss(client: DebugClient, interval_s: float, samples: int,
                 progress: Any = None) -> MemoryReport:
    """Read process_resident_memory_bytes from /metrics ``samples`` times and judge its growth.

    Raises:
        ModelportError: /metrics is missing or has no RSS sample.
    """
    report = MemoryReport(client.base, source="metrics", note=NO_SITES)
    for index in range(max(samples, 2)):
        if index:
            time.sleep(interval_s)
        report.samples.append({"time": time.time(), "rss_bytes": _scrape_rss(client)})
        if progress is not None:
            progress(index + 1)
    _judge_rss(report)
    return report


def _scrape_rss(client: DebugClient) -> int:
    text = client.text("/metrics")
    if text is None:
        raise ModelportError(f"{client.base} has neither /v2/debug/memory nor /metrics: start "
                             "the server with --debug-endpoints, or with --allow-metrics true")
    rss = sample_value(text, RSS_METRIC)
    if rss is None:
        raise ModelportError(f"{client.base}/metrics has no {RSS_METRIC}: is it a modelport "
                             "server? (doctor memory reads that metric)")
    return int(rss)


def sample_value(exposition: str, name: str) -> float | None:
    """The value of the first unlabelled sample ``name`` in a Prometheus text exposition."""
    prefix = name + " "
    for line in exposition.splitlines():
        if line.startswith(prefix):
            try:
                return float(line[len(prefix):].split()[0])
            except (IndexError, ValueError):
                return None
    return None


def _judge_rss(report: MemoryReport) -> None:
    first, last = report.samples[0], report.samples[-1]
    t0 = first["time"]
    report.rss_rate_bytes_per_s = slope([(s["time"] - t0, s["rss_bytes"])
                                         for s in report.samples])
    report.rss_growth_bytes = last["rss_bytes"] - first["rss_bytes"]
    bound = max(MIN_GROWTH_BYTES, MIN_GROWTH_FRACTION * first["rss_bytes"])
    report.growing = report.rss_growth_bytes > bound and report.rss_rate_bytes_per_s > 0


def _diagnose_traced(client: DebugClient, interval_s: float, samples: int, top: int,
                     frames: int, progress: Any) -> MemoryReport:
    client.call("POST", f"/v2/debug/memory/start?frames={frames}")
    report = MemoryReport(client.base)
    try:
        for index in range(max(samples, 2)):
            if index:
                time.sleep(interval_s)
            report.samples.append(client.call("POST", "/v2/debug/memory/snapshot"))
            if progress is not None:
                progress(index + 1)
        first, last = report.samples[0], report.samples[-1]
        diff = client.call("GET", f"/v2/debug/memory/diff?from={first['id']}&to={last['id']}"
                                  f"&top={top}")
    finally:
        client.call("POST", "/v2/debug/memory/stop")
    t0 = first["time"]
    report.traced_rate_bytes_per_s = slope([(s["time"] - t0, s["traced_bytes"])
                                            for s in report.samples])
    report.rss_rate_bytes_per_s = slope([(s["time"] - t0, s["rss_bytes"])
                                         for s in report.samples])
    report.traced_growth_bytes = last["traced_bytes"] - first["traced_bytes"]
    report.rss_growth_bytes = last["rss_bytes"] - first["rss_bytes"]
    bound = max(MIN_GROWTH_BYTES, MIN_GROWTH_FRACTION * first["traced_bytes"])
    report.growing = report.traced_growth_bytes > bound and report.traced_rate_bytes_per_s > 0
    report.sites = [s for s in diff["sites"] if s["size_diff_bytes"] > 0]
    return report


def render_text(report: MemoryReport) -> str:
    """The human report."""
    mib = 1024 * 1024
    seconds = report.samples[-1]["time"] - report.samples[0]["time"]
    verdict = "GROWING" if report.growing else "no growth"
    lines = [f"memory of {report.url}: {verdict} over {seconds:.1f} s, "
             f"{len(report.samples)} samples"]
    if report.source == "debug":
        lines.append(f"  traced Python heap: {report.traced_growth_bytes / mib:+.1f} MiB "
                     f"({report.traced_rate_bytes_per_s / mib * 60:+.2f} MiB/min)")
    lines.append(f"  process RSS:        {report.rss_growth_bytes / mib:+.1f} MiB "
                 f"({report.rss_rate_bytes_per_s / mib * 60:+.2f} MiB/min)")
    gpu = report.samples[-1].get("gpu") or []
    for g in gpu:
        lines.append(f"  GPU {g['gpu']}: {g['process_bytes'] / mib:.1f} MiB used by the server")
    if report.sites:
        lines.append("  top growing allocation sites:")
        for site in report.sites:
            lines.append(f"    {site['size_diff_bytes'] / 1024:>10.1f} KiB  "
                         f"{site['count_diff']:>+8} blocks  {site['file']}:{site['line']}")
    if report.note:
        lines.append(f"  {report.note}")
    return "\n".join(lines)
