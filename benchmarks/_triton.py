"""A real Triton Inference Server 2.51 on CPU, for side-by-side runs with modelport.

The `nvidia-pytriton==0.7.0` wheel bundles a `tritonserver` binary (2.51) and its Python backend.
PyTriton's own Python wrapper does not start on Python 3.11.7, so the binary is run directly:

- LD_LIBRARY_PATH at the wheel's `nvidia_pytriton.libs` (the binary's bundled libraries);
- `--backend-directory` at a folder `python/` that links the wheel's Python backend and the
  Python 3.11 stub (the wheel ships the stub beside the backends folder, not inside it);
- the scratch venv's bin folder first on PATH: the stub's embedded Python ignores PYTHONPATH and
  finds its environment through `python3` on PATH; that venv has numpy<2 (the wheel's pin) and
  the same onnxruntime as modelport's venv;
- HTTP, gRPC and metrics bound to 127.0.0.1 on free ports; metrics off, like modelport's
  benchmark servers.

Triton has no ONNX Runtime backend in this wheel, so a model is served as a Python-backend model
whose `model.py` runs the same ONNX model in an ONNX Runtime session (same thread settings as
modelport's defaults: all cores intra-op, one inter-op, pool threads not spinning) and
concatenates the requests of each batch the dynamic batcher hands it.

Set up once (about a minute, ~120 MB):  .venv/bin/python benchmarks/_triton.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _harness import free_port, process

HERE = Path(__file__).resolve().parent
ROOT = HERE / ".triton"  # git-ignored (benchmarks/.gitignore)
PYTRITON = "nvidia-pytriton==0.7.0"
SETUP_COMMAND = ".venv/bin/python benchmarks/_triton.py"


@dataclass(frozen=True)
class Triton:
    """Paths of a set-up Triton: the binary, its libraries, backends and the stub's venv."""

    venv: Path
    binary: Path
    libs: Path
    backends: Path


def requirements() -> list[str]:
    """The scratch venv's packages: PyTriton's wheel, numpy<2 and modelport's onnxruntime."""
    return [PYTRITON, "numpy<2", f"onnxruntime=={version('onnxruntime')}"]


def setup(root: Path = ROOT) -> Triton:
    """Create the scratch venv and the backend folder (idempotent)."""
    venv = root / "venv"
    if not (venv / "bin" / "python3").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"installing {' '.join(requirements())} into {venv}", flush=True)
    subprocess.run([str(venv / "bin" / "python3"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *requirements()], check=True)
    found = find(root)
    if found is None:
        raise SystemExit(f"{PYTRITON} installed but its tritonserver binary was not found")
    return found


def find(root: Path = ROOT) -> Triton | None:
    """The set-up Triton under ``root``, linking the backend folder if needed; None if absent."""
    venv = root / "venv"
    sites = sorted((venv / "lib").glob("python3*/site-packages"))
    if not sites:
        return None
    server = sites[0] / "pytriton" / "tritonserver"
    binary = server / "bin" / "tritonserver"
    stub = server / "python_backend_stubs" / "3.11" / "triton_python_backend_stub"
    if not (binary.exists() and stub.exists()):
        return None
    backends = root / "backends"
    python = backends / "python"
    python.mkdir(parents=True, exist_ok=True)
    for source in [*(server / "backends" / "python").glob("*.*"), stub]:
        link = python / source.name
        if not link.exists():
            link.symlink_to(source.resolve())
    return Triton(venv, binary, sites[0] / "nvidia_pytriton.libs", backends)


MODEL_PY = '''"""{name} on Triton's Python backend, running the ONNX model in ONNX Runtime."""

import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = {threads}
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "{spinning}")
        self.session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, "{input}").as_numpy() for r in requests]
        merged = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        result = self.session.run(["{output}"], {{"{input}": merged}})[0]
        responses, start = [], 0
        for a in arrays:
            piece = result[start : start + len(a)]
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("{output}", piece)]))
            start += len(a)
        return responses
'''

CONFIG = """name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [ {{ name: "{input}" data_type: TYPE_FP32 dims: [ {dims} ] }} ]
output [ {{ name: "{output}" data_type: TYPE_FP32 dims: [ {out_dims} ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: {delay_us} }}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
"""


def python_model_repository(onnx: Path, into: Path, name: str, io: tuple[str, str],
                            dims: tuple[tuple[int, ...], tuple[int, ...]], delay_us: int,
                            max_batch: int = 64, threads: int = 0, spinning: int = 0) -> Path:
    """A Triton repository with one Python-backend model running ``onnx`` (FP32 in and out),
    its session with ``threads`` intra-op threads (0: the cores) and spinning on or off
    (modelport's defaults: the cores, off)."""
    folder = into / name / "1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onnx.read_bytes())
    threads = threads or len(os.sched_getaffinity(0))
    (folder / "model.py").write_text(MODEL_PY.format(
        name=name, input=io[0], output=io[1], threads=threads, spinning=spinning))
    (into / name / "config.pbtxt").write_text(CONFIG.format(
        name=name, input=io[0], output=io[1], max_batch=max_batch, delay_us=delay_us,
        dims=", ".join(map(str, dims[0])), out_dims=", ".join(map(str, dims[1]))))
    return into


def server(triton: Triton, repo: Path, log: Path | None = None) -> tuple[Any, int]:
    """A `tritonserver` process serving ``repo`` on 127.0.0.1: (context, http_port)."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    command = [
        str(triton.binary),
        f"--model-repository={repo}",
        f"--backend-directory={triton.backends}",
        "--http-address=127.0.0.1",
        f"--http-port={http}",
        "--grpc-address=127.0.0.1",
        f"--grpc-port={grpc}",
        "--metrics-address=127.0.0.1",
        f"--metrics-port={metrics}",
        "--allow-metrics=false",
        "--log-verbose=0",
    ]
    env = {
        "LD_LIBRARY_PATH": str(triton.libs),
        "PATH": f"{triton.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return process(command, f"http://127.0.0.1:{http}/v2/health/ready", env=env, log=log), http


if __name__ == "__main__":
    found = setup()
    print(f"Triton ready: {found.binary}")
