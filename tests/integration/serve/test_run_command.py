"""`modelport run`: one inference from the command line, checked against ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from support.models import add_model, write_model


def _run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelport", "run", *args],
                          capture_output=True, text=True, timeout=120,
                          env={"MODELPORT_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"})


def test_run_onnx_file_with_npy_inputs(tmp_path: Path) -> None:
    """Inputs from .npy files give exactly ONNX Runtime's outputs, shapes and a latency."""
    model = write_model(tmp_path / "repo", "add", add_model(3.0))
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.ones((2, 4), np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    done = _run(str(model), "--input", f"a={tmp_path / 'a.npy'}", "--input",
                f"b={tmp_path / 'b.npy'}", "--json", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = ort.InferenceSession(str(model)).run(None, {"a": a, "b": b})[0]
    assert report["outputs"]["out"]["shape"] == [2, 4]
    assert report["outputs"]["out"]["preview"] == [round(float(v), 5) for v in
                                                  expected.ravel()[:6]]
    assert report["latency_ms"]["runs"] == 1 and report["load_ms"] > 0


def test_run_demo_model_prints_top_k(tmp_path: Path) -> None:
    """A demo model by name, random input: text output names the output and its top-5."""
    done = _run("mlp", "--batch", "2", "--repeat", "3", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "output   output" in done.stdout and "top-5 [1]" in done.stdout
    assert "over 3 run(s)" in done.stdout


def test_run_reports_bad_arguments_clearly(tmp_path: Path) -> None:
    """Unknown input names and missing files give one clear error line and exit 2."""
    model = write_model(tmp_path / "repo", "add", add_model())
    np.save(tmp_path / "x.npy", np.ones((1, 4), np.float32))
    done = _run(str(model), "--input", f"nope={tmp_path / 'x.npy'}", cache=tmp_path / "c")
    assert done.returncode == 2 and "no input named ['nope']" in done.stderr
    done = _run(str(tmp_path / "missing.onnx"), cache=tmp_path / "c")
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_an_ensemble_runs_its_steps(tmp_path: Path) -> None:
    """An ensemble by name runs its steps in-process: the demo classify_image equals
    image_preprocess then resnet18 on the same pixels."""
    cache = tmp_path / "cache"
    pixels = np.random.default_rng(3).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    np.save(tmp_path / "pixels.npy", pixels)
    done = _run("classify_image", "--input", f"pixels={tmp_path / 'pixels.npy'}", "--json",
                cache=cache)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    repo = next(cache.glob("demo-repo-v*"))
    (image,) = ort.InferenceSession(str(repo / "image_preprocess/1/model.onnx")).run(
        None, {"pixels": pixels})
    (logits,) = ort.InferenceSession(str(repo / "resnet18/1/model.onnx")).run(
        None, {"input": image})
    assert report["outputs"]["logits"]["shape"] == [1, 1000]
    assert report["outputs"]["logits"]["top_k"][0][0]["index"] == int(logits.argmax())
    np.testing.assert_allclose(report["outputs"]["logits"]["preview"],
                               logits.ravel()[:6], atol=1e-4)


def test_run_a_python_backend_model(tmp_path: Path) -> None:
    """A Python-backend model by name runs its model.py; what it prints stays off stdout, so
    the JSON report parses."""
    from support.python_models import ADD_SUB, ADD_SUB_CONFIG, write_python_model

    write_python_model(tmp_path / "repo", "add_sub", ADD_SUB_CONFIG, ADD_SUB)
    a, b = np.arange(4, dtype=np.float32), np.full(4, 0.5, np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    done = _run("add_sub", "--repository", str(tmp_path / "repo"), "--json",
                "--input", f"INPUT0={tmp_path / 'a.npy'}",
                "--input", f"INPUT1={tmp_path / 'b.npy'}",
                cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["file"].endswith("add_sub/1/model.py")
    np.testing.assert_allclose(report["outputs"]["OUTPUT0"]["preview"], a + b)
    np.testing.assert_allclose(report["outputs"]["OUTPUT1"]["preview"], a - b)
