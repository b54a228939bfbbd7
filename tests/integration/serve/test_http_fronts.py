"""``--http-fronts N``: HTTP served by front processes that relay to the model process.

Every answer must be the one a server without fronts gives: tritonclient's sync and asyncio
HTTP clients through fronts that relay each request as it came (the default) and through
fronts that decode plain infer requests themselves (``--http-fronts-decode``; anything else
still crosses raw: raw tensors, shared memory, errors in Triton's precedence), checked
against the same server's gRPC front, which stays in the model process. Also: a killed front
is replaced while the other serves, statistics count relayed requests, and SIGTERM under
load answers every accepted request and leaves no front behind. (``make test`` also runs
the Triton QA and parity suites with fronts on, in both modes.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
from support.models import identity_model, random_like, simple_model, write_model
from tritonclient.utils import InferenceServerException

DATATYPES = ("FP32", "FP16", "INT64", "INT8", "UINT16", "BOOL", "BYTES")
MODES = [pytest.param([], id="raw"), pytest.param(["--http-fronts-decode"], id="decode")]


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_model(root, "simple", simple_model(), config='name: "simple"\nmax_batch_size: 8\n'
                'dynamic_batching { }\n')
    for datatype in DATATYPES:
        write_model(root, f"id_{datatype.lower()}", identity_model(datatype))
    return root


def _front_pids(server) -> list[int]:
    line = [x for x in server.log().splitlines() if "front process(es)" in x][-1]
    return [int(p) for p in line.rsplit("pids ", 1)[1].split(", ")]


def _post(url: str, body: bytes, headers: dict[str, str] | None = None,
          ) -> tuple[int, bytes]:
    request = urllib.request.Request(url, body, headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _simple_inputs(module, a: np.ndarray, b: np.ndarray, binary: bool = True) -> list:
    inputs = [module.InferInput("INPUT0", list(a.shape), "INT32"),
              module.InferInput("INPUT1", list(b.shape), "INT32")]
    if module is grpcclient:
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
    else:
        inputs[0].set_data_from_numpy(a, binary_data=binary)
        inputs[1].set_data_from_numpy(b, binary_data=binary)
    return inputs


@pytest.mark.parametrize("mode", MODES)
def test_every_datatype_matches_the_grpc_front(start_server, repo: Path, mode: list[str]) -> None:
    """Relayed HTTP answers (binary and JSON outputs) equal gRPC's for every datatype, and the
    log names the front processes."""
    server = start_server(repo, "--http-fronts", "2", *mode)
    assert len(_front_pids(server)) == 2
    http = httpclient.InferenceServerClient(server.http_url)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    for datatype in DATATYPES:
        model, data = f"id_{datatype.lower()}", random_like(datatype, [3, 5], seed=3)
        expected = _identity(grpcclient, grpc, model, datatype, data, True).as_numpy("y")
        for binary in (True, False):
            if datatype == "FP16" and not binary:
                continue  # tritonclient sends FP16 only as binary data
            got = _identity(httpclient, http, model, datatype, data, binary).as_numpy("y")
            if datatype == "BYTES" and not binary:  # JSON carries BYTES as text
                got = np.vectorize(str.encode, otypes=[object])(got)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(got, data)
    http.close()
    grpc.close()


def _identity(module, client, model: str, datatype: str, data: np.ndarray, binary: bool):
    tensor = module.InferInput("x", list(data.shape), datatype)
    if module is grpcclient:
        tensor.set_data_from_numpy(data)
        return client.infer(model, [tensor])
    tensor.set_data_from_numpy(data, binary_data=binary)
    return client.infer(model, [tensor],
                        outputs=[module.InferRequestedOutput("y", binary_data=binary)])


@pytest.mark.parametrize("mode", MODES)
def test_asyncio_client_under_concurrency(start_server, repo: Path, mode: list[str]) -> None:
    """200 concurrent tritonclient.http.aio requests through two fronts all come back right,
    and the model's statistics count every one."""
    server = start_server(repo, "--http-fronts", "2", *mode)
    rng = np.random.default_rng(5)
    pairs = [(rng.integers(-99, 99, (1, 16), dtype=np.int32),
              rng.integers(-99, 99, (1, 16), dtype=np.int32)) for _ in range(200)]

    async def run() -> list:
        client = httpaio.InferenceServerClient(server.http_url)
        try:
            return list(await asyncio.gather(*(
                client.infer("simple", _simple_inputs(httpaio, a, b), request_id=str(i))
                for i, (a, b) in enumerate(pairs))))
        finally:
            await client.close()

    for i, ((a, b), result) in enumerate(zip(pairs, asyncio.run(run()), strict=True)):
        assert result.get_response()["id"] == str(i)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + b)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
    http = httpclient.InferenceServerClient(server.http_url)
    stats = http.get_inference_statistics("simple")["model_stats"][0]["inference_stats"]
    assert stats["success"]["count"] == 200
    http.close()


