"""The long fuzz run: coverage-guided (atheris, libFuzzer) over every parser of client bytes,
or the default suite's hypothesis harnesses with many more cases.

    .venv/bin/python benchmarks/fuzz.py atheris http_json -- -max_total_time=300
    .venv/bin/python benchmarks/fuzz.py atheris all --seconds 120      # each target in turn
    .venv/bin/python benchmarks/fuzz.py hypothesis --examples 20000     # the pytest harnesses

Targets (``atheris``): ``http_json`` (infer bodies, JSON or with binary tensors, through the
HTTP codec and validation), ``http_raw`` (raw single-tensor bodies), ``http_app`` (whole
requests through the ASGI app of a served repository: path, headers, gzip/deflate bodies),
``wire`` (raw bytes to the HTTP/1.1 server over loopback: request lines, headers, chunked
framing), ``tensors`` (BYTES length prefixes), ``grpc`` (ModelInferRequest bytes through the gRPC
codec and validation), ``shm`` (register and tensor parameters), ``pbtxt`` (config.pbtxt
text to a checked config), ``onnx`` (ONNX files through auto-completion). A target fails on
any exception other than modelport's own refusals, and on any HTTP answer of 500 or one with
internal detail. ``pip install 'modelport[fuzz]'`` (atheris) first; it is kept out of the
test extra because it builds against clang's libFuzzer where no wheel fits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = re.compile(rb"Traceback|/site-packages/|object at 0x|/src/modelport")
HARNESSES = ["tests/integration/serve/test_fuzz_http.py",
             "tests/integration/serve/test_fuzz_grpc.py",
             "tests/integration/serve/test_fuzz_models.py"]


def _targets() -> dict[str, Callable[[], Callable[[bytes], None]]]:
    return {"http_json": _http_json, "http_raw": _http_raw, "http_app": _http_app,
            "wire": _wire, "tensors": _tensors, "grpc": _grpc, "shm": _shm, "pbtxt": _pbtxt,
            "onnx": _onnx}


def _config(text: str) -> Any:
    from modelport.repository import pbtxt

    return pbtxt.to_view(pbtxt.parse_text(text))


ECHO = """name: "m" max_batch_size: 4
input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }, { name: "s" data_type: TYPE_STRING
dims: [ -1 ] optional: true }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]"""


def _refusals() -> tuple[type[BaseException], ...]:
    from modelport.errors import ModelportError

    return (ModelportError,)


def _http_json() -> Callable[[bytes], None]:
    from modelport.serve.http import codec
    from modelport.serve.validate import check

    config, refused = _config(ECHO), _refusals()

    def run(data: bytes) -> None:
        length = None
        if data[:1] == b"\x01" and len(data) > 3:  # a header length, then the body
            (length,) = struct.unpack_from("<H", data, 1)
            data = data[3:]
        try:
            request = codec.decode_infer(data, length, "m", "1", config)
            check(config, request)
        except refused:
            pass
    return run


def _http_raw() -> Callable[[bytes], None]:
    from modelport.serve.http import codec

    single = ('name: "m" max_batch_size: 4 input [{ name: "x" data_type: @ }] '
              'output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]')
    configs = [_config(single.replace("@", t)) for t in (
        "TYPE_FP32 dims: [ 2 ]", "TYPE_INT64 dims: [ -1 ]", "TYPE_STRING dims: [ 1 ]",
        "TYPE_FP16 dims: [ -1, 3 ]")]
    refused = _refusals()

    def run(data: bytes) -> None:
        config = configs[data[0] % len(configs)] if data else configs[0]
        with contextlib.suppress(refused):
            codec.decode_raw_single(data[1:], config, "m", "1")
    return run


def _tensors() -> Callable[[bytes], None]:
    from modelport.serve.tensors import from_raw

    refused = _refusals()

    def run(data: bytes) -> None:
        count = data[0] if data else 0
        with contextlib.suppress(refused):
            from_raw("x", "BYTES", [count], data[1:])
    return run


def _grpc() -> Callable[[bytes], None]:
    from google.protobuf.message import DecodeError

    from modelport.serve.grpc import codec
    from modelport.serve.grpc.proto import grpc_service_pb2 as pb
    from modelport.serve.validate import check

    config, refused = _config(ECHO), _refusals()

    def run(data: bytes) -> None:
        try:
            message = pb.ModelInferRequest.FromString(data)
        except DecodeError:
            return  # answered INVALID_ARGUMENT by the front before the codec
        with contextlib.suppress(refused):
            check(config, codec.decode_infer(message, config))
    return run


def _shm() -> Callable[[bytes], None]:
    from modelport.serve.http.codec import loads
    from modelport.serve.shm import SharedMemory, parse_ref

    folder = Path(tempfile.mkdtemp())
    (folder / "obj").write_bytes(bytes(64))
    memory, refused = SharedMemory(True, folder), _refusals()

    def run(data: bytes) -> None:
        try:
            params = loads(data)
            if isinstance(params, dict):
                parse_ref("x", params)
                key, offset, size = params.get("key"), params.get("offset"), params.get("size")
                if isinstance(key, str) and isinstance(offset, int) and isinstance(size, int):
                    memory.register("r", key, offset, size)
                    memory.unregister("r")
        except refused:
            pass
    return run


def _pbtxt() -> Callable[[bytes], None]:
    from modelport.repository import pbtxt  # noqa: F401  (imported here to be instrumented)

    refused = _refusals()

    def run(data: bytes) -> None:
        with contextlib.suppress(refused):
            _config(data.decode("utf-8", errors="replace"))
    return run


def _onnx() -> Callable[[bytes], None]:
    from modelport.repository.layout import Repository
    from modelport.repository.resolve import resolve

    root = Path(tempfile.mkdtemp())
    (root / "m" / "1").mkdir(parents=True)
    path = root / "m" / "1" / "model.onnx"
    refused = _refusals()

    def run(data: bytes) -> None:
        path.write_bytes(data)
        os.utime(path, ns=(time.time_ns(), time.time_ns()))  # a new signature-cache key
        with contextlib.suppress(refused):
            resolve(Repository(root), "m")
    return run


def _http_app() -> Callable[[bytes], None]:
    import httpx

    from modelport.serve.config import ServerConfig
    from modelport.serve.server import Server

    root = Path(tempfile.mkdtemp())
    (root / "models" / "m" / "1").mkdir(parents=True)
    (root / "models" / "m" / "config.pbtxt").write_text(
        ECHO.replace('name: "m"', 'name: "m" backend: "fake"'))
    loop = asyncio.new_event_loop()
    server = Server(ServerConfig(model_repository=root / "models", http_port=-1, grpc_port=-1,
                                 metrics_port=-1, cache_dir=root / "cache",
                                 max_request_bytes=64 * 1024, allow_client_shm=True))
    loop.run_until_complete(server.start())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.http_app()),
                               base_url="http://fuzz")
    paths = ["/v2/models/m/infer", "/v2/repository/index", "/v2/logging",
             "/v2/systemsharedmemory/region/r/register", "/v2/trace/setting",
             "/v2/models/m/versions/1/infer"]

    def run(data: bytes) -> None:
        if len(data) < 2:
            return
        path, flags, body = paths[data[0] % len(paths)], data[1], data[2:]
        headers = {}
        if flags & 1:
            headers["Inference-Header-Content-Length"] = str(flags >> 3)
        if flags & 2:
            headers["Inference-Header-Content-Length"] = "0"
        if flags & 4:
            body, headers["Content-Encoding"] = (
                (gzip.compress(body), "gzip") if flags & 8 else (zlib.compress(body), "deflate"))
        reply = loop.run_until_complete(client.post(path, content=body, headers=headers))
        if reply.status_code >= 500 or FORBIDDEN.search(reply.content):
            raise AssertionError(f"{path} {headers}: {reply.status_code} {reply.text[:300]}")
        if reply.status_code != 200:
            json.loads(reply.content)["error"]
    return run


def _seeds(target: str) -> list[bytes]:
    """Well-formed inputs to start from: libFuzzer mutates them into the deep paths."""
    x = {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}
    s = {"name": "s", "datatype": "BYTES", "shape": [1, 2], "data": ["a", "b"]}
    bodies = [json.dumps({"inputs": [x]}), json.dumps({"inputs": [x, s], "outputs": [
        {"name": "y", "parameters": {"classification": 2}}], "id": "1",
        "parameters": {"binary_data_output": True}}),
        json.dumps({"inputs": [{**x, "parameters": {"shared_memory_region": "r",
                                                    "shared_memory_byte_size": 8}}]})]
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                                     "parameters": {"binary_data_size": 8}}]}).encode()
    binary = b"\x01" + struct.pack("<H", len(header)) + header + struct.pack("<2f", 1, 2)
    if target == "http_json":
        return [b.encode() for b in bodies] + [binary]
    if target == "http_app":
        return [b"\x00\x00" + b.encode() for b in bodies] + [
            b"\x00" + bytes([1 | (len(header) << 3) & 0xFF]) + header, b"\x03\x00{}",
            b"\x02\x04" + json.dumps({"log_info": False}).encode()]
    if target == "http_raw":
        return [b"\x00" + struct.pack("<2f", 1, 2), b"\x01" + bytes(16), b"\x02hello"]
    if target == "wire":
        return [b"GET /e HTTP/1.1\r\nHost: t\r\n\r\n",
                b"POST /e HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                b"POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                b"\r\n", b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n"
                b"\r\nx"]
    if target == "tensors":
        return [b"\x02" + struct.pack("<I", 1) + b"a" + struct.pack("<I", 0)]
    if target == "grpc":
        from modelport.serve.grpc.proto import grpc_service_pb2 as pb

        msg = pb.ModelInferRequest(model_name="m")
        msg.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        msg.raw_input_contents.append(struct.pack("<2f", 1, 2))
        msg.outputs.add(name="y")
        return [msg.SerializeToString()]
    if target == "shm":
        return [json.dumps({"shared_memory_region": "r", "shared_memory_byte_size": 8,
                            "key": "obj", "offset": 0, "size": 8}).encode()]
    if target == "pbtxt":
        return [ECHO.encode()]
    if target == "onnx":
        sys.path.insert(0, str(ROOT / "tests"))
        from support.models import add_model

        return [add_model(2.0).SerializeToString()]
    return []


def _wire() -> Callable[[bytes], None]:
    import socket
    import threading

    from modelport.serve.http.app import HttpApp
    from modelport.serve.http.routing import Params, Reply, Request, Route, Router
    from modelport.serve.http.wire import WireServer, WireSettings

    async def echo(req: Request, p: Params) -> Reply:
        return Reply(200, req.body)

    app = HttpApp(Router([Route("POST", "/e", echo), Route("GET", "/e", echo)]), 1 << 16)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = WireServer(app, WireSettings(idle_timeout_s=0.5, linger_s=0.05,
                                          max_head_bytes=4096))
    port = asyncio.run_coroutine_threadsafe(server.start(listener), loop).result(10)
    status = re.compile(rb"HTTP/1\.1 (\d{3}) ")

    def run(data: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            except OSError:
                return  # the server answered and closed first
        for code in status.findall(answer):
            if code.startswith(b"5") and code != b"505":  # 505: HTTP/2.0, HTTP/0.9 (RFC 9110)
                raise AssertionError(f"{data[:200]!r}: {answer[:300]!r}")
    return run


def run_atheris(target: str, libfuzzer_args: list[str]) -> None:
    """Fuzz one target in this process (libFuzzer's options after --)."""
    import atheris

    with atheris.instrument_imports(include=["modelport"]):
        one_input = _targets()[target]()
    corpus = ROOT / ".fuzz-corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(_seeds(target)):
        (corpus / f"seed-{index}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one_input)
    atheris.Fuzz()


def main() -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    ath = sub.add_parser("atheris", help="coverage-guided, one target or all in turn")
    ath.add_argument("target", choices=[*_targets(), "all"])
    ath.add_argument("--seconds", type=int, default=60, help="per target, with 'all'")
    ath.add_argument("libfuzzer", nargs="*", help="libFuzzer options, after --")
    hyp = sub.add_parser("hypothesis", help="the pytest harnesses with many cases")
    hyp.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    if args.mode == "hypothesis":
        env = {**os.environ, "MODELPORT_FUZZ_EXAMPLES": str(args.examples),
               "PYTHONPATH": str(ROOT / "src")}
        return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "--hypothesis-show-statistics", "--timeout", "0", *HARNESSES],
                               cwd=ROOT, env=env)
    if args.target != "all":
        run_atheris(args.target, args.libfuzzer)
        return 0
    failed = []
    for target in _targets():  # each in its own process: libFuzzer exits when it is done
        started = time.monotonic()
        code = subprocess.call([sys.executable, __file__, "atheris", target, "--",
                                f"-max_total_time={args.seconds}", "-print_final_stats=1",
                                *args.libfuzzer], cwd=ROOT)
        print(f"== {target}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(target)
    print("failed:", ", ".join(failed) or "none")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
