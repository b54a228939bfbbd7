"""deploy/prometheus and deploy/grafana against the real thing: promtool on the rules, Debian's
prometheus scraping a live modelport (its answers checked against the traffic sent), and every
dashboard query's metric present in a live scrape and answered by that prometheus."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
import yaml
from deploy_support import REPO_ROOT, Launched, free_port
from tritonclient.utils import InferenceServerException

from modelport.repository.demo.writer import install_demo_repository
from modelport.serve.gpu import FakeGpus, GpuDevice
from modelport.serve.host import CpuUtilization
from modelport.serve.metrics import render_machine

RULES = REPO_ROOT / "deploy" / "prometheus" / "rules.yaml"
RULES_TEST = REPO_ROOT / "deploy" / "prometheus" / "rules.test.yaml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "modelport.json"
ADAPTER = REPO_ROOT / "deploy" / "kubernetes" / "prometheus-adapter" / "config.yaml"
NO_PROMTOOL = pytest.mark.skipif(shutil.which("promtool") is None,
                                 reason="promtool is not installed (apt-get install prometheus)")
SUCCESSES, FAILURES = 40, 10
# a dashboard query substituted the way Grafana would for one job and every model
VARIABLES = {"$__rate_interval": "5m", "${datasource}": "", "$job": "modelport", "$model": ".*"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\boffset\s+-?\w+", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", text):
        if text[match.end():].lstrip().startswith("(") or match.group(0) in _KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def sample_names(exposition: str) -> set[str]:
    """Every sample name in a text exposition, as written (with _bucket, _total, ...)."""
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in exposition.splitlines()
            if line and not line.startswith("#")}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, and the variables' queries."""
    board = json.loads(DASHBOARD.read_text())
    out = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            inner = re.fullmatch(r"label_values\((.*), *\w+\)", var["query"]["query"])
            assert inner, var
            out.append((f"variable {var['name']}", inner.group(1)))
    return out


def recorded_names() -> set[str]:
    """The series the recording rules write."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo repository plus a model whose file is not ONNX: its load fails."""
    path = tmp_path_factory.mktemp("repo") / "models"
    install_demo_repository(path, keep_complete=True)
    (path / "broken" / "1").mkdir(parents=True)
    (path / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    return path


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    """modelport in explicit mode with the demo models loaded, /metrics on its own port."""
    logs = tmp_path_factory.mktemp("server")
    loads = [a for name in ("mlp", "resnet18", "text_encoder", "text_upper")
             for a in ("--load-model", name)]
    started = Launched([sys.executable, "-m", "modelport", "serve", str(repository),
                        "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
                        "--model-control-mode", "explicit", *loads], logs / "serve.log",
                       env={"MODELPORT_CACHE_DIR": str(logs / "cache"), "PATH": "/usr/bin:/bin"})
    yield started
    assert started.stop() == 0, started.log()


@NO_PROMTOOL
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    """promtool check rules, then promtool test rules on hand-computed series."""
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULES_TEST)]):
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_metric_is_in_a_live_scrape(server: Launched) -> None:
    """Each metric a panel or variable reads is exported by the server (GPU families by its
    exposition code with one device, as this machine has none) or written by a rule."""
    h200 = GpuDevice(0, "NVIDIA H200", "GPU-0", 141 << 30, 1 << 30, 1 << 29, 0.5, 100.0, 700.0)
    exported = sample_names(_scrape(server.metrics_url))
    exported |= sample_names(render_machine(FakeGpus([h200]), CpuUtilization()).decode())
    queries = dashboard_queries()
    assert len(queries) >= 20
    missing = {(title, name) for title, expr in queries for name in metric_names(expr)
               if name not in exported | recorded_names()}
    assert not missing, sorted(missing)


def test_metric_name_extraction() -> None:
    """The PromQL scanner keeps metric names and drops functions, labels and numbers."""
    expr = ('sum by (model, le) (rate(a_bucket{job=~"$job", x="y(z)"}[5m])) / 1e6 '
            'and on (job) group by (job) (b:c) > bool 2 unless d offset 10m')
    assert metric_names(expr) == {"a_bucket", "b:c", "d"}


