"""Zero-downtime lifecycle under a steady request stream: reloads, failed versions, rollback,
unload and the drain deadline, all through unmodified tritonclient over HTTP and gRPC.

Model ``m`` computes ``out = a * scale + b`` where each version's scale is its version number,
so every answer proves which version computed it. A timeline records when each change began and
when it was first seen; an answer is consistent when its version could have been the serving
one at some moment while the request was open.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from onnx import TensorProto, helper
from support.models import add_model, write_model
from tritonclient.utils import InferenceServerException

MODEL = "m"
POLL = ("--model-control-mode", "poll", "--repository-poll-secs", "0.2")
EXPLICIT = ("--model-control-mode", "explicit", "--load-model", MODEL)
WAIT_S = 20.0  # the longest any change may take to show; far above what it needs
SLOW_CONFIG = """
backend: "fake"
max_batch_size: 0
input [{{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }}]
output [{{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }}]
parameters {{ key: "delay_ms" value {{ string_value: "{delay_ms}" }} }}
"""
BAD_WARMUP_CONFIG = """
model_warmup [{
  name: "wrong_dims"
  batch_size: 1
  inputs { key: "a" value { data_type: TYPE_FP32 dims: [ 5 ] zero_data: true } }
  inputs { key: "b" value { data_type: TYPE_FP32 dims: [ 5 ] zero_data: true } }
}]
"""
WRONG_INPUT_CONFIG = 'input [{ name: "nope" data_type: TYPE_FP32 dims: [ 4 ] }]'
WARMUP_CONFIG = BAD_WARMUP_CONFIG.replace("wrong_dims", "zeros").replace("[ 5 ]", "[ 4 ]")


# --- model files -------------------------------------------------------------------------------


def scaled(version: int) -> bytes:
    """The ONNX file of version ``version``: out = a * version + b."""
    return add_model(float(version)).SerializeToString()


def fails_when_run() -> bytes:
    """A valid ONNX file with the add model's signature whose every run fails (bad Gather)."""
    spec = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 4])
            for n in ("a", "b", "out", "diff")]
    idx = helper.make_tensor("idx", TensorProto.INT64, [4], [7, 7, 7, 7])
    nodes = [helper.make_node("Gather", ["a", "idx"], ["g"], axis=1),
             helper.make_node("Add", ["g", "b"], ["out"]),
             helper.make_node("Sub", ["a", "b"], ["diff"])]
    graph = helper.make_graph(nodes, "fails", spec[:2], spec[2:], initializer=[idx])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def place_version(repo: Path, staging: Path, version: int, data: bytes) -> float:
    """Build a version folder aside, then rename it into place (what a careful deploy does).

    Returns:
        The monotonic time just before the folder appeared.
    """
    folder = staging / f"v{version}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(data)
    started = time.monotonic()
    os.rename(folder, repo / MODEL / str(version))
    return started


def remove_version(repo: Path, staging: Path, version: int) -> float:
    """Move a version folder out of the repository in one rename; returns when it began."""
    started = time.monotonic()
    os.rename(repo / MODEL / str(version), staging / f"removed-{version}-{time.monotonic_ns()}")
    return started


