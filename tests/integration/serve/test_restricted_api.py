"""Triton's restricted API groups on a real ``modelport serve``, per group, over HTTP and gRPC
with tritonclient (``headers=...``), and how they combine with the control token.

One server restricts every group, split between two keys as Triton's own test does (admin
groups under ``admin-key``, the rest under ``infer-key``); for each group a call without the
header, and with the other key's header, is refused with Triton's status and words (HTTP 403
"This API is restricted, expecting header ..."; gRPC UNAVAILABLE "This protocol is restricted,
expecting header 'triton-grpc-protocol-...'"), and a call with the header goes through. A
second server restricts one group and leaves the others open. Every refusal is checked for
what it must not carry (stack traces, server paths, object reprs).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.models import identity_model, write_model
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException

from modelport.serve.grpc.proto import health_pb2

ADMIN = ("model-repository", "shared-memory", "trace", "logging")
INFER = ("inference", "metadata", "health", "model-config", "statistics")
TOKEN = "control-secret"
HTTP_KEYS = {"admin": {"admin-key": "admin-value"}, "infer": {"infer-key": "infer-value"}}
GRPC_KEYS = {"admin": {"triton-grpc-protocol-admin-key": "admin-value"},
             "infer": {"triton-grpc-protocol-infer-key": "infer-value"}}


def key_of(group: str) -> str:
    """Which key's restriction holds ``group``."""
    return "admin" if group in ADMIN else "infer"


def other(key: str) -> str:
    """The other key."""
    return "infer" if key == "admin" else "admin"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ident``: an FP32 identity model."""
    repo = tmp_path_factory.mktemp("restricted") / "repo"
    write_model(repo, "ident", identity_model("FP32"))
    return repo


@pytest.fixture(scope="module")
def server(repo: Path, cache_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Every group restricted on both fronts, explicit mode, a control token."""
    flags = ["--model-control-mode", "explicit", "--load-model", "ident",
             "--control-token", TOKEN]
    for flag in ("--http-restricted-api", "--grpc-restricted-protocol"):
        flags += [flag, f"{','.join(ADMIN)}:admin-key=admin-value",
                  flag, f"{','.join(INFER)}:infer-key=infer-value"]
    proc = ServerProcess(repo, *flags, log_path=tmp_path_factory.mktemp("logs") / "r.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)},
                         live_headers=HTTP_KEYS["infer"])
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


def assert_clean(message: str, repo: Path) -> None:
    """No stack trace, server path or Python object repr in a client-facing message."""
    for marker in ("Traceback", 'File "', " object at 0x", "<modelport.", str(repo),
                   sys.prefix, "site-packages", ".py:"):
        assert marker not in message, f"{marker!r} in {message!r}"


def _inputs(module: Any) -> list[Any]:
    x = np.ones((1, 4), np.float32)
    inp = module.InferInput("x", [1, 4], "FP32")
    inp.set_data_from_numpy(x)
    return [inp]


# -- HTTP ---------------------------------------------------------------------------------

HttpCall = Callable[[httpclient.InferenceServerClient, dict[str, str]], Any]

HTTP_CALLS: dict[str, list[HttpCall]] = {
    "metadata": [lambda c, h: c.get_server_metadata(headers=h),
                 lambda c, h: c.get_model_metadata("ident", headers=h)],
    "inference": [lambda c, h: c.infer("ident", _inputs(httpclient), headers=h)],
    "model-config": [lambda c, h: c.get_model_config("ident", headers=h)],
    "statistics": [lambda c, h: c.get_inference_statistics(headers=h),
                   lambda c, h: c.get_inference_statistics("ident", headers=h)],
    "trace": [lambda c, h: c.get_trace_settings(headers=h),
              lambda c, h: c.get_trace_settings("ident", headers=h)],
    "logging": [lambda c, h: c.get_log_settings(headers=h)],
    "shared-memory": [lambda c, h: c.get_system_shared_memory_status(headers=h)],
    "model-repository": [lambda c, h: c.get_model_repository_index(headers=h)],
}


@pytest.mark.parametrize("group", sorted(HTTP_CALLS))
def test_http_group_needs_its_header(server: ServerProcess, repo: Path, group: str) -> None:
    """Without the group's header (or with the other key's): 403 and Triton's words; with
    it: answered."""
    client = httpclient.InferenceServerClient(server.http_url)
    key = key_of(group)
    header = next(iter(HTTP_KEYS[key]))
    for call in HTTP_CALLS[group]:
        for headers in ({}, HTTP_KEYS[other(key)], {header: "wrong"}):
            with pytest.raises(InferenceServerException) as caught:
                call(client, headers)
            assert caught.value.status() == "403"
            assert caught.value.message() == (
                f"This API is restricted, expecting header '{header}'")
            assert_clean(caught.value.message(), repo)
        call(client, HTTP_KEYS[key])
    client.close()


