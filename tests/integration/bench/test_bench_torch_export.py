"""The torch runtimes on models written by torch's own exporter (torch 2.13: opset 18+,
external weights), the models onnx2torch could not convert."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import pytest

from modelport.bench.config import BenchConfig, RuntimeChoice
from modelport.bench.results import BenchResult
from modelport.bench.runner import Bench

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "onnxscript")),
    reason="torch.onnx.export needs torch and onnxscript",
)


def _modules() -> dict[str, tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    import torch

    class Cnn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.norm = torch.nn.BatchNorm2d(8)
            self.head = torch.nn.Linear(8, 4)

        def forward(self, x: Any) -> Any:
            y = torch.relu(self.norm(self.conv(x)))
            return self.head(y.mean(dim=(2, 3)))

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(100, 32)
            self.layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)

        def forward(self, ids: Any) -> Any:
            return self.layer(self.embed(ids)).mean(dim=1)

    torch.manual_seed(0)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    return {
        "cnn": (Cnn().eval(), (torch.rand(2, 3, 16, 16),), {"x": {0: batch}}),
        "encoder": (
            Encoder().eval(),
            (torch.randint(0, 100, (2, 7)),),
            {"ids": {0: batch, 1: seq}},
        ),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Models written by ``torch.onnx.export`` with its defaults (the dynamo exporter)."""
    import torch

    folder = tmp_path_factory.mktemp("exported")
    paths = {}
    for name, (module, args, shapes) in _modules().items():
        path = folder / f"{name}.onnx"
        with warnings.catch_warnings():  # torch's exporter warns about its own internals
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(path), dynamic_shapes=shapes, verbose=False)
        paths[name] = path
    return paths


def run(model: Path, runtime: str, batch_sizes: tuple[int, ...] = (1, 3)) -> BenchResult:
    """Benchmark ``model`` on one runtime for a few milliseconds."""
    config = BenchConfig(
        str(model), runtimes=(RuntimeChoice.parse(runtime),), batch_sizes=batch_sizes,
        warmup=1, min_count=3, min_duration=0.02,
    )  # fmt: skip
    return Bench(config).run()


def test_the_exporter_writes_the_operators_onnx2torch_lacked(exported: dict[str, Path]) -> None:
    """torch 2.13 writes opset 18+ ReduceMean and Shape, and weights in model.onnx.data."""
    import onnx

    for path in exported.values():
        model = onnx.load(str(path), load_external_data=False)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert opset >= 19
        assert path.with_name(path.name + ".data").is_file()
    ops = {n.op_type for p in exported.values() for n in onnx.load(str(p)).graph.node}
    assert {"ReduceMean", "Shape"} <= ops


@pytest.mark.parametrize("name", ["cnn", "encoder"])
def test_torch_eager_runs_exported_models(exported: dict[str, Path], name: str) -> None:
    """PyTorch eager runs what torch exported, and agrees with ONNX Runtime at fp32."""
    result = run(exported[name], "torch")
    assert not result.skipped, result.skipped
    assert [r.batch_size for r in result.rows] == [1, 3]
    assert all(r.agrees is True and r.precision == "fp32" for r in result.rows)


@pytest.mark.slow
def test_torch_compile_runs_an_exported_encoder_in_one_graph(exported: dict[str, Path]) -> None:
    """torch.compile on the exported transformer agrees and compiles without a graph break."""
    result = run(exported["encoder"], "torch-compile", batch_sizes=(2,))
    assert not result.skipped, result.skipped
    (row,) = result.rows
    assert row.agrees is True
    assert "no graph break" in row.notes