@pytest.mark.parametrize("mode", MODES)
def test_raw_path_and_errors_match_a_server_without_fronts(start_server, repo: Path,
                                                           mode: list[str]) -> None:
    """Requests a front cannot decode alone (a raw tensor body, bad JSON, an unknown model
    with a bad body, too many inputs) get the same status and words as without fronts."""
    plain = start_server(repo, "--http-fronts", "0")
    fronted = start_server(repo, "--http-fronts", "1", *mode)
    raw = np.arange(16, dtype=np.int32).tobytes()
    cases = [
        ("/v2/models/id_fp32/infer", np.ones((2, 3), np.float32).tobytes(),
         {"Inference-Header-Content-Length": "0"}),
        ("/v2/models/simple/infer", b"{not json", {}),
        ("/v2/models/nope/infer", b"{not json", {}),
        ("/v2/models/simple/infer", json.dumps({"inputs": [
            {"name": n, "datatype": "INT32", "shape": [1, 16], "data": list(range(16))}
            for n in ("INPUT0", "INPUT1", "INPUT2")]}).encode(), {}),
        ("/v2/models/simple/versions/7/infer", json.dumps({"inputs": []}).encode(), {}),
        ("/v2/models/simple/infer", json.dumps({"inputs": [
            {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16],
             "parameters": {"binary_data_size": 64}}]}).encode() + raw,
         {"Inference-Header-Content-Length": "x"}),
    ]
    for path, body, headers in cases:
        want = _post(f"http://{plain.http_url}{path}", body, headers)
        got = _post(f"http://{fronted.http_url}{path}", body, headers)
        assert got[0] == want[0], (path, got, want)
        if want[0] != 200:
            assert json.loads(got[1]) == json.loads(want[1]), path
    assert _post(f"http://{fronted.http_url}/v2/models/id_fp32/infer", b"\0" * 24,
                 {"Inference-Header-Content-Length": "0"})[0] == 200


def test_a_killed_front_is_replaced(start_server, repo: Path) -> None:
    """SIGKILL one of two fronts: the other keeps serving, a new front takes the dead one's
    place (the log says so) and the server still stops cleanly."""
    server = start_server(repo, "--http-fronts", "2")
    first = _front_pids(server)
    os.kill(first[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while "starting another" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    a = np.ones((1, 16), np.int32)
    served = 0
    while time.monotonic() < deadline and served < 20:
        client = httpclient.InferenceServerClient(server.http_url)  # a fresh connection
        try:
            result = client.infer("simple", _simple_inputs(httpclient, a, a))
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + a)
            served += 1
        except InferenceServerException:
            time.sleep(0.1)
        finally:
            client.close()
    assert served == 20, server.log()
    assert "exited with code -9; starting another" in server.log()
    assert server.stop() == 0, server.log()
    for pid in first[1:]:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_sigterm_under_load_answers_everything(start_server, repo: Path) -> None:
    """SIGTERM while four clients send through fronts: every request sent before the stop is
    answered (200, or 503 once the server refuses new work), the server exits 0 and its
    front processes are gone."""
    server = start_server(repo, "--http-fronts", "2")
    pids = _front_pids(server)
    stop = threading.Event()
    outcomes: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        a = np.ones((1, 16), np.int32)
        http = httpclient.InferenceServerClient(server.http_url, network_timeout=30)
        while not stop.is_set():
            try:
                http.infer("simple", _simple_inputs(httpclient, a, a))
                code = 200
            except InferenceServerException as exc:
                code = int(exc.status() or 0)
            except Exception:  # the connection closed as the server left
                break
            with lock:
                outcomes.append(code)
        http.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    assert server.stop() == 0, server.log()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert outcomes.count(200) > 50
    assert set(outcomes) <= {200, 503}, sorted(set(outcomes))
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_the_command_line_default_follows_the_cores(start_server, repo: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --http-fronts the server starts one front process where it may use 2+ cores
    and none when held to one core (taskset's affinity); both answer alike."""
    monkeypatch.delenv("MODELPORT_TEST_HTTP_FRONTS", raising=False)
    wide = start_server(repo)
    narrow = start_server(repo, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert set(_front_pids(wide)) <= _children(wide.proc.pid)  # and multiprocessing's tracker
    assert "front process(es)" not in narrow.log() and not _children(narrow.proc.pid)
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    for server in (wide, narrow):
        client = httpclient.InferenceServerClient(server.http_url)
        out = client.infer("simple", _simple_inputs(httpclient, a, a)).as_numpy("OUTPUT0")
        np.testing.assert_array_equal(out, a + a)
        client.close()


def test_bad_flag_values_are_refused(start_server, repo: Path, tmp_path: Path) -> None:
    """--http-fronts outside 0..64, and decoding fronts without fronts, are clear
    configuration errors."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "modelport", "serve", str(repo),
                           "--http-fronts", "65"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "--http-fronts must be between 0 and 64" in done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "modelport", "serve", str(repo),
                           "--http-fronts", "0", "--http-fronts-decode"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "--http-fronts-decode needs front processes" in done.stdout + done.stderr


def test_sigterm_to_the_whole_group_still_drains(start_server, repo: Path) -> None:
    """SIGTERM sent to every process of the server (as systemd's stop does) leaves the fronts
    to the model process: requests keep being answered until it stops them, then all exit."""
    server = start_server(repo, "--http-fronts", "2")
    pids = _front_pids(server)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    a = np.ones((1, 16), np.int32)
    client = httpclient.InferenceServerClient(server.http_url)
    for _ in range(5):
        np.testing.assert_array_equal(
            client.infer("simple", _simple_inputs(httpclient, a, a)).as_numpy("OUTPUT0"), a + a)
    client.close()
    assert "starting another" not in server.log()
    assert server.stop() == 0, server.log()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
