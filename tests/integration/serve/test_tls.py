"""TLS on a real ``modelport serve``: tritonclient's SSL options against the HTTP, gRPC and
metrics ports, mutual TLS, and clients that get it wrong (plaintext, an untrusted server, no
client certificate) failing cleanly while the server carries on.

Certificates are made by the tests (support/certs.py): a CA, a server certificate for
127.0.0.1, a client certificate, and a rogue CA with its own client.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import gevent.ssl
import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
from geventhttpclient.response import HTTPConnectionClosed
from support.certs import Certs, make_certs
from support.models import identity_model, write_model
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException

X = np.arange(10, dtype=np.float32).reshape(2, 5)
# How an HTTPS client learns of a refused client certificate: with TLS 1.3 the handshake ends
# on the client's side first, so the refusal shows as a closed connection when it reads.
REFUSED = (ssl.SSLError, ConnectionError, HTTPConnectionClosed)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, server and client certificates, and a rogue CA with a client."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ident``: an FP32 identity model."""
    repo = tmp_path_factory.mktemp("tls") / "repo"
    write_model(repo, "ident", identity_model("FP32"))
    return repo


def _tls_flags(certs: Certs, front: str, mutual: bool) -> list[str]:
    flags = [f"--{front}-server-cert", str(certs.server_cert),
             f"--{front}-server-key", str(certs.server_key)]
    if mutual:
        return [f"--{front}-use-ssl-mutual", "true", f"--{front}-root-cert", str(certs.ca),
                *flags]
    return [f"--{front}-use-ssl", "true", *flags]