def write_config(repo: Path, text: str | None) -> None:
    """Replace (or with None remove) config.pbtxt in one step."""
    path = repo / MODEL / "config.pbtxt"
    if text is None:
        path.unlink()
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- observing the server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One successful inference: when it was open and what answered it."""

    start: float
    end: float
    version: int
    scale: float  # recovered from the output values


class Timeline:
    """Which version serves by default, as far as the test can know it.

    Each change has the moment the test began it and the moment it was seen done. State k can
    only have served between the start of change k and the moment change k+1 was seen done.
    """

    def __init__(self, first: int) -> None:
        self.changes: list[tuple[float, float, int]] = [(-math.inf, -math.inf, first)]

    def add(self, started: float, seen: float, version: int) -> None:
        """Record that ``version`` serves since some moment in [started, seen]."""
        self.changes.append((started, seen, version))

    def allows(self, answer: Answer) -> bool:
        """Whether ``answer.version`` could have served at some moment the request was open."""
        ends = [seen for _, seen, _ in self.changes[1:]] + [math.inf]
        return any(
            version == answer.version and started < answer.end and until > answer.start
            for (started, _, version), until in zip(self.changes, ends, strict=True)
        )


class Traffic:
    """An HTTP and a gRPC client inferring on MODEL, and a readiness prober, until stopped.

    Every loop is bounded by a request count and a deadline, so a wedged server fails the test
    instead of hanging it.
    """

    def __init__(self, server: Any, max_seconds: float = 45.0, max_requests: int = 20000) -> None:
        self.server = server
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self.not_ready: list[str] = []
        self.readiness_checks = 0
        self._deadline = time.monotonic() + max_seconds
        self._max_requests = max_requests
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._guard, args=(loop,), daemon=True)
                         for loop in (self._http_loop, self._grpc_loop, self._ready_loop)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        wait_until(lambda: len(self.answers) >= 5 or bool(self.errors), "first answers")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"

    def _running(self) -> bool:
        return (not self._stop.is_set() and time.monotonic() < self._deadline
                and len(self.answers) + len(self.errors) < self._max_requests)

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Exception as exc:  # reported as a failure, never lost
            with self._lock:
                self.errors.append(f"{loop.__name__} crashed: {exc!r}")

    def _infer_loop(self, call: Callable[[np.ndarray, np.ndarray], tuple[str, np.ndarray]],
                    ) -> None:
        rng = np.random.default_rng(threading.get_ident() % 2**32)
        while self._running():
            a = rng.uniform(1.0, 2.0, (1, 4)).astype(np.float32)
            b = rng.uniform(-1.0, 1.0, (1, 4)).astype(np.float32)
            start = time.monotonic()
            try:
                version, out = call(a, b)
            except InferenceServerException as exc:
                with self._lock:
                    self.errors.append(f"{time.monotonic():.3f} {exc}")
                continue
            scale = float(np.mean((out - b) / a))
            with self._lock:
                self.answers.append(Answer(start, time.monotonic(), int(version), scale))

    def _http_loop(self) -> None:
        client = httpclient.InferenceServerClient(self.server.http_url, network_timeout=20)

        def call(a: np.ndarray, b: np.ndarray) -> tuple[str, np.ndarray]:
            inputs = [httpclient.InferInput("a", [1, 4], "FP32"),
                      httpclient.InferInput("b", [1, 4], "FP32")]
            inputs[0].set_data_from_numpy(a, binary_data=True)
            inputs[1].set_data_from_numpy(b, binary_data=False)
            result = client.infer(MODEL, inputs)
            return result.get_response()["model_version"], result.as_numpy("out")

        try:
            self._infer_loop(call)
        finally:
            client.close()

    def _grpc_loop(self) -> None:
        client = grpcclient.InferenceServerClient(self.server.grpc_url)

        def call(a: np.ndarray, b: np.ndarray) -> tuple[str, np.ndarray]:
            inputs = [grpcclient.InferInput("a", [1, 4], "FP32"),
                      grpcclient.InferInput("b", [1, 4], "FP32")]
            inputs[0].set_data_from_numpy(a)
            inputs[1].set_data_from_numpy(b)
            result = client.infer(MODEL, inputs, client_timeout=20)
            return result.get_response().model_version, result.as_numpy("out")

        try:
            self._infer_loop(call)
        finally:
            client.close()

    def _ready_loop(self) -> None:
        http = httpclient.InferenceServerClient(self.server.http_url, network_timeout=20)
        grpc = grpcclient.InferenceServerClient(self.server.grpc_url)
        try:
            while self._running():
                for name, probe in (("http", http.is_model_ready), ("grpc", grpc.is_model_ready)):
                    if not probe(MODEL):
                        with self._lock:
                            self.not_ready.append(f"{time.monotonic():.3f} {name}")
                    self.readiness_checks += 1
                time.sleep(0.005)
        finally:
            http.close()
            grpc.close()

    def check(self, timeline: Timeline) -> None:
        """Zero failures, readiness never false, every answer consistent with the timeline."""
        assert not self.errors, f"{len(self.errors)} failed requests, first: {self.errors[:3]}"
        assert not self.not_ready, f"readiness went false: {self.not_ready[:3]}"
        assert self.readiness_checks > 0 and self.answers
        wrong = [a for a in self.answers if a.scale != pytest.approx(a.version, abs=1e-3)]
        assert not wrong, f"outputs disagree with model_version: {wrong[:3]}"
        stray = [a for a in self.answers if not timeline.allows(a)]
        assert not stray, f"answers from versions not live at the time: {stray[:3]}"

    def versions(self) -> set[int]:
        """Every version that answered."""
        return {a.version for a in self.answers}


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> float:
    """Poll ``predicate`` (bounded); returns the monotonic time it was first seen true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def serving(client: httpclient.InferenceServerClient, version: int) -> Callable[[], bool]:
    """A predicate: MODEL's live versions are exactly [version]."""
    return lambda: client.get_model_metadata(MODEL)["versions"] == [str(version)]


