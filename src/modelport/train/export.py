"""Hand-off: the trained model as ONNX in the next version folder of a model repository.

The version is written beside its final place (``REPO/NAME/.partial-<v>-<pid>``), checked
against torch with ONNX Runtime, and renamed to ``REPO/NAME/<v>`` in one step, so a server
polling the repository never sees half a version. torch's exporter writes the weights next to
the graph (``model.onnx`` + ``model.onnx.data``), which is what users of torch 2.13 get by
default, and that is what we ship. ``config.pbtxt`` is written when the model has none.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import ExportError, ModelNotFound
from modelport.repository.layout import CONFIG_FILE, check_model_name
from modelport.train.config import ExportTarget
from modelport.train.handoff import ServerHandle
from modelport.train.summary import TrainSummary

MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Agreement:
    """How closely ONNX Runtime reproduces torch on the example inputs."""

    max_abs_diff: float
    tolerance: float
    rows: int


def next_version(model_dir: Path) -> int:
    """One more than the highest numeric version folder (1 when there is none)."""
    if not model_dir.is_dir():
        return 1
    taken = [int(p.name) for p in model_dir.iterdir()
             if p.is_dir() and p.name.isascii() and p.name.isdigit()]
    return max(taken, default=0) + 1


class Exporter:
    """Exports a trained model to ``target`` and optionally loads it on a server."""

    def __init__(self, target: ExportTarget, tolerance: float, serve_url: str | None,
                 serve_token: str | None) -> None:
        self.target = target
        self.tolerance = tolerance
        self.server = ServerHandle(serve_url, serve_token) if serve_url else None

    @property
    def model_dir(self) -> Path:
        """REPO/NAME."""
        return self.target.repository / self.target.name

    def check(self) -> None:
        """Before training: the name is valid, the folder writable, the server reachable.

        Raises:
            ExportError: what is wrong and how to fix it.
        """
        try:
            check_model_name(self.target.name)
        except ModelNotFound:
            raise ExportError(f"'{self.target.name}' cannot be a model name: use letters, "
                              "digits, '_', '-' and '.'") from None
        if self.target.repository.exists() and not self.target.repository.is_dir():
            raise ExportError(f"model repository '{self.target.repository}' is not a folder")
        try:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            probe = self.model_dir / f".modelport-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ExportError(f"model repository folder '{self.model_dir}' is not writable "
                              f"({reason}): choose a folder you can write to") from None
        if self.server is not None:
            self.server.check_live()

    def __call__(self, spec: Any, model: Any, summary: TrainSummary,
                 note: Callable[[str], None]) -> None:
        """Export, check agreement, publish the version, and load it on the server."""
        example = _example(spec)
        version = next_version(self.model_dir)
        staging = self.model_dir / f".partial-{version}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            outputs = _write_onnx(model, example, staging / MODEL_FILE)
            agreement = _agree(model, example, staging / MODEL_FILE, self.tolerance)
            self._write_config(example, outputs)
            final = self.model_dir / str(version)
            os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        note(f"exported version {version} to {final} (torch vs ONNX Runtime: max |diff| "
             f"{agreement.max_abs_diff:.2e} on {agreement.rows} rows, tolerance "
             f"{agreement.tolerance:.0e})")
        summary.exported = str(final)
        summary.export_max_abs_diff = agreement.max_abs_diff
        summary.export_tolerance = agreement.tolerance
        if self.server is not None:
            self.server.load(self.target.name)
            summary.served = self.server.url
            note(f"loaded '{self.target.name}' on {self.server.url}")

    def _write_config(self, example: Any, outputs: list[np.ndarray]) -> None:
        path = self.model_dir / CONFIG_FILE
        if path.exists():
            return  # the user's config (batching, instances) stays theirs
        text = render_config(self.target.name, _as_arrays(example), outputs)
        tmp = path.with_name(f".{CONFIG_FILE}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def input_names(count: int) -> list[str]:
    """``input`` for one input, else ``input_0``, ``input_1``, ..."""
    return ["input"] if count == 1 else [f"input_{i}" for i in range(count)]


def output_names(count: int) -> list[str]:
    """``output`` for one output, else ``output_0``, ``output_1``, ..."""
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def render_config(name: str, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> str:
    """config.pbtxt for a batching ONNX model with these example inputs and outputs."""
    from modelport.datatypes import from_numpy
    from modelport.repository.demo.config import DemoConfig, DynamicBatching, TensorSpec
    from modelport.repository.demo.config import render_config as render

    def specs(names: list[str], arrays: list[np.ndarray]) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(n, from_numpy(a.dtype).name, tuple(a.shape[1:]))
                     for n, a in zip(names, arrays, strict=True))

    config = DemoConfig(name=name, max_batch_size=max(64, inputs[0].shape[0]),
                        inputs=specs(input_names(len(inputs)), inputs),
                        outputs=specs(output_names(len(outputs)), outputs),
                        dynamic_batching=DynamicBatching())
    return render(config)


def _example(spec: Any) -> Any:
    import torch

    example = spec.example_input()
    if example is None:
        first = spec.dataset()[0][0]
        example = torch.as_tensor(np.asarray(first))[None]
    tensors = example if isinstance(example, (tuple, list)) else (example,)
    if tensors[0].shape[0] < 2:  # a batch of one would fix the batch dimension at 1
        tensors = tuple(torch.cat([t, t]) for t in tensors)
    return tuple(tensors)


def _as_arrays(example: Any) -> list[np.ndarray]:
    return [t.detach().cpu().numpy() for t in example]


def _torch_outputs(model: Any, example: Any) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        out = model(*example)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().cpu().numpy() for o in outs]


def _write_onnx(model: Any, example: Any, path: Path) -> list[np.ndarray]:
    import torch

    outputs = _torch_outputs(model, example)
    names = input_names(len(example))
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    dynamic = {n: {0: batch} for n in names}
    try:
        with _quiet_exporter():
            torch.onnx.export(model, example, str(path), input_names=names,
                              output_names=output_names(len(outputs)),
                              dynamic_shapes=dynamic, verbose=False)
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed for the trained model: "
                          f"{str(exc).splitlines()[0][:300]}") from None
    return outputs


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter prints its phases and warns about torchvision and its own deprecations."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _agree(model: Any, example: Any, path: Path, tolerance: float) -> Agreement:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    rows = 0
    for batch in (example, tuple(t[:1] for t in example)):  # the batch, and a batch of one
        expected = _torch_outputs(model, batch)
        feed = dict(zip(input_names(len(batch)), _as_arrays(batch), strict=True))
        got = session.run(None, feed)
        for want, have in zip(expected, got, strict=True):
            worst = max(worst, float(np.max(np.abs(want.astype(np.float64) - have))))
        rows += batch[0].shape[0]
    if not worst <= tolerance:
        raise ExportError(f"ONNX Runtime disagrees with torch on the exported model: max |diff| "
                          f"{worst:.3e} > tolerance {tolerance:.0e} (--tolerance to accept it)")
    return Agreement(worst, tolerance, rows)