def _client_context(certs: Certs, cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert:
        context.load_cert_chain(certs.client_cert, certs.client_key)
    return context


def _start(repo: Path, certs: Certs, mutual: bool, cache_dir: Path, log: Path,
           ) -> ServerProcess:
    flags = [*_tls_flags(certs, "http", mutual), *_tls_flags(certs, "grpc", mutual),
             "--metrics-port", "0", "--metrics-use-ssl", "true"]
    return ServerProcess(repo, *flags, log_path=log, env={"MODELPORT_CACHE_DIR": str(cache_dir)},
                         ssl_context=_client_context(certs, cert=mutual))


@pytest.fixture(scope="module")
def server(repo: Path, certs: Certs, cache_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """HTTP, gRPC and metrics over TLS with the server certificate only."""
    proc = _start(repo, certs, False, cache_dir, tmp_path_factory.mktemp("logs") / "tls.log")
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def mutual_server(repo: Path, certs: Certs, cache_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """HTTP, gRPC and metrics over mutual TLS: client certificates signed by the CA."""
    proc = _start(repo, certs, True, cache_dir, tmp_path_factory.mktemp("logs") / "mtls.log")
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


def _http_infer(client: httpclient.InferenceServerClient) -> np.ndarray:
    inp = httpclient.InferInput("x", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    return client.infer("ident", [inp]).as_numpy("y")


def _grpc_infer(client: grpcclient.InferenceServerClient) -> np.ndarray:
    inp = grpcclient.InferInput("x", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    return client.infer("ident", [inp]).as_numpy("y")


def _https(server: ServerProcess, certs: Certs, cert: bool = False,
           ) -> httpclient.InferenceServerClient:
    options = {"ca_certs": str(certs.ca)}
    if cert:
        options |= {"certfile": str(certs.client_cert), "keyfile": str(certs.client_key)}
    return httpclient.InferenceServerClient(server.http_url, ssl=True, ssl_options=options)


def _grpcs(server: ServerProcess, certs: Certs, cert: bool = False,
           ) -> grpcclient.InferenceServerClient:
    extra = {"private_key": str(certs.client_key),
             "certificate_chain": str(certs.client_cert)} if cert else {}
    return grpcclient.InferenceServerClient(server.grpc_url, ssl=True,
                                            root_certificates=str(certs.ca), **extra)


def _metrics_port(server: ServerProcess) -> int:
    found = re.search(r"metrics https://127\.0\.0\.1:(\d+)/metrics", server.log())
    assert found, server.log()
    return int(found.group(1))


def test_http_client_over_tls(server: ServerProcess, certs: Certs) -> None:
    """tritonclient.http with ssl=True and the CA (ssl_options, then a context factory)."""
    client = _https(server, certs)
    assert client.is_server_live() and client.is_server_ready()
    np.testing.assert_array_equal(_http_infer(client), X)
    client.close()
    client = httpclient.InferenceServerClient(
        server.http_url, ssl=True, ssl_options={"ca_certs": str(certs.ca)},
        ssl_context_factory=gevent.ssl.create_default_context)
    np.testing.assert_array_equal(_http_infer(client), X)
    client.close()


def test_grpc_client_over_tls(server: ServerProcess, certs: Certs) -> None:
    """tritonclient.grpc with ssl=True and root_certificates."""
    client = _grpcs(server, certs)
    assert client.is_server_live() and client.is_server_ready()
    np.testing.assert_array_equal(_grpc_infer(client), X)
    client.close()


def test_asyncio_clients_over_tls(server: ServerProcess, certs: Certs) -> None:
    """tritonclient.http.aio (ssl_context) and tritonclient.grpc.aio (root_certificates)."""

    async def both() -> None:
        http = httpaio.InferenceServerClient(server.http_url, ssl=True,
                                             ssl_context=_client_context(certs))
        inp = httpaio.InferInput("x", list(X.shape), "FP32")
        inp.set_data_from_numpy(X)
        np.testing.assert_array_equal((await http.infer("ident", [inp])).as_numpy("y"), X)
        await http.close()
        rpc = grpcaio.InferenceServerClient(server.grpc_url, ssl=True,
                                            root_certificates=str(certs.ca))
        assert await rpc.is_server_ready()
        await rpc.close()

    asyncio.run(both())


def test_metrics_over_tls(server: ServerProcess, certs: Certs) -> None:
    """--metrics-use-ssl serves /metrics with the HTTP front's certificate."""
    url = f"https://127.0.0.1:{_metrics_port(server)}/metrics"
    with urllib.request.urlopen(url, context=_client_context(certs), timeout=10) as answer:
        assert answer.status == 200
        assert b"nv_inference_request_success" in answer.read()


def test_plaintext_clients_fail_cleanly(server: ServerProcess, certs: Certs) -> None:
    """Plain HTTP to the TLS port is told to use https (400); plain gRPC cannot connect
    (UNAVAILABLE); neither harms the server."""
    plain = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException, match="this port serves HTTPS"):
        plain.get_server_metadata()
    plain.close()
    url = f"http://127.0.0.1:{_metrics_port(server)}/metrics"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 400
    caught.value.close()
    rpc = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException, match="UNAVAILABLE"):
        rpc.is_server_live(client_timeout=5)
    rpc.close()
    assert server.alive()
    np.testing.assert_array_equal(_http_infer(_https(server, certs)), X)
    np.testing.assert_array_equal(_grpc_infer(_grpcs(server, certs)), X)


def test_client_that_does_not_trust_the_server_fails(server: ServerProcess,
                                                     certs: Certs) -> None:
    """A client verifying against another CA refuses the server on both fronts."""
    http = httpclient.InferenceServerClient(server.http_url, ssl=True,
                                            ssl_options={"ca_certs": str(certs.rogue_ca)})
    with pytest.raises(ssl.SSLCertVerificationError):
        http.get_server_metadata()
    http.close()
    rpc = grpcclient.InferenceServerClient(server.grpc_url, ssl=True,
                                           root_certificates=str(certs.rogue_ca))
    with pytest.raises(InferenceServerException, match="UNAVAILABLE"):
        rpc.is_server_live(client_timeout=5)
    rpc.close()
    assert server.alive()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_sees_the_certificate(server: ServerProcess, certs: Certs) -> None:
    """openssl s_client verifies both ports' certificate against the CA."""
    for port in (server.http_port, server.grpc_port):
        done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                               "-CAfile", str(certs.ca), "-verify_return_error"],
                              input=b"", capture_output=True, timeout=20, check=False)
        text = done.stdout.decode(errors="replace")
        assert "CN = modelport test server" in text, text
        assert "Verify return code: 0 (ok)" in text, text


def test_mutual_tls_serves_clients_with_certificates(mutual_server: ServerProcess,
                                                     certs: Certs) -> None:
    """Client certificates signed by --X-root-cert are served on HTTP, gRPC and metrics."""
    np.testing.assert_array_equal(_http_infer(_https(mutual_server, certs, cert=True)), X)
    np.testing.assert_array_equal(_grpc_infer(_grpcs(mutual_server, certs, cert=True)), X)
    url = f"https://127.0.0.1:{_metrics_port(mutual_server)}/metrics"
    with urllib.request.urlopen(url, context=_client_context(certs, cert=True),
                                timeout=10) as answer:
        assert answer.status == 200


def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
        mutual_server: ServerProcess, certs: Certs) -> None:
    """No client certificate, or one from another CA: refused on both fronts; the server
    carries on serving clients that have one."""
    http = _https(mutual_server, certs)
    with pytest.raises(REFUSED):
        http.get_server_metadata()
    http.close()
    rogue = httpclient.InferenceServerClient(
        mutual_server.http_url, ssl=True,
        ssl_options={"ca_certs": str(certs.ca), "certfile": str(certs.rogue_client_cert),
                     "keyfile": str(certs.rogue_client_key)})
    with pytest.raises(REFUSED):
        rogue.get_server_metadata()
    rogue.close()
    for extra in ({}, {"private_key": str(certs.rogue_client_key),
                       "certificate_chain": str(certs.rogue_client_cert)}):
        rpc = grpcclient.InferenceServerClient(mutual_server.grpc_url, ssl=True,
                                               root_certificates=str(certs.ca), **extra)
        with pytest.raises(InferenceServerException, match="UNAVAILABLE"):
            rpc.is_server_live(client_timeout=5)
        rpc.close()
    assert mutual_server.alive()
    np.testing.assert_array_equal(_grpc_infer(_grpcs(mutual_server, certs, cert=True)), X)


def test_raw_grpc_channel_with_client_certificate(mutual_server: ServerProcess,
                                                  certs: Certs) -> None:
    """A plain grpc secure channel with a client certificate reaches the health service."""
    from modelport.serve.grpc.proto import health_pb2

    credentials = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes())
    with grpc.secure_channel(mutual_server.grpc_url, credentials) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        answer = check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_bad_certificate_stops_start_up_with_one_line(repo: Path, certs: Certs,
                                                      tmp_path: Path) -> None:
    """A key that does not match its certificate: exit 1 and one line naming the flags."""
    done = subprocess.run(
        [sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", "0",
         "--grpc-port", "0", "--metrics-port", "-1", "--http-use-ssl", "true",
         "--http-server-cert", str(certs.server_cert), "--http-server-key", str(certs.other_key)],
        capture_output=True, timeout=60, check=False,
        env={**os.environ, "MODELPORT_CACHE_DIR": str(tmp_path)})
    err = done.stderr.decode()
    assert done.returncode != 0
    assert "--http-server-cert" in err and "does not belong to the certificate" in err, err
    assert "Traceback" not in err