def test_http_health_group(server: ServerProcess, repo: Path) -> None:
    """Health (server live/ready, model ready) answers only with infer-key; without it the
    answer is 403 with Triton's words (tritonclient's health calls read that as False)."""
    client = httpclient.InferenceServerClient(server.http_url)
    good = HTTP_KEYS["infer"]
    for check in (lambda h: client.is_server_live(headers=h),
                  lambda h: client.is_server_ready(headers=h),
                  lambda h: client.is_model_ready("ident", headers=h)):
        assert check(good) is True
        assert check({}) is False and check(HTTP_KEYS["admin"]) is False
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/ident/ready"):
        status, body = _get(server, path)
        assert status == 403
        assert body == {"error": "This API is restricted, expecting header 'infer-key'"}
    client.close()


def test_http_cuda_shared_memory_is_shared_memory(server: ServerProcess) -> None:
    """CUDA shared memory routes are in shared-memory too: restricted first, then answered."""
    client = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException, match="This API is restricted"):
        client.get_cuda_shared_memory_status()
    with pytest.raises(InferenceServerException, match="CUDA shared memory is not supported"):
        client.get_cuda_shared_memory_status(headers=HTTP_KEYS["admin"])
    client.close()


def test_metrics_on_the_http_port_is_statistics(server: ServerProcess) -> None:
    """/metrics on the HTTP port counts as statistics."""
    assert _get(server, "/metrics")[0] == 403
    assert _get(server, "/metrics", HTTP_KEYS["infer"])[0] == 200


def test_http_load_needs_restriction_header_and_control_token(server: ServerProcess,
                                                              repo: Path) -> None:
    """A load passes both checks: the model-repository header, then the control token."""
    client = httpclient.InferenceServerClient(server.http_url)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(InferenceServerException, match="expecting header 'admin-key'") as a:
        client.load_model("ident", headers=bearer)
    with pytest.raises(InferenceServerException, match="--control-token") as b:
        client.load_model("ident", headers=HTTP_KEYS["admin"])
    for caught in (a, b):
        assert caught.value.status() == "403"
        assert_clean(caught.value.message(), repo)
    client.load_model("ident", headers={**HTTP_KEYS["admin"], **bearer})
    assert client.is_model_ready("ident", headers=HTTP_KEYS["infer"])
    client.close()


def test_debug_endpoints_are_off_by_default(server: ServerProcess, repo: Path) -> None:
    """Without --debug-endpoints the debug routes do not exist (404), whatever the headers."""
    for path in ("/v2/debug/memory", "/v2/debug/models"):
        status, body = _get(server, path, {**HTTP_KEYS["admin"], **HTTP_KEYS["infer"],
                                           "Authorization": f"Bearer {TOKEN}"})
        assert status == 404
        assert_clean(body["error"], repo)


def _get(server: ServerProcess, path: str, headers: dict[str, str] | None = None,
         ) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://{server.http_url}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        exc.close()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


# -- gRPC ---------------------------------------------------------------------------------

GrpcCall = Callable[[grpcclient.InferenceServerClient, dict[str, str]], Any]

GRPC_CALLS: dict[str, list[GrpcCall]] = {
    "health": [lambda c, h: c.is_server_live(headers=h),
               lambda c, h: c.is_server_ready(headers=h),
               lambda c, h: c.is_model_ready("ident", headers=h)],
    "metadata": [lambda c, h: c.get_server_metadata(headers=h),
                 lambda c, h: c.get_model_metadata("ident", headers=h)],
    "inference": [lambda c, h: c.infer("ident", _inputs(grpcclient), headers=h)],
    "model-config": [lambda c, h: c.get_model_config("ident", headers=h)],
    "statistics": [lambda c, h: c.get_inference_statistics(headers=h)],
    "trace": [lambda c, h: c.get_trace_settings(headers=h)],
    "logging": [lambda c, h: c.get_log_settings(headers=h)],
    "shared-memory": [lambda c, h: c.get_system_shared_memory_status(headers=h)],
    "model-repository": [lambda c, h: c.get_model_repository_index(headers=h)],
}