def index_rows(client: httpclient.InferenceServerClient) -> list[dict[str, str]]:
    """The repository index rows of MODEL."""
    return [r for r in client.get_model_repository_index() if r["name"] == MODEL]


def row(client: httpclient.InferenceServerClient, version: str | None) -> dict[str, str] | None:
    """MODEL's index row for ``version`` (None: the row without a version), if any."""
    return next((r for r in index_rows(client) if r.get("version") == version), None)


def infer_version(client: httpclient.InferenceServerClient) -> int:
    """One request on MODEL; the version that answered (its output agrees with it)."""
    a = np.full((1, 4), 1.0, np.float32)
    inputs = [httpclient.InferInput("a", [1, 4], "FP32"),
              httpclient.InferInput("b", [1, 4], "FP32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(np.zeros((1, 4), np.float32))
    result = client.infer(MODEL, inputs)
    version = int(result.get_response()["model_version"])
    np.testing.assert_allclose(result.as_numpy("out"), a * version)
    return version


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository holding MODEL version 1 (no config.pbtxt: completed from the graph)."""
    root = tmp_path / "models"
    write_model(root, MODEL, scaled(1), version=1)
    return root


@pytest.fixture()
def connect() -> Iterator[Callable[..., Any]]:
    """A factory: connect(server) or connect(server, "grpc") -> a client, closed after the test."""
    opened: list[Any] = []

    def make(server: Any, kind: str = "http") -> Any:
        client = (httpclient.InferenceServerClient(server.http_url) if kind == "http"
                  else grpcclient.InferenceServerClient(server.grpc_url))
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture()
def staging(tmp_path: Path) -> Path:
    """A folder on the repository's file system for building and retiring version folders."""
    path = tmp_path / "staging"
    path.mkdir()
    return path


# --- reloads under load ------------------------------------------------------------------------


def test_poll_mode_new_versions_flip_without_failures(start_server, connect, repo: Path,
                                                       staging: Path) -> None:
    """Poll mode: each new version folder takes over with zero failed requests and readiness."""
    server = start_server(repo, *POLL)
    watch = connect(server)
    timeline = Timeline(first=1)
    last = 12
    with Traffic(server) as traffic:
        for version in range(2, last + 1):
            started = place_version(repo, staging, version, scaled(version))
            timeline.add(started, wait_until(serving(watch, version), f"version {version}"),
                         version)
            time.sleep(0.2)  # let both clients hit the new version
    traffic.check(timeline)
    assert {1, last} <= traffic.versions()
    assert infer_version(watch) == last
    wait_until(lambda: f"unloaded model 'm' version {last - 1}" in server.log(),
               "the previous version to be freed")


def test_explicit_loads_with_overrides_and_files_flip_without_failures(
        start_server, connect, tmp_path: Path) -> None:
    """Explicit loads (config overrides, model files in the request) never fail a request."""
    root = tmp_path / "models"
    for version in (1, 2, 3):
        write_model(root, MODEL, scaled(version), version=version)
    server = start_server(root, *EXPLICIT)
    http = connect(server)
    grpc = connect(server, "grpc")

    def policy(kind: str, value: Any) -> str:
        return json.dumps({"version_policy": {kind: value}})

    steps: list[tuple[str | None, dict[str, bytes] | None, int]] = [
        (policy("specific", {"versions": [1]}), None, 1),
        (policy("latest", {"num_versions": 1}), None, 3),
        (policy("specific", {"versions": [2]}), None, 2),
        (policy("all", {}), None, 3),
        (policy("latest", {"num_versions": 1}), {"file:7/model.onnx": scaled(7)}, 7),
        (None, None, 3),
        (policy("specific", {"versions": [1, 2]}), None, 2),
        (None, None, 3),
    ]
    timeline = Timeline(first=3)
    with Traffic(server) as traffic:
        for i, (config, files, expected) in enumerate(steps * 2):
            client: Any = http if i % 2 == 0 else grpc
            started = time.monotonic()
            client.load_model(MODEL, config=config, files=files)
            timeline.add(started, time.monotonic(), expected)
            assert infer_version(http) == expected, f"step {i}: {config} {files and list(files)}"
            time.sleep(0.1)
    traffic.check(timeline)
    assert {1, 2, 3, 7} <= traffic.versions()


def test_rollback_by_removing_newest_version(start_server, connect, repo: Path,
                                              staging: Path) -> None:
    """Poll mode: removing the newest version folder goes back to the previous version."""
    place_version(repo, staging, 2, scaled(2))
    server = start_server(repo, *POLL)
    watch = connect(server)
    assert infer_version(watch) == 2
    timeline = Timeline(first=2)
    changes: list[tuple[Callable[[], float], int]] = [
        (lambda: remove_version(repo, staging, 2), 1),
        (lambda: place_version(repo, staging, 3, scaled(3)), 3),
        (lambda: remove_version(repo, staging, 3), 1),
        (lambda: place_version(repo, staging, 2, scaled(2)), 2),
    ]
    with Traffic(server) as traffic:
        for change, version in changes:
            started = change()
            timeline.add(started, wait_until(serving(watch, version), f"version {version}"),
                         version)
            time.sleep(0.3)
    traffic.check(timeline)
    assert traffic.versions() == {1, 2, 3}


# --- failed versions ---------------------------------------------------------------------------


def test_failed_versions_keep_the_old_one_serving(start_server, connect, repo: Path,
                                                  staging: Path) -> None:
    """Corrupt file, failing warm-up, broken config: the old version serves; the index says why."""
    server = start_server(repo, *POLL)
    watch = connect(server)
    timeline = Timeline(first=1)
    with Traffic(server) as traffic:
        place_version(repo, staging, 2, b"\x00garbage, not a protobuf\xff" * 64)
        wait_until(lambda: (row(watch, "2") or {}).get("state") == "UNAVAILABLE", "v2 failure")
        assert "not a readable ONNX model" in row(watch, "2")["reason"]
        assert row(watch, "1") == {"name": MODEL, "version": "1", "state": "READY"}

        write_config(repo, WARMUP_CONFIG)  # warm-up runs only when configured (Triton's rule)
        place_version(repo, staging, 3, fails_when_run())
        wait_until(lambda: (row(watch, "3") or {}).get("state") == "UNAVAILABLE", "v3 failure")
        assert "indices element out of data bounds" in row(watch, "3")["reason"]
        assert infer_version(watch) == 1 and watch.is_model_ready(MODEL)

        started = place_version(repo, staging, 4, scaled(4))
        timeline.add(started, wait_until(serving(watch, 4), "version 4"), 4)
        assert [r.get("version") for r in index_rows(watch)] == ["4"]

        write_config(repo, WRONG_INPUT_CONFIG)
        wait_until(lambda: row(watch, None) is not None, "the config failure")
        assert "'nope' is not in the ONNX graph" in row(watch, None)["reason"]
        assert row(watch, None)["state"] == "UNAVAILABLE"
        assert infer_version(watch) == 4

        write_config(repo, BAD_WARMUP_CONFIG)
        place_version(repo, staging, 5, scaled(5))
        wait_until(lambda: (row(watch, "5") or {}).get("state") == "UNAVAILABLE", "v5 failure")
        assert "Got invalid dimensions for input" in row(watch, "5")["reason"]
        assert infer_version(watch) == 4

        write_config(repo, None)
        started = time.monotonic()
        timeline.add(started, wait_until(serving(watch, 5), "version 5 once fixed"), 5)
        assert index_rows(watch) == [{"name": MODEL, "version": "5", "state": "READY"}]
        time.sleep(0.2)
    traffic.check(timeline)
    assert metric(server, 'modelport_model_loads_total{model="m",outcome="failure"}') >= 4
    log = server.log()
    for needle in ("version 2 failed to load", "version 3 failed to load",
                   "'nope' is not in the ONNX graph", "version 5 failed to load"):
        assert needle in log, f"the log does not say {needle!r}:\n{log[-3000:]}"


def test_explicit_failed_reload_answers_with_reason(start_server, connect, repo: Path) -> None:
    """Explicit load whose warm-up fails answers with the reason; the loaded version serves on."""
    server = start_server(repo, *EXPLICIT)
    http = connect(server)
    override = json.dumps({"model_warmup": [{
        "name": "wrong_dims", "batch_size": 1,
        "inputs": {n: {"data_type": "TYPE_FP32", "dims": [5], "zero_data": True}
                   for n in ("a", "b")}}]})
    with pytest.raises(InferenceServerException, match=r"version 1: .*invalid dimensions"):
        http.load_model(MODEL, config=override)
    grpc = connect(server, "grpc")
    with pytest.raises(InferenceServerException, match=r"version 1: .*invalid dimensions"):
        grpc.load_model(MODEL, config=override)
    assert http.is_model_ready(MODEL) and infer_version(http) == 1
    http.load_model(MODEL)
    assert infer_version(http) == 1


# --- unload and drain --------------------------------------------------------------------------


def slow_repo(root: Path, delay_ms: int) -> Path:
    """A repository with model 'slow' (fake backend, no model file) taking delay_ms per batch."""
    (root / "slow" / "1").mkdir(parents=True)
    (root / "slow" / "config.pbtxt").write_text(SLOW_CONFIG.format(delay_ms=delay_ms))
    return root


def slow_infer(url: str, timeout_s: float = 15.0) -> tuple[str, str]:
    """One HTTP request to 'slow': ('ok', version), ('error', 'status: message') or 'hang'."""
    client = httpclient.InferenceServerClient(url, network_timeout=timeout_s,
                                              connection_timeout=timeout_s)
    x = httpclient.InferInput("x", [4], "FP32")
    x.set_data_from_numpy(np.arange(4, dtype=np.float32))
    try:
        result = client.infer("slow", [x])
    except InferenceServerException as exc:
        return "error", f"{exc.status()}: {exc.message()}"
    except Exception as exc:  # a client-side timeout: the "hang" outcome
        return "hang", repr(exc)
    finally:
        client.close()
    np.testing.assert_array_equal(result.as_numpy("y"), np.arange(4, dtype=np.float32))
    return "ok", result.get_response()["model_version"]


def test_reload_finishes_running_and_queued_requests_on_the_old_version(
        start_server, connect, tmp_path: Path) -> None:
    """A request running or queued on the old version when traffic flips is answered by it."""
    root = slow_repo(tmp_path / "models", 400)
    server = start_server(root, "--model-control-mode", "explicit", "--load-model", "slow")
    http = connect(server)
    with ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(slow_infer, server.http_url) for _ in range(3)]
        wait_until(lambda: pending(server, "slow") == 3, "one running, two queued", 10)
        (root / "slow" / "2").mkdir()
        http.load_model("slow")
        assert http.get_model_metadata("slow")["versions"] == ["2"]
        assert slow_infer(server.http_url) == ("ok", "2")
        outcomes = [f.result(timeout=30) for f in calls]
    assert outcomes == [("ok", "1")] * 3
    wait_until(lambda: "unloaded model 'slow' version 1" in server.log(), "version 1 freed")


def test_unload_drains_in_flight_and_queued_requests(start_server, connect,
                                                     tmp_path: Path) -> None:
    """Unload lets running and queued requests finish; later ones get 404 / NOT_FOUND."""
    server = start_server(slow_repo(tmp_path / "models", 400), "--model-control-mode",
                          "explicit", "--load-model", "slow")
    http = connect(server)
    grpc = connect(server, "grpc")
    with ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(slow_infer, server.http_url) for _ in range(3)]
        wait_until(lambda: pending(server, "slow") == 3, "one running, two queued", 10)
        grpc.unload_model("slow")
        assert not http.is_model_ready("slow")
        outcomes = [f.result(timeout=30) for f in calls]
    assert outcomes == [("ok", "1")] * 3
    x = httpclient.InferInput("x", [4], "FP32")
    x.set_data_from_numpy(np.zeros(4, np.float32))
    with pytest.raises(InferenceServerException) as http_error:
        http.infer("slow", [x])
    assert http_error.value.status() == "404"
    gx = grpcclient.InferInput("x", [4], "FP32")
    gx.set_data_from_numpy(np.zeros(4, np.float32))
    with pytest.raises(InferenceServerException) as grpc_error:
        grpc.infer("slow", [gx], client_timeout=10)
    assert grpc_error.value.status() == "StatusCode.NOT_FOUND"
    wait_until(lambda: "unloaded model 'slow' version 1" in server.log(), "the drain to end")
    assert {"name": "slow", "state": "UNAVAILABLE", "reason": "unloaded"} in (
        http.get_model_repository_index())
    assert server.alive()