class Prometheus:
    """Debian's prometheus on loopback, scraping one target every second."""

    def __init__(self, target: str, work: Path) -> None:
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(RULES)],
                  "scrape_configs": [{"job_name": "modelport",
                                      "static_configs": [{"targets": [target]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        self._log = (work / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={work / 'prometheus.yml'}",
             f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"], stdout=self._log, stderr=subprocess.STDOUT)
        self.wait(lambda: self.query('count_over_time(up{job="modelport"}[1m]) >= 2'), 60)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector an expression evaluates to now."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as exc:  # a query prometheus refuses: say why
            raise AssertionError(f"{expr}: {exc.read().decode()}") from exc
        except OSError:  # not up yet
            return []
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float:
        """The one sample an expression evaluates to."""
        (sample,) = self.query(expr)
        return float(sample["value"][1])

    def settle(self, expr: str, expected: float, timeout_s: float = 30) -> float:
        """Wait until ``expr`` gives one sample equal to ``expected`` (to 1e-9); its value."""
        seen: list[float] = []

        def close() -> bool:
            result = self.query(expr)
            seen[:] = [float(s["value"][1]) for s in result]
            return len(seen) == 1 and math.isclose(seen[0], expected, rel_tol=1e-9)

        try:
            self.wait(close, timeout_s)
        except TimeoutError:
            raise AssertionError(f"{expr}: {seen}, expected {expected}") from None
        return seen[0]

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/alerts") as answer:
            alerts: list[dict[str, Any]] = json.load(answer)["data"]["alerts"]
            return alerts

    def wait(self, ready: Any, timeout_s: float) -> Any:
        """Poll ``ready()`` until it returns something truthy."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.proc.returncode}")
            got = ready()
            if got:
                return got
            time.sleep(0.5)
        raise TimeoutError(f"prometheus: condition not met in {timeout_s}s")

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self._log.close()


def _send_traffic(url: str) -> list[float]:
    """SUCCESSES good and FAILURES bad (wrong shape) requests to mlp; client latencies."""
    client = httpclient.InferenceServerClient(url)
    latencies = []
    good = np.ones((1, 64), np.float32)
    bad = np.ones((1, 63), np.float32)
    for i in range(SUCCESSES + FAILURES):
        data = bad if i % 5 == 4 else good
        tensor = httpclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        start = time.perf_counter()
        try:
            client.infer("mlp", [tensor])
        except InferenceServerException as exc:
            assert data is bad and exc.status() == "400", exc
        latencies.append(time.perf_counter() - start)
    client.close()
    return latencies


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile on cumulative (le, count) pairs, +Inf last."""
    rank = q * buckets[-1][1]
    for i, (le, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(le):
                return buckets[-2][0]
            lower, below = (0.0, 0.0) if i == 0 else buckets[i - 1]
            return lower + (le - lower) * (rank - below) / (count - below)
    raise AssertionError("no bucket")


def _mlp_buckets(exposition: str) -> list[tuple[float, float]]:
    found = re.findall(r'modelport_request_duration_seconds_bucket\{model="mlp",version="1",'
                       r'le="([^"]+)"\} (\S+)', exposition)
    return sorted((float(le), float(count)) for le, count in found)


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="prometheus is not installed (apt-get install prometheus)")
def test_prometheus_answers_match_the_traffic_sent(server: Launched, tmp_path: Path) -> None:
    """Counts, the recorded success ratio and p99 (histogram_quantile) equal what the traffic
    makes them; a failed load fires its alert; every dashboard query and the adapter's HPA
    query evaluate; the scrape is clean."""
    before = _scrape(server.metrics_url)
    assert 'nv_inference_request_success{model="mlp",version="1"} 0' in before
    prom = Prometheus(f"127.0.0.1:{server.ports['metrics']}", tmp_path)
    try:
        latencies = _send_traffic(server.http_url)
        request = urllib.request.Request(
            f"http://{server.http_url}/v2/repository/models/broken/load", method="POST")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=60)
        prom.settle('sum(nv_inference_request_success{model="mlp"})', SUCCESSES)
        prom.settle('sum(nv_inference_request_failure{model="mlp"})', FAILURES)
        assert prom.value('up{job="modelport"}') == 1
        prom.settle('modelport:request_success_ratio:rate5m{model="mlp"}',
                    SUCCESSES / (SUCCESSES + FAILURES))
        buckets = _mlp_buckets(_scrape(server.metrics_url))
        assert buckets[-1][1] == SUCCESSES + FAILURES  # failures are timed too
        expected = quantile(0.99, buckets)
        p99 = prom.settle('histogram_quantile(0.99, sum by (le) '
                          '(rate(modelport_request_duration_seconds_bucket{model="mlp"}[5m])))',
                          expected)
        prom.settle('modelport:request_duration_seconds:p99_rate5m{model="mlp"}', expected)
        client_p99 = sorted(latencies)[math.ceil(0.99 * len(latencies)) - 1]
        assert p99 <= min(le for le, _ in buckets if le >= client_p99)
        firing = prom.wait(lambda: [a for a in prom.alerts()
                                    if a["labels"]["alertname"] == "ModelportModelLoadFailed"
                                    and a["state"] == "firing"], 30)
        assert {a["labels"]["model"] for a in firing} == {"broken"}
        assert prom.value("sum(modelport:pending_requests:sum)") == 0
        rule = yaml.safe_load(yaml.safe_load(ADAPTER.read_text())["data"]["config.yaml"])
        hpa_query = (rule["rules"][0]["metricsQuery"]
                     .replace("<<.Series>>", "nv_inference_pending_request_count")
                     .replace("<<.LabelMatchers>>", 'job="modelport"')
                     .replace("<<.GroupBy>>", "instance"))
        assert [s["metric"] for s in prom.query(hpa_query)] == [
            {"instance": f"127.0.0.1:{server.ports['metrics']}"}]
        _every_dashboard_query_answers(prom)
    finally:
        prom.stop()


def _every_dashboard_query_answers(prom: Prometheus) -> None:
    """Each query parses in prometheus; all but the GPU ones (no GPU here) return series."""
    for title, expr in dashboard_queries():
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        result = prom.query(expr)
        if not any(n.startswith("nv_gpu_") for n in metric_names(expr)):
            assert result, (title, expr)
