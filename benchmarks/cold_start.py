"""Session creation with and without the optimized-model cache, for single-file and
external-data models (the way torch.onnx.export writes them), measured side by side.

For each demo model, in two layouts (weights inside model.onnx, and in model.onnx.data), it
alternates: a session built from the user's files with the cache off, and one built from a warm
cache entry. It prints medians and the ratio cached / uncached (below 1 means the cache helps).

    .venv/bin/python benchmarks/cold_start.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import onnx

from modelport.repository.demo import ensure_demo_repository
from modelport.repository.layout import Repository
from modelport.repository.resolve import resolve
from modelport.runtime import RuntimeSettings
from modelport.runtime.onnxruntime import OnnxRuntimeBackend

MODELS = ("resnet18", "text_encoder", "mlp")


def _external_copy(source: Path, target: Path) -> Path:
    """Write ``source`` as model.onnx + model.onnx.data under ``target``."""
    target.mkdir(parents=True)
    model = onnx.load(str(source))
    out = target / "model.onnx"
    onnx.save(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=1024)
    return out


def _time_load(path: Path, config: object, cache: Path | None) -> float:
    settings = RuntimeSettings(cache_dir=cache)
    started = time.perf_counter()
    instance = OnnxRuntimeBackend().load(path, config, 0, settings)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    instance.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    repo = Repository(ensure_demo_repository())
    print(f"{'model':<14}{'layout':<10}{'uncached ms':>12}{'cached ms':>11}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            resolved = resolve(repo, name)
            inline = resolved.source.versions[max(resolved.versions)] / "model.onnx"
            external = _external_copy(inline, Path(tmp) / name / "1")
            for layout, path in (("inline", inline), ("external", external)):
                cache = Path(tmp) / f"cache-{name}-{layout}"
                _time_load(path, resolved.config, cache)  # writes the entry
                plain, cached = [], []
                for _ in range(args.rounds):
                    plain.append(_time_load(path, resolved.config, None))
                    cached.append(_time_load(path, resolved.config, cache))
                p, c = statistics.median(plain) * 1e3, statistics.median(cached) * 1e3
                print(f"{name:<14}{layout:<10}{p:>12.1f}{c:>11.1f}{c / p:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