def metric(server: Any, series: str) -> float:
    """One sample from the server's /metrics (0 when the series is absent)."""
    with urllib.request.urlopen(f"http://{server.http_url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return 0.0


def pending(server: Any, model: str) -> int:
    """Requests of ``model`` queued or executing."""
    return int(metric(server, f'nv_inference_pending_request_count{{model="{model}",version="1"}}'))


def test_drain_deadline_frees_the_version_and_answers_every_request(
        start_server, connect, tmp_path: Path) -> None:
    """Past --drain-timeout the version is freed; unfinished requests get a clear error."""
    server = start_server(slow_repo(tmp_path / "models", 1500), "--model-control-mode",
                          "explicit", "--load-model", "slow", "--drain-timeout", "0.3")
    http = connect(server)
    outcomes: list[tuple[str, str]] = []
    try:
        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(slow_infer, server.http_url, 5.0) for _ in range(2)]
            wait_until(lambda: pending(server, "slow") == 2, "one running, one queued", 10)
            http.unload_model("slow")
            outcomes = [f.result(timeout=30) for f in calls]
        wait_until(lambda: "unloaded model 'slow' version 1" in server.log(), "the deadline")
        assert all(kind in ("ok", "error") for kind, _ in outcomes), outcomes
        errors = [detail for kind, detail in outcomes if kind == "error"]
        assert errors, "1.5 s of work cannot all finish inside a 0.3 s deadline"
        assert all(e.startswith("503: ") and "unloaded" in e for e in errors), errors
        assert server.alive() and not http.is_model_ready("slow")
    finally:
        if any(kind == "hang" for kind, _ in outcomes):
            server.proc.kill()  # the unanswered request would hold up a graceful stop
