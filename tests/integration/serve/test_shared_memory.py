"""System shared memory, as Triton's QA suite (qa/L0_shared_memory) exercises it, with an ONNX
stand-in for its ``simple`` model, through tritonclient's shared-memory utilities over HTTP,
gRPC and asyncio; and CUDA shared memory refused clearly on a GPU-less server."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from onnx import TensorProto, helper
from support.models import simple_model, write_model
from support.server import ServerProcess
from tritonclient.utils import (
    InferenceServerException,
    serialize_byte_tensor,
    serialized_byte_size,
)

SIZE = 64  # 16 INT32
SLOW = """
backend: "fake"
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
       { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] }]
output [{ name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
        { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] }]
parameters { key: "delay_ms" value { string_value: "1500" } }
"""


def _words() -> Any:
    """BYTES identity: TEXT -> ECHO."""
    x = helper.make_tensor_value_info("TEXT", TensorProto.STRING, ["batch", 3])
    y = helper.make_tensor_value_info("ECHO", TensorProto.STRING, ["batch", 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["TEXT"],
                                                                  ["ECHO"])], "w", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """simple, words and slow, with client shared memory allowed."""
    repo = tmp_path_factory.mktemp("repo")
    write_model(repo, "simple", simple_model())
    write_model(repo, "words", _words())
    (repo / "slow" / "1").mkdir(parents=True)
    (repo / "slow" / "config.pbtxt").write_text(SLOW)
    proc = ServerProcess(repo, "--allow-client-shm", "true",
                         log_path=tmp_path_factory.mktemp("logs") / "shm.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield proc
    assert proc.alive(), proc.log()
    proc.stop()


class Regions:
    """Shared memory objects made for one test, registered under their names."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.tag = uuid.uuid4().hex[:8]
        self.handles: dict[str, Any] = {}

    def make(self, name: str, size: int = SIZE, register: int | None = None,
             offset: int = 0) -> Any:
        handle = shm.create_shared_memory_region(name, f"/{name}_{self.tag}", size)
        self.handles[name] = handle
        if register is not None:
            self.client.register_system_shared_memory(name, f"/{name}_{self.tag}", register,
                                                      offset=offset)
        return handle

    def key(self, name: str) -> str:
        return f"/{name}_{self.tag}"

    def close(self) -> None:
        self.client.unregister_system_shared_memory()
        for handle in self.handles.values():
            shm.destroy_shared_memory_region(handle)


