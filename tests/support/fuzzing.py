"""What the fuzz harnesses share: the repository they serve, hypothesis strategies for client
bytes, and the checks every answer must pass (no 5xx, an ``{"error"}`` body on every non-200,
no traceback, server path or object repr in any answer).

The hypothesis tests in the default suite run a few hundred cases each; ``MODELPORT_FUZZ_EXAMPLES``
raises that for the long run (``benchmarks/fuzz.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from modelport.serve.config import ServerConfig
from modelport.serve.server import Server
from support.models import add_model, identity_model, write_model

FORBIDDEN = re.compile(rb"Traceback|/site-packages/|\.py\"?, line \d|object at 0x|/src/modelport")
DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES", "BF16"]

ECHO_CONFIG = """
backend: "fake"
max_batch_size: 4
input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]
dynamic_batching { }
"""
#: model -> its inputs (name, datatype) that the strategies aim at
MODELS: dict[str, list[tuple[str, str]]] = {
    "echo": [("x", "FP32")],
    "add": [("a", "FP32"), ("b", "FP32")],
    "text": [("x", "BYTES")],
    "ints": [("x", "INT64")],
}
#: model -> the inner dims its inputs take (after the batch dimension), -1 for any
INNER = {"echo": 2, "add": 4, "text": -1, "ints": -1}
#: model -> its outputs
OUTPUTS = {"echo": ["y"], "add": ["out", "diff"], "text": ["y"], "ints": ["y"]}


def examples(default: int) -> int:
    """How many cases a harness runs: ``default``, or MODELPORT_FUZZ_EXAMPLES for long runs."""
    return int(os.environ.get("MODELPORT_FUZZ_EXAMPLES", default))


def fuzz_settings(default: int) -> settings:
    """Deterministic, database-free hypothesis settings for a harness."""
    return settings(max_examples=examples(default), deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))


def build_repo(root: Path) -> Path:
    """A repository with a fake-backend model and small ONNX models (FP32, BYTES, INT64)."""
    write_model(root, "add", add_model(2.0))
    write_model(root, "text", identity_model("BYTES"))
    write_model(root, "ints", identity_model("INT64"))
    (root / "echo" / "1").mkdir(parents=True)
    (root / "echo" / "config.pbtxt").write_text(ECHO_CONFIG)
    return root


def dump(value: Any) -> bytes:
    """JSON text of ``value``; integers past 64 bits and NaN stay as they are (orjson refuses
    them, clients can still send them)."""
    return json.dumps(value).encode()


def check_answer(status: int, body: bytes, what: str = "") -> None:
    """The rules every HTTP answer to client bytes must keep."""
    assert status < 500, f"{what}: {status} {body[:500]!r}"
    assert not FORBIDDEN.search(body), f"{what}: internal detail in {body[:500]!r}"
    if status != 200:
        error = json.loads(body)["error"]
        assert isinstance(error, str) and error, f"{what}: {body[:300]!r}"


def check_grpc_details(details: str | None, what: str = "") -> None:
    """A gRPC status message must not leak internals."""
    assert not FORBIDDEN.search((details or "").encode()), f"{what}: {details!r}"


class LoopServer:
    """A Server on its own event-loop thread: gRPC on a free port, HTTP driven in-process
    through ``httpx.ASGITransport`` (no socket)."""

    def __init__(self, repo: Path, cache: Path, **overrides: Any) -> None:
        config = ServerConfig(model_repository=repo, http_port=-1, grpc_port=0, metrics_port=-1,
                              cache_dir=cache, **overrides)
        self.server = Server(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self.server.start())
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.server.http_app()), base_url="http://fuzz")

    def call(self, coro: Any) -> Any:
        """Run ``coro`` on the server's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def request(self, method: str, path: str, content: bytes = b"",
                headers: dict[str, str] | None = None) -> httpx.Response:
        """One HTTP request through the ASGI app."""
        return self.call(self.client.request(method, path, content=content,  # type: ignore[no-any-return]
                                             headers=headers or {}))

    @property
    def grpc_url(self) -> str:
        """host:port of the gRPC front."""
        return f"127.0.0.1:{self.server.grpc_port}"

    def stop(self) -> None:
        """Stop the server and its loop."""
        self.call(self.client.aclose())
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


# --- strategies ------------------------------------------------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=False), st.text(max_size=8))
JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
NAMES = st.sampled_from(["x", "a", "b", "y", "out", "diff", ""]) | st.text(max_size=4)
DIMS = st.one_of(st.integers(0, 4), st.integers(-3, 2**64), st.sampled_from([-1, 2**31, 2**63]))
SHAPES = st.one_of(st.lists(st.integers(0, 4), max_size=3), st.lists(DIMS, max_size=5),
                   JSON)
DATATYPE = st.sampled_from(DATATYPES) | st.text(max_size=5)