@pytest.mark.parametrize("group", sorted(GRPC_CALLS))
def test_grpc_group_needs_its_metadata(server: ServerProcess, repo: Path, group: str) -> None:
    """Without triton-grpc-protocol-<key> (or with the other key's): UNAVAILABLE and Triton's
    words; with it: answered."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    key = key_of(group)
    header = next(iter(GRPC_KEYS[key]))
    for call in GRPC_CALLS[group]:
        for headers in ({}, GRPC_KEYS[other(key)], {header: "wrong"},
                        {header.removeprefix("triton-grpc-protocol-"): GRPC_KEYS[key][header]}):
            with pytest.raises(InferenceServerException) as caught:
                call(client, headers)
            assert caught.value.status() == "StatusCode.UNAVAILABLE"
            assert caught.value.message() == (
                f"This protocol is restricted, expecting header '{header}'")
            assert_clean(caught.value.message(), repo)
        call(client, GRPC_KEYS[key])
    client.close()


def test_grpc_stream_infer_is_inference(server: ServerProcess) -> None:
    """ModelStreamInfer without the inference metadata ends UNAVAILABLE; with it, it infers."""
    for headers, expect_error in (({}, True), (GRPC_KEYS["infer"], False)):
        client = grpcclient.InferenceServerClient(server.grpc_url)
        answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
        client.start_stream(callback=lambda result, error, q=answers: q.put((result, error)),
                            headers=headers)
        try:
            client.async_stream_infer("ident", _inputs(grpcclient))
        except InferenceServerException:  # the refused stream may already be closed
            assert expect_error
        result, error = answers.get(timeout=10)
        client.stop_stream()
        client.close()
        if expect_error:
            assert result is None and "This protocol is restricted" in str(error)
        else:
            assert error is None and result.as_numpy("y").shape == (1, 4)


def test_grpc_health_service_is_health(server: ServerProcess) -> None:
    """grpc.health.v1 Check is in the health group, as in Triton."""
    with grpc.insecure_channel(server.grpc_url) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        with pytest.raises(grpc.RpcError) as caught:
            check(health_pb2.HealthCheckRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        metadata = tuple(GRPC_KEYS["infer"].items())
        answer = check(health_pb2.HealthCheckRequest(), timeout=10, metadata=metadata)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_load_needs_restriction_metadata_and_control_token(server: ServerProcess,
                                                                repo: Path) -> None:
    """A gRPC load passes both checks: the model-repository metadata, then the token."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    with pytest.raises(InferenceServerException, match="restricted") as a:
        client.load_model("ident", headers=bearer)
    assert a.value.status() == "StatusCode.UNAVAILABLE"
    with pytest.raises(InferenceServerException, match="--control-token") as b:
        client.load_model("ident", headers=GRPC_KEYS["admin"])
    assert b.value.status() == "StatusCode.PERMISSION_DENIED"
    for caught in (a, b):
        assert_clean(caught.value.message(), repo)
    client.load_model("ident", headers={**GRPC_KEYS["admin"], **bearer})
    assert client.is_model_ready("ident", headers=GRPC_KEYS["infer"])
    client.close()


# -- one restriction leaves the rest open ------------------------------------------------------


def test_other_groups_stay_open(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    """Restricting model-repository (HTTP) and inference (gRPC) leaves every other group open,
    as Triton's sanity test checks."""
    proc = ServerProcess(repo, "--http-restricted-api", "model-repository:admin-key=a",
                         "--grpc-restricted-protocol", "inference:infer-key=i",
                         log_path=tmp_path / "open.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    try:
        http = httpclient.InferenceServerClient(proc.http_url)
        assert http.is_server_ready()
        http.get_inference_statistics("ident")
        http.infer("ident", _inputs(httpclient))
        with pytest.raises(InferenceServerException, match="This API is restricted"):
            http.get_model_repository_index()
        http.close()
        rpc = grpcclient.InferenceServerClient(proc.grpc_url)
        assert rpc.is_server_ready()
        rpc.get_model_repository_index()
        with pytest.raises(InferenceServerException, match="This protocol is restricted"):
            rpc.infer("ident", _inputs(grpcclient))
        rpc.infer("ident", _inputs(grpcclient), headers={"triton-grpc-protocol-infer-key": "i"})
        rpc.close()
    finally:
        assert proc.stop() == 0, proc.log()


def test_bad_restriction_flag_stops_start_up_with_one_line(tmp_path: Path) -> None:
    """Triton's L0 cases: an unknown group and a group named twice are one-line errors."""
    for spec in (["model-reposit,health:k1=v1"],
                 ["model-repository,health:k1=v1", "metadata,health:k2=v2"]):
        argv = [sys.executable, "-m", "modelport", "serve", "--http-port", "0"]
        for item in spec:
            argv += ["--grpc-restricted-protocol", item]
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False,
                              env={**os.environ, "MODELPORT_CACHE_DIR": str(tmp_path)})
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert err.count("\n") == 1 and "--grpc-restricted-protocol" in err, err
        assert "Traceback" not in err
