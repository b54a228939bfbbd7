"""Is a server's memory growing, how fast, and where? Drives /v2/debug/memory over time."""

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


@dataclass
class MemoryReport:
    """What ``doctor memory`` found."""

    url: str
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
        request = urllib.request.Request(self.base + path, method=method,
                                         data=b"" if method == "POST" else None)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            if exc.code == 404:
                body += " (start the server with --debug-endpoints)"
            raise ModelportError(f"{method} {path}: HTTP {exc.code}: {body}") from None
        except urllib.error.URLError as exc:
            raise ModelportError(f"cannot reach {self.base}: {exc.reason}") from None


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
    """Start tracing, snapshot ``samples`` times ``interval_s`` apart, and judge the growth."""
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
    lines = [
        f"memory of {report.url}: {verdict} over {seconds:.1f} s, {len(report.samples)} samples",
        f"  traced Python heap: {report.traced_growth_bytes / mib:+.1f} MiB "
        f"({report.traced_rate_bytes_per_s / mib * 60:+.2f} MiB/min)",
        f"  process RSS:        {report.rss_growth_bytes / mib:+.1f} MiB "
        f"({report.rss_rate_bytes_per_s / mib * 60:+.2f} MiB/min)",
    ]
    gpu = report.samples[-1].get("gpu") or []
    for g in gpu:
        lines.append(f"  GPU {g['gpu']}: {g['process_bytes'] / mib:.1f} MiB used by the server")
    if report.sites:
        lines.append("  top growing allocation sites:")
        for site in report.sites:
            lines.append(f"    {site['size_diff_bytes'] / 1024:>10.1f} KiB  "
                         f"{site['count_diff']:>+8} blocks  {site['file']}:{site['line']}")
    return "\n".join(lines)
