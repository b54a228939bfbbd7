"""A Triton Python-backend model's per-request cost vs an ONNX model doing the same work.

  1. Served: one `modelport serve` holds Triton's add_sub twice, as ONNX and as model.py
     (FP32 [4]), and an identity model twice for a 256 KiB tensor. A client (tritonclient gRPC,
     one request at a time, in this process) alternates short windows between the ONNX and
     the Python model, round after round. Prints each side's median latency, the ratio and
     the difference (the Python backend's overhead per request: the stub round trip).
  2. Transport: the Python identity model driven without a server (PythonInstance.run),
     tensors of 4 KiB to 4 MiB through shared memory (wire.INLINE_MAX 0) vs inside the socket
     message (wire.INLINE_MAX above their size), alternating. Prints the ratio per size: where
     it crosses 1 is where wire.INLINE_MAX belongs.

Run: .venv/bin/python benchmarks/python_backend.py [--rounds 5] [--window 1.0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import tritonclient.grpc as grpcclient
from _harness import modelport_server, table
from onnx import TensorProto, helper

from modelport.repository.pbtxt import parse_text, to_view
from modelport.runtime.python import wire
from modelport.runtime.python.backend import config_json
from modelport.runtime.python.instance import PythonInstance
from modelport.runtime.python.stubspec import StubSpec

BIG = (256, 256)  # FP32: 256 KiB

ADD_SUB_PY = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            a = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            b = pb_utils.get_input_tensor_by_name(r, "INPUT1").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", a + b),
                                                   pb_utils.Tensor("OUTPUT1", a - b)]))
        return out
"""
IDENTITY_PY = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())])
            for r in requests]
"""


def _config(name: str, backend: str, inputs: list[str], outputs: list[str],
            dims: tuple[int, ...]) -> str:
    tensor = "{{ name: \"{}\" data_type: TYPE_FP32 dims: [ {} ] }}"
    shape = ", ".join(str(d) for d in dims)
    ins = ", ".join(tensor.format(n, shape) for n in inputs)
    outs = ", ".join(tensor.format(n, shape) for n in outputs)
    return f'name: "{name}"\nbackend: "{backend}"\ninput [ {ins} ]\noutput [ {outs} ]\n'


def _onnx(nodes: list[onnx.NodeProto], inputs: list[str], outputs: list[str],
          dims: tuple[int, ...]) -> bytes:
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(dims))
          for n in (*inputs, *outputs)]
    graph = helper.make_graph(nodes, "g", io[:len(inputs)], io[len(inputs):])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def build(repo: Path) -> None:
    """add_sub and identity, each as ONNX and as model.py."""
    add_sub = ([helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
                helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])],
               ["INPUT0", "INPUT1"], ["OUTPUT0", "OUTPUT1"], (4,))
    identity = ([helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])], ["INPUT0"],
                ["OUTPUT0"], BIG)
    for name, (nodes, ins, outs, dims), source in (("add_sub", add_sub, ADD_SUB_PY),
                                                   ("identity", identity, IDENTITY_PY)):
        onnx_dir, py_dir = repo / f"onnx_{name}", repo / f"py_{name}"
        (onnx_dir / "1").mkdir(parents=True)
        (onnx_dir / "1" / "model.onnx").write_bytes(_onnx(nodes, ins, outs, dims))
        (py_dir / "1").mkdir(parents=True)
        (py_dir / "1" / "model.py").write_text(textwrap.dedent(source))
        (py_dir / "config.pbtxt").write_text(_config(f"py_{name}", "python", ins, outs, dims))


def _window(call: Callable[[], object], seconds: float) -> list[float]:
    """Latencies (seconds) of back-to-back calls for about ``seconds``."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def alternate(sides: dict[str, Callable[[], object]], rounds: int, window: float,
              ) -> tuple[dict[str, float], list[float]]:
    """Median latency per side over all rounds, and each round's ratio (second / first)."""
    names = list(sides)
    for call in sides.values():  # warm up
        _window(call, 0.2)
    samples: dict[str, list[float]] = {n: [] for n in names}
    ratios = []
    for _ in range(rounds):
        medians = {}
        for name in names:
            times = _window(sides[name], window)
            samples[name] += times
            medians[name] = statistics.median(times)
        ratios.append(medians[names[1]] / medians[names[0]])
    return {n: statistics.median(v) for n, v in samples.items()}, ratios


def served(rounds: int, window: float) -> list[dict[str, object]]:
    """Part 1: the same work served as ONNX and as a Python model."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        build(repo)
        context, _, grpc_port = modelport_server(repo)
        with context:
            client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
            for model, arrays in (("add_sub", {"INPUT0": np.arange(4, dtype=np.float32),
                                               "INPUT1": np.ones(4, np.float32)}),
                                  ("identity", {"INPUT0": np.ones(BIG, np.float32)})):
                inputs = []
                for name, array in arrays.items():
                    tensor = grpcclient.InferInput(name, list(array.shape), "FP32")
                    tensor.set_data_from_numpy(array)
                    inputs.append(tensor)
                sides = {side: (lambda m=f"{side}_{model}", i=inputs: client.infer(m, i))
                         for side in ("onnx", "py")}
                medians, ratios = alternate(sides, rounds, window)
                rows.append({"model": model, "onnx p50 us": medians["onnx"] * 1e6,
                             "python p50 us": medians["py"] * 1e6,
                             "overhead us": (medians["py"] - medians["onnx"]) * 1e6,
                             "python / onnx": statistics.median(ratios),
                             "rounds": f"{min(ratios):.2f}-{max(ratios):.2f}"})
    return rows


def transport(rounds: int, window: float) -> list[dict[str, object]]:
    """Part 2: tensors to a stub and back, in shared memory vs inside the message."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        build(repo)
        folder = repo / "py_identity"
        config = to_view(parse_text((folder / "config.pbtxt").read_text()))
        spec = StubSpec(name="py_identity", version=1, index=0,
                        model_file=folder / "1" / "model.py", config_json=config_json(config),
                        decoupled=False)
        default = wire.INLINE_MAX
        wire.INLINE_MAX = 0  # this instance puts every tensor in shared memory
        shm = PythonInstance(spec)
        wire.INLINE_MAX = 1 << 40  # this one sends everything inside its messages
        inline = PythonInstance(spec)
        wire.INLINE_MAX = default
        rows: list[dict[str, object]] = []
        try:
            for kib in (1, 4, 8, 16, 32, 64, 256, 4096):
                feed = {"INPUT0": np.ones(kib * 256, np.float32)}
                medians, ratios = alternate(
                    {"shm": lambda f=feed: shm.run(f, ["OUTPUT0"]),  # type: ignore[misc]
                     "inline": lambda f=feed: inline.run(f, ["OUTPUT0"])},  # type: ignore[misc]
                    rounds, window)
                rows.append({"tensor KiB": kib, "shared memory us": medians["shm"] * 1e6,
                             "in the message us": medians["inline"] * 1e6,
                             "message / shm": statistics.median(ratios),
                             "rounds": f"{min(ratios):.2f}-{max(ratios):.2f}"})
        finally:
            shm.close()
            inline.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=1.0, help="seconds per side per round")
    args = parser.parse_args()
    print(table(served(args.rounds, args.window), ["model", "onnx p50 us", "python p50 us",
                                                   "overhead us", "python / onnx", "rounds"]))
    print()
    print(table(transport(args.rounds, args.window), [
        "tensor KiB", "shared memory us", "in the message us", "message / shm", "rounds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
