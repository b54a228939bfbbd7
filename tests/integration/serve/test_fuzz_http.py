"""Fuzzing the HTTP front at its real entry (the ASGI app, in-process): JSON infer bodies, the
binary tensor extension and its header length, raw single-tensor bodies, gzip/deflate bodies,
shared-memory register bodies and the other routes' bodies. Every answer: no 5xx, an
``{"error"}`` body on every non-200, no internal detail."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support.fuzzing import (
    JSON,
    MODELS,
    LoopServer,
    build_repo,
    check_answer,
    dump,
    fuzz_settings,
    infer_body,
    near_valid_body,
    valid_body,
)

LIMIT = 256 * 1024  # --max-request-size for these tests: bombs hit it quickly
MODEL = st.sampled_from(sorted(MODELS))


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopServer]:
    """One server for the module: explicit control (load/unload), client shm allowed."""
    root = tmp_path_factory.mktemp("fuzz")
    server = LoopServer(build_repo(root / "models"), root / "cache", max_request_bytes=LIMIT,
                        model_control_mode="explicit", load_models=["*"],
                        allow_client_shm=True)
    yield server
    server.stop()


def _post(srv: LoopServer, path: str, body: bytes, **headers: str) -> None:
    reply = srv.request("POST", path, body, headers)
    event(f"HTTP {reply.status_code}")
    check_answer(reply.status_code, reply.content, f"POST {path} {body[:200]!r} {headers}")


@fuzz_settings(200)
@given(model=MODEL, body=infer_body())
def test_json_infer_bodies(srv: LoopServer, model: str, body: dict[str, object]) -> None:
    """Structured JSON infer bodies (hostile shapes, datatypes, data, parameters): never 5xx."""
    _post(srv, f"/v2/models/{model}/infer", dump(body))


@fuzz_settings(300)
@given(data=st.data(), model=MODEL)
def test_near_valid_infer_bodies(srv: LoopServer, data: st.DataObject, model: str) -> None:
    """Valid bodies with a few fields changed (shapes, datatypes, duplicates, parameters,
    huge dims, ragged data): they reach validation, batching and the runtime; never 5xx."""
    body = data.draw(near_valid_body(model) | valid_body(model))
    _post(srv, f"/v2/models/{model}/infer", dump(body))


@fuzz_settings(150)
@given(model=MODEL, body=st.binary(max_size=300) | JSON.map(dump),
       length=st.none() | st.integers(-5, 400).map(str) | st.text(max_size=6))
def test_arbitrary_bytes_and_header_lengths(srv: LoopServer, model: str, body: bytes,
                                            length: str | None) -> None:
    """Any bytes, with any Inference-Header-Content-Length (absent, numbers, junk)."""
    headers = {} if length is None else {"Inference-Header-Content-Length": length}
    if length is not None and not length.isascii():
        return  # httpx refuses to send non-latin-1 header values; the wire server decodes them
    _post(srv, f"/v2/models/{model}/infer", body, **headers)


@st.composite
def binary_request(draw: st.DrawFn) -> tuple[bytes, str]:
    """A JSON header whose inputs claim binary_data_size, then a tail, then a header length
    that is right, off by a little, or anything."""
    inputs = []
    tail = b""
    for name, datatype in draw(st.sampled_from(list(MODELS.values()))):
        shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
        count = 1
        for d in shape:
            count *= d
        if datatype == "BYTES":
            items = draw(st.lists(st.binary(max_size=6), min_size=count, max_size=count))
            blob = b"".join(struct.pack("<I", len(i)) + i for i in items)
        else:
            blob = draw(st.binary(min_size=count * 4, max_size=count * 4))
        blob = draw(st.sampled_from([blob, blob[:-1], blob + b"\0", b""]))
        size = draw(st.sampled_from([len(blob), len(blob) + 3, 0, 2**40]) | st.integers(-3, 99))
        inputs.append({"name": name, "datatype": draw(st.sampled_from([datatype, "BYTES", "FP16"])),
                       "shape": shape, "parameters": {"binary_data_size": size}})
        tail += blob
    header = orjson.dumps({"inputs": inputs,
                           "parameters": {"binary_data_output": draw(st.booleans())}})
    length = draw(st.sampled_from([len(header), len(header) - 1, len(header) + 1, 0]) |
                  st.integers(-1, len(header) + len(tail) + 2))
    return header + tail, str(length)


@fuzz_settings(200)
@given(model=MODEL, request=binary_request())
def test_binary_extension(srv: LoopServer, model: str, request: tuple[bytes, str]) -> None:
    """The binary tensor extension: sizes that add up, fall short or run past the body."""
    body, length = request
    _post(srv, f"/v2/models/{model}/infer", body, **{"Inference-Header-Content-Length": length})


@fuzz_settings(150)
@given(model=MODEL, body=st.binary(max_size=200))
def test_raw_single_tensor_bodies(srv: LoopServer, model: str, body: bytes) -> None:
    """Header length 0: the body is one raw tensor whose shape is deduced from the config."""
    _post(srv, f"/v2/models/{model}/infer", body, **{"Inference-Header-Content-Length": "0"})


@st.composite
def compressed(draw: st.DrawFn) -> tuple[bytes, str]:
    """A body compressed with gzip or deflate, then maybe cut, flipped or padded."""
    plain = dump(draw(infer_body())) if draw(st.booleans()) else draw(st.binary())
    encoding = draw(st.sampled_from(["gzip", "deflate", "GZIP", "br", "gzip, deflate"]))
    data = gzip.compress(plain) if encoding.lower().startswith("gzip") else zlib.compress(plain)
    damage = draw(st.sampled_from(["none", "cut", "flip", "pad"]))
    if damage == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    elif damage == "pad":
        data += draw(st.binary(min_size=1, max_size=8))
    return data, encoding


@fuzz_settings(150)
@given(model=MODEL, request=compressed())
def test_compressed_bodies(srv: LoopServer, model: str, request: tuple[bytes, str]) -> None:
    """gzip and deflate bodies, whole, truncated, corrupted or padded: never 5xx."""
    data, encoding = request
    _post(srv, f"/v2/models/{model}/infer", data, **{"Content-Encoding": encoding})


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decompression_bomb_is_bounded(srv: LoopServer, encoding: str) -> None:
    """A small body that inflates past --max-request-size is refused with 413 after reading
    at most the limit (64 MiB of zeros compress to ~64 KiB)."""
    plain = bytes(64 * 1024 * 1024)
    data = gzip.compress(plain, 9) if encoding == "gzip" else zlib.compress(plain, 9)
    assert len(data) < LIMIT
    reply = srv.request("POST", "/v2/models/echo/infer", data, {"Content-Encoding": encoding})
    assert reply.status_code == 413, reply.text
    assert "decompressed" in reply.json()["error"]


SHM_BODY = st.fixed_dictionaries({}, optional={
    "key": st.text(max_size=12) | st.sampled_from(["/x", "..", "/dev/zero", "a/b", "\x00"]) | JSON,
    "offset": st.integers(-2, 2**65) | JSON, "byte_size": st.integers(-2, 2**65) | JSON})


@fuzz_settings(150)
@given(region=st.text(min_size=1, max_size=8).filter(lambda s: "/" not in s),
       body=SHM_BODY | JSON)
def test_shared_memory_register(srv: LoopServer, region: str, body: object) -> None:
    """Register parameters: any key, offset and size (keys that name no object, escape
    /dev/shm, hold NUL bytes; sizes past 2**64)."""
    from urllib.parse import quote

    path = f"/v2/systemsharedmemory/region/{quote(region, safe='')}"
    _post(srv, f"{path}/register", dump(body))
    _post(srv, f"{path}/unregister", b"")


ROUTES = st.sampled_from([
    ("POST", "/v2/repository/index"), ("POST", "/v2/repository/models/ints/load"),
    ("POST", "/v2/repository/models/nope/load"), ("POST", "/v2/repository/models/nope/unload"),
    ("POST", "/v2/trace/setting"), ("POST", "/v2/models/echo/trace/setting"),
    ("POST", "/v2/logging"), ("GET", "/v2/models/echo/versions/x"),
    ("GET", "/v2/models/stats"), ("GET", "/v2/systemsharedmemory/region/zz/status"),
    ("POST", "/v2/cudasharedmemory/region/zz/register"), ("PUT", "/v2")])


@fuzz_settings(120)
@given(route=ROUTES, body=JSON | st.binary(max_size=40))
def test_other_route_bodies(srv: LoopServer, route: tuple[str, str], body: object) -> None:
    """Index, load/unload (parameters, config overrides), trace and log settings: never 5xx."""
    method, path = route
    raw = body if isinstance(body, bytes) else dump(body)
    reply = srv.request(method, path, raw)
    event(f"HTTP {reply.status_code}")
    check_answer(reply.status_code, reply.content, f"{method} {path} {raw[:200]!r}")


@fuzz_settings(40)
@given(config=st.fixed_dictionaries({}, optional={
    "max_batch_size": st.integers(-5, 2**40), "backend": st.sampled_from(["onnxruntime", "x"]),
    "input": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["x", "q"]),
                                             "data_type": st.sampled_from(
                                                 ["TYPE_INT64", "TYPE_FP32", "TYPE_X", 3]),
                                             "dims": st.lists(st.integers(-3, 2**62), max_size=3)}),
                      max_size=2),
    "instance_group": st.lists(st.fixed_dictionaries({"count": st.integers(-2, 3)}), max_size=1),
    "dynamic_batching": st.fixed_dictionaries({}, optional={
        "max_queue_delay_microseconds": st.integers(-1, 2**64)}),
    "version_policy": JSON}))
def test_load_config_overrides(srv: LoopServer, config: dict[str, object]) -> None:
    """A load's ``config`` parameter (Triton's JSON config) with hostile fields: 400, never
    5xx; the model is loaded back afterwards."""
    body = orjson.dumps({"parameters": {"config": json.dumps(config)}})
    _post(srv, "/v2/repository/models/ints/load", body)
