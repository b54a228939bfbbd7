"""``bench --url`` against a real ``modelport serve`` on loopback: counts equal the server's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from modelport.bench.remote.config import RemoteConfig
from modelport.bench.remote.driver import run_remote_bench
from modelport.errors import BenchError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None, reason="not installed: aiohttp"
)


def check_counts_match_server(config: RemoteConfig) -> None:
    """Run the sweep; every level's successes equal the server's success count delta."""
    result = run_remote_bench(config, show_progress=False)
    assert len(result.rows) == len(config.levels)
    for row in result.rows:
        details = row.details or {}
        assert details["errors"] == 0, details["error_samples"]
        assert details["requests"] > 0
        server = details["server"]
        assert server["success"] == details["requests"]
        assert server["inferences"] == details["requests"] * config.batch_size
        assert server["compute_ms"] > 0 and server["queue_ms"] >= 0
        assert 0 < row.p50_ms <= row.p99_ms


def test_http_json_concurrency_sweep(server: object) -> None:
    """HTTP/JSON at concurrency 1 and 3."""
    url = server.http  # type: ignore[attr-defined]
    check_counts_match_server(RemoteConfig(url, "mlp", concurrency=(1, 3), duration=0.5))


def test_http_binary_batched(server: object) -> None:
    """HTTP with the binary tensor extension and batch 4."""
    url = server.http  # type: ignore[attr-defined]
    config = RemoteConfig(url, "mlp", concurrency=(2,), duration=0.5, batch_size=4, binary=True)
    check_counts_match_server(config)


@pytest.mark.skipif(
    importlib.util.find_spec("tritonclient") is None, reason="not installed: tritonclient[grpc]"
)
def test_grpc_request_rate(server: object) -> None:
    """gRPC at a fixed request rate sends rate x duration requests."""
    url = server.grpc  # type: ignore[attr-defined]
    config = RemoteConfig(url, "mlp", request_rates=(40.0,), duration=0.5)
    check_counts_match_server(config)


def test_unknown_model_is_a_clear_error(server: object) -> None:
    """A model the server does not have fails before any load is sent."""
    url = server.http  # type: ignore[attr-defined]
    with pytest.raises(BenchError, match="no_such_model"):
        run_remote_bench(RemoteConfig(url, "no_such_model", duration=0.1), show_progress=False)


def test_command_line_remote_mode(server: object) -> None:
    """'modelport bench --url ... --model mlp --json -' prints a remote result."""
    url = server.http  # type: ignore[attr-defined]
    cmd = [
        sys.executable, "-m", "modelport", "bench", "--url", url, "--model", "mlp",
        "--concurrency", "2", "--duration", "0.3", "--json", "--no-progress",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"mode": "remote"' in out.stdout and '"errors": 0' in out.stdout
