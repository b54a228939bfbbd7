"""The container image, built from the Containerfile with podman and run for real: non-root,
tini as PID 1, HEALTHCHECK on strict readiness, the demo models served from /models, and
SIGTERM under load drains the requests in flight."""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from deploy_support import check_demo_inference, figure, free_port
from podman_support import base_image, build_image, podman, unusable_reason

import modelport
from modelport.repository.demo.writer import install_demo_repository

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]
TAG = f"localhost/modelport-test:{modelport.__version__}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image, built once for this module from the checkout; removed afterwards."""
    reason = unusable_reason()
    if reason:
        pytest.skip(reason)
    base = base_image(tmp_path_factory.mktemp("base"))
    start = time.monotonic()
    build_image(TAG, base)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", TAG).stdout)
    figure(f"container image on {base}: {size / 1e6:.0f} MB, built in "
           f"{time.monotonic() - start:.0f} s")
    yield TAG
    podman("rmi", "--force", TAG, check=False)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo repository as files on the host, readable by the image's user."""
    path = Path(tempfile.mkdtemp(dir=tmp_path_factory.mktemp("models")))
    install_demo_repository(path / "models", keep_complete=True)
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return path / "models"


@dataclass
class Container:
    """A running container of the image on the host network, bound to 127.0.0.1."""

    name: str
    http: int
    grpc: int

    def logs(self) -> str:
        """What the server printed."""
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr


@pytest.fixture()
def container(image: str, repository: Path) -> Iterator[Container]:
    """``podman run`` of the image as Kubernetes runs it (deploy/kubernetes): a read-only root
    filesystem, a scratch /cache, the demo repository mounted read-only at /models."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    name = f"modelport-test-{http}"
    start = time.monotonic()
    podman("run", "--detach", "--name", name, "--network", "host", "--read-only",
           "--tmpfs", "/cache:rw,U",
           "--volume", f"{repository}:/models:ro",
           "--env", f"MODELPORT_HEALTH_URL=http://127.0.0.1:{http}/v2/health/ready", image,
           "serve", "/models", "--http-address", "127.0.0.1", "--http-port", str(http),
           "--grpc-address", "127.0.0.1", "--grpc-port", str(grpc),
           "--metrics-address", "127.0.0.1", "--metrics-port", str(metrics))
    box = Container(name, http, grpc)
    try:
        _wait_ready(box, timeout_s=180)
        figure(f"container start -> ready: {time.monotonic() - start:.1f} s")
        yield box
    finally:
        podman("rm", "--force", "--time", "5", name, check=False)


def _wait_ready(box: Container, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{box.http}/v2/health/ready"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", box.name, check=False)
        assert state.stdout.strip() in ("running", "created"), box.logs()
        time.sleep(0.2)
    raise TimeoutError(f"container not ready after {timeout_s}s:\n{box.logs()}")


def test_image_runs_as_non_root_with_tini_and_a_readiness_healthcheck(image: str) -> None:
    """Config: user 10001, tini first, ports 8000-8002, HEALTHCHECK on /v2/health/ready, no
    pip certificate or pip left in the image."""
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][:3] == ["tini", "--", "modelport"]
    assert config["Cmd"][:2] == ["serve", "/models"]
    assert set(config["ExposedPorts"]) == {"8000/tcp", "8001/tcp", "8002/tcp"}
    assert "MODELPORT_HEALTH_URL" in " ".join(inspected["Healthcheck"]["Test"])
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["MODELPORT_HEALTH_URL"].endswith(":8000/v2/health/ready")
    assert not [k for k in env if "CERT" in k]
    inside = podman("run", "--rm", "--network", "host", "--entrypoint", "sh", image, "-c",
                    "id -u; ls /run/secrets 2>&1; python3 -m pip --version 2>&1; "
                    "ls -ld /cache | cut -d' ' -f3", check=False).stdout.splitlines()
    assert inside[0] == "10001"
    assert "No such file" in inside[1]
    assert "No module named pip" in inside[2]
    assert inside[3] == "modelport"


def test_container_serves_the_demo_and_reports_healthy(container: Container,
                                                      repository: Path) -> None:
    """tritonclient infers over HTTP and gRPC; podman's healthcheck says healthy."""
    check_demo_inference(f"127.0.0.1:{container.http}", f"127.0.0.1:{container.grpc}",
                         repository)
    health = podman("healthcheck", "run", container.name, check=False)
    assert health.returncode == 0, health.stdout + health.stderr


@dataclass
class Outcome:
    """One load request: when it was sent and answered, and how it ended."""

    sent: float | None
    done: float
    status: int | None
    error: str | None


def _resnet_body() -> tuple[bytes, dict[str, str]]:
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=True)
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor])
    return body, {"Inference-Header-Content-Length": str(json_size), "Connection": "close"}


def _load(port: int, stop_at: float, out: list[Outcome]) -> None:
    """Send resnet18 requests one after the other, a new connection each, until refused."""
    body, headers = _resnet_body()
    while time.monotonic() < stop_at:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        sent = None
        try:
            conn.request("POST", "/v2/models/resnet18/infer", body, headers)
            sent = time.monotonic()
            answer = conn.getresponse()
            answer.read()
            out.append(Outcome(sent, time.monotonic(), answer.status, None))
        except OSError as exc:
            out.append(Outcome(sent, time.monotonic(), None, type(exc).__name__))
            if isinstance(exc, ConnectionRefusedError):
                return
        finally:
            conn.close()


def test_sigterm_under_load_drains_requests_in_flight(container: Container) -> None:
    """Every request sent before SIGTERM is answered 200 (some of them after it); requests
    that reach the server once it is draining are refused 503 (nothing else is 5xx), and the
    container exits 0 within the drain timeout."""
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=_load, args=(container.http, time.monotonic() + 120,
                                                    outcomes)) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(3)
    signalled = time.monotonic()
    podman("kill", "--signal", "TERM", container.name)
    exit_code = int(podman("wait", container.name, timeout=120).stdout.strip())
    exited = time.monotonic()
    for t in threads:
        t.join(timeout=120)
    before = [o for o in outcomes if o.sent is not None and o.sent < signalled]
    drained = [o for o in before if o.done > signalled]
    assert exit_code == 0, container.logs()
    assert len(before) >= 6 and drained, (len(before), outcomes[-10:])
    assert all(o.status == 200 for o in before), [o for o in before if o.status != 200]
    # a request that arrives while the server drains is refused 503 ("shutting down"); one
    # whose bytes were sent just before the signal may arrive after it, so only 503 is allowed
    assert not [o for o in outcomes if o.status is not None and o.status >= 500
                and not (o.status == 503 and o.done > signalled)]
    assert exited - signalled < 30, container.logs()
    figure(f"container SIGTERM under load: {len(drained)} in-flight requests finished, "
           f"exit 0 after {exited - signalled:.1f} s")