@st.composite
def data_for(draw: st.DrawFn, shape: Any) -> Any:
    """Data that often fits ``shape``, sometimes not."""
    count = 1
    if isinstance(shape, list) and all(isinstance(d, int) and 0 <= d <= 8 for d in shape):
        for d in shape:
            count *= d
    element = st.one_of(st.integers(-300, 300), st.floats(), st.text(max_size=4),
                        st.booleans(), st.integers(-2**70, 2**70))
    if draw(st.booleans()):
        return draw(st.lists(element, min_size=count, max_size=count))
    return draw(JSON)


PARAM_KEYS = ["binary_data_size", "shared_memory_region", "shared_memory_offset",
              "shared_memory_byte_size", "classification", "binary_data", "binary_data_output",
              "timeout", "sequence_id", "sequence_start", "sequence_end", "priority"]
PARAMS = st.dictionaries(st.sampled_from(PARAM_KEYS) | st.text(max_size=4), JSON, max_size=3)


@st.composite
def input_entry(draw: st.DrawFn) -> Any:
    """One entry of ``inputs``: mostly well-formed, with hostile fields mixed in."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    shape = draw(SHAPES)
    entry: dict[str, Any] = {"name": draw(NAMES), "datatype": draw(DATATYPE), "shape": shape}
    if draw(st.booleans()):
        entry["data"] = draw(data_for(shape))
    if draw(st.integers(0, 2)) == 0:
        entry["parameters"] = draw(PARAMS)
    for key in draw(st.lists(st.sampled_from(["name", "datatype", "shape"]), max_size=1)):
        entry[key] = draw(JSON)
    return entry


@st.composite
def infer_body(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON infer request for one of the served models."""
    body: dict[str, Any] = {"inputs": draw(st.lists(input_entry(), max_size=3))}
    if draw(st.booleans()):
        body["outputs"] = draw(st.lists(st.fixed_dictionaries(
            {"name": NAMES}, optional={"parameters": PARAMS}) | JSON, max_size=3))
    if draw(st.booleans()):
        body["parameters"] = draw(PARAMS | JSON)
    if draw(st.integers(0, 3)) == 0:
        body["id"] = draw(JSON)
    return body


@st.composite
def valid_body(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """A JSON infer body ``model`` accepts."""
    batch = draw(st.integers(1, 3))
    inner = INNER[model] if INNER[model] > 0 else draw(st.integers(0, 3))
    inputs = []
    for name, datatype in MODELS[model]:
        element = {"FP32": st.floats(width=32, allow_nan=False), "INT64": st.integers(-9, 9),
                   "BYTES": st.text(max_size=4)}[datatype]
        data = draw(st.lists(element, min_size=batch * inner, max_size=batch * inner))
        inputs.append({"name": name, "datatype": datatype, "shape": [batch, inner],
                       "data": data})
    body: dict[str, Any] = {"inputs": inputs}
    if draw(st.booleans()):
        body["outputs"] = [{"name": n} for n in OUTPUTS[model]]
    return body


MUTATIONS = ["shape", "datatype", "data", "extra", "duplicate", "param", "output", "drop",
             "huge", "nest", "batch"]


@st.composite
def near_valid_body(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """A valid body with one to three things changed: reaches validation, batching and the
    runtime instead of stopping at the first parse check."""
    body = draw(valid_body(model))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        entries = [e for e in body["inputs"] if isinstance(e, dict)]
        entry: dict[str, Any] = draw(st.sampled_from(entries)) if entries else {}
        if mutation == "shape":
            entry["shape"] = draw(st.lists(DIMS, max_size=4))
        elif mutation == "datatype":
            entry["datatype"] = draw(DATATYPE)
        elif mutation == "data":
            entry["data"] = draw(data_for(entry.get("shape")))
        elif mutation == "extra":
            body["inputs"].append(draw(input_entry()))
        elif mutation == "duplicate" and entry:
            body["inputs"].append(dict(entry))
        elif mutation == "param":
            params = entry.get("parameters")
            entry["parameters"] = {**(params if isinstance(params, dict) else {}),
                                   **draw(PARAMS)}
        elif mutation == "output":
            body.setdefault("outputs", []).append({"name": draw(st.sampled_from(
                OUTPUTS[model]) | NAMES), "parameters": draw(PARAMS)})
        elif mutation == "drop" and body["inputs"]:
            body["inputs"].pop(0)
        elif mutation == "huge":
            entry["shape"] = [draw(st.sampled_from([2**31, 2**40, 10**9])), 2]
        elif mutation == "nest":
            entry["data"] = draw(st.sampled_from([[[[1.0, 2.0]]], [[1.0], [2.0, 3.0]], [[]],
                                                  [[1.0, 2.0]] * 2]))
        elif mutation == "batch":
            shape = entry.get("shape")
            rest = shape[1:] if isinstance(shape, list) else []
            entry["shape"] = [draw(st.integers(0, 9)), *rest]
    return body


class BuggyBackend:
    """A backend whose instances raise a plain Python error, as a backend bug would."""

    def load(self, path: Path, config: Any, index: int, settings: Any) -> Any:
        """An instance that fails every batch."""
        from modelport.runtime.fake import FakeInstance

        class Buggy(FakeInstance):
            def run(self, inputs: Any, outputs: Any) -> Any:
                raise KeyError("secret /opt/app/model_code.py")

        return Buggy(config)