@pytest.fixture(params=["http", "grpc"])
def client(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[Any]:
    """tritonclient over HTTP or gRPC, with no region registered before or after."""
    module = httpclient if request.param == "http" else grpcclient
    url = server.http_url if request.param == "http" else server.grpc_url
    c = module.InferenceServerClient(url)
    c.unregister_system_shared_memory()
    yield c
    c.unregister_system_shared_memory()


@pytest.fixture()
def regions(client: Any) -> Iterator[Regions]:
    """A place to make regions, cleaned up after the test."""
    made = Regions(client)
    yield made
    made.close()


def _count(client: Any) -> int:
    status = client.get_system_shared_memory_status()
    return len(status) if isinstance(status, list) else len(status.regions)


def _module(client: Any) -> Any:
    return httpclient if isinstance(client, httpclient.InferenceServerClient) else grpcclient


def _shm_infer(client: Any, regions: Regions, *, in1_size: int = SIZE, out_offset: int = 0,
               out_size: int = SIZE, model: str = "simple") -> tuple[np.ndarray, np.ndarray]:
    """Inputs from input0/input1, outputs into output0/output1; returns the outputs read back."""
    m = _module(client)
    a, b = np.arange(16, dtype=np.int32), np.ones(16, dtype=np.int32)
    shm.set_shared_memory_region(regions.handles["input0"], [a])
    shm.set_shared_memory_region(regions.handles["input1"], [b])
    inputs = [m.InferInput("INPUT0", [1, 16], "INT32"), m.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_shared_memory("input0", SIZE)
    inputs[1].set_shared_memory("input1", in1_size)
    outputs = [m.InferRequestedOutput("OUTPUT0"), m.InferRequestedOutput("OUTPUT1")]
    outputs[0].set_shared_memory("output0", out_size, offset=out_offset)
    outputs[1].set_shared_memory("output1", SIZE)
    result = client.infer(model, inputs, outputs=outputs)
    described = result.get_output("OUTPUT0")  # the answer describes it; the data is in the region
    shape = described["shape"] if isinstance(described, dict) else list(described.shape)
    assert shape == [1, 16]
    return (shm.get_contents_as_numpy(regions.handles["output0"], np.int32, [1, 16],
                                      offset=out_offset),
            shm.get_contents_as_numpy(regions.handles["output1"], np.int32, [1, 16]))


def _four(regions: Regions, size: int = SIZE, register: int = SIZE, offset: int = 0) -> None:
    for name in ("input0", "input1", "output0", "output1"):
        regions.make(name, size, register, offset)


def test_inference_through_shared_memory(client: Any, regions: Regions) -> None:
    """Inputs read from and outputs written into registered regions; status lists all four."""
    _four(regions)
    assert _count(client) == 4
    plus, minus = _shm_infer(client, regions)
    np.testing.assert_array_equal(plus[0], np.arange(16) + 1)
    np.testing.assert_array_equal(minus[0], np.arange(16) - 1)


def test_register_status_and_unregister(client: Any, regions: Regions) -> None:
    """Unregistering an unknown name is fine; a name registered twice is refused; unregister
    all empties the status."""
    regions.make("dummy")
    client.unregister_system_shared_memory("dummy")
    assert _count(client) == 0
    client.register_system_shared_memory("dummy", regions.key("dummy"), 8)
    with pytest.raises(InferenceServerException, match="'dummy' already in manager"):
        client.register_system_shared_memory("dummy", regions.key("dummy"), 8)
    assert _count(client) == 1
    client.unregister_system_shared_memory()
    assert _count(client) == 0


@pytest.mark.parametrize(("size", "offset"), [(SIZE + 1, 0), (SIZE, 1), (1, SIZE), (0, SIZE + 1)])
def test_registration_out_of_bounds(client: Any, regions: Regions, size: int,
                                    offset: int) -> None:
    """A region reaching past its shared memory object is refused (invalid args)."""
    regions.make("r")
    with pytest.raises(InferenceServerException,
                       match=r"failed to register shared memory region 'r'.*invalid args"):
        client.register_system_shared_memory("r", regions.key("r"), size, offset=offset)


@pytest.mark.parametrize(("key", "message"), [
    ("/triton_python_backend_shm_region_x", "contains the reserved prefix"),
    ("///", "invalid shm key '///'"),
    ("/no_such_object_here", "Unable to open shared memory region"),
])
def test_bad_keys(client: Any, key: str, message: str) -> None:
    """Reserved, empty and missing keys are refused with Triton's words."""
    with pytest.raises(InferenceServerException, match=message):
        client.register_system_shared_memory("k", key, 16)


def test_sizes_and_offsets_that_do_not_fit(client: Any, regions: Regions) -> None:
    """An input region of the wrong size, an output offset past the region and an output
    range past it each get their own error, and the server keeps serving."""
    _four(regions)
    regions.make("big", 128, 128)
    m = _module(client)
    inputs = [m.InferInput("INPUT0", [1, 16], "INT32"), m.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_shared_memory("input0", SIZE)
    inputs[1].set_shared_memory("big", 128)
    with pytest.raises(InferenceServerException, match=r"input byte size mismatch for input "
                       r"'INPUT1' for model 'simple'\. Expected 64, got 128"):
        client.infer("simple", inputs)
    with pytest.raises(InferenceServerException,
                       match="Invalid offset for shared memory region"):
        _shm_infer(client, regions, out_offset=SIZE)
    with pytest.raises(InferenceServerException,
                       match=r"Invalid offset \+ byte size for shared memory region"):
        _shm_infer(client, regions, out_offset=1)
    plus, _ = _shm_infer(client, regions)
    assert plus[0, 0] == 1


def test_mixed_raw_and_shared_memory_inputs(client: Any, regions: Regions) -> None:
    """One input from a region, the other in the request body."""
    _four(regions)
    m = _module(client)
    shm.set_shared_memory_region(regions.handles["input0"], [np.arange(16, dtype=np.int32)])
    inputs = [m.InferInput("INPUT0", [1, 16], "INT32"), m.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_shared_memory("input0", SIZE)
    inputs[1].set_data_from_numpy(np.full((1, 16), 5, np.int32))
    result = client.infer("simple", inputs)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0")[0], np.arange(16) + 5)


def test_bytes_through_shared_memory(client: Any, regions: Regions) -> None:
    """BYTES tensors cross as length-prefixed elements, both ways."""
    text = np.array([[b"alpha", "b\u00e9ta".encode(), b""]], dtype=object)
    serialized = serialize_byte_tensor(text)
    size = serialized_byte_size(serialized)
    handle = regions.make("text_in", 64, 64)
    regions.make("text_out", 64, 64)
    shm.set_shared_memory_region(handle, [serialized])
    m = _module(client)
    inp = m.InferInput("TEXT", [1, 3], "BYTES")
    inp.set_shared_memory("text_in", size)
    out = m.InferRequestedOutput("ECHO")
    out.set_shared_memory("text_out", 64)
    client.infer("words", [inp], outputs=[out])
    echoed = shm.get_contents_as_numpy(regions.handles["text_out"], np.object_, [1, 3])
    assert echoed.tolist() == text.tolist()


def test_unregister_during_inference_waits_for_it(client: Any, regions: Regions,
                                                 server: ServerProcess) -> None:
    """Unregistering regions a running request uses succeeds at once, the regions stay listed
    until the request is answered (correctly), then they are gone."""
    _four(regions)
    shm.set_shared_memory_region(regions.handles["input0"], [np.arange(16, dtype=np.int32)])
    shm.set_shared_memory_region(regions.handles["input1"], [np.ones(16, dtype=np.int32)])

    def slow_request() -> None:  # its own gRPC client: tritonclient's HTTP one is one-thread
        worker = grpcclient.InferenceServerClient(server.grpc_url)
        inputs = [grpcclient.InferInput("INPUT0", [1, 16], "INT32"),
                  grpcclient.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_shared_memory("input0", SIZE)
        inputs[1].set_shared_memory("input1", SIZE)
        out = grpcclient.InferRequestedOutput("OUTPUT0")
        out.set_shared_memory("output0", SIZE)
        worker.infer("slow", inputs, outputs=[out])

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(slow_request)
        time.sleep(0.6)
        client.unregister_system_shared_memory()
        assert _count(client) == 3  # in use: still there (output1 was not, so it went)
        running.result(timeout=30)
    deadline = time.monotonic() + 5
    while _count(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count(client) == 0
    np.testing.assert_array_equal(
        shm.get_contents_as_numpy(regions.handles["output0"], np.int32, [1, 16])[0],
        np.arange(16))


def test_asyncio_grpc_client(server: ServerProcess) -> None:
    """tritonclient's asyncio gRPC client registers, infers through and unregisters regions."""
    tag = uuid.uuid4().hex[:8]
    handles = {n: shm.create_shared_memory_region(n, f"/{n}_{tag}", SIZE)
               for n in ("ai0", "ai1", "ao0")}
    shm.set_shared_memory_region(handles["ai0"], [np.arange(16, dtype=np.int32)])
    shm.set_shared_memory_region(handles["ai1"], [np.full(16, 2, np.int32)])

    async def scenario() -> None:
        client = grpcaio.InferenceServerClient(server.grpc_url)
        for name in handles:
            await client.register_system_shared_memory(name, f"/{name}_{tag}", SIZE)
        inputs = [grpcaio.InferInput("INPUT0", [1, 16], "INT32"),
                  grpcaio.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_shared_memory("ai0", SIZE)
        inputs[1].set_shared_memory("ai1", SIZE)
        out = grpcaio.InferRequestedOutput("OUTPUT0")
        out.set_shared_memory("ao0", SIZE)
        await client.infer("simple", inputs, outputs=[out])
        await client.unregister_system_shared_memory()
        await client.close()

    try:
        asyncio.run(scenario())
        result = shm.get_contents_as_numpy(handles["ao0"], np.int32, [1, 16])
        np.testing.assert_array_equal(result[0], np.arange(16) + 2)
    finally:
        for handle in handles.values():
            shm.destroy_shared_memory_region(handle)


def test_client_shared_memory_is_off_by_default(start_server, tmp_path: Path) -> None:
    """Without --allow-client-shm, register and unregister are refused and status is empty;
    CUDA shared memory answers that this server has no GPU (400, not 404), on both fronts."""
    write_model(tmp_path / "models", "simple", simple_model())
    server = start_server(tmp_path / "models")
    handle = shm.create_shared_memory_region("d", f"/d_{os.getpid()}", 8)
    try:
        for client in (httpclient.InferenceServerClient(server.http_url),
                       grpcclient.InferenceServerClient(server.grpc_url)):
            assert _count(client) == 0
            with pytest.raises(InferenceServerException, match="Client shared memory is disabled"):
                client.register_system_shared_memory("d", f"/d_{os.getpid()}", 8)
            with pytest.raises(InferenceServerException, match="Client shared memory is disabled"):
                client.unregister_system_shared_memory("d")
            with pytest.raises(InferenceServerException, match="no GPU") as info:
                client.get_cuda_shared_memory_status()
            assert info.value.status() in ("400", "StatusCode.INVALID_ARGUMENT")
    finally:
        shm.destroy_shared_memory_region(handle)
