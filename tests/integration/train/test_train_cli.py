"""``modelport train`` from the command line: bad input gets one line and exit 2, never a
traceback; --json prints only the summary."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.training import TINY_SPEC

EXAMPLE = Path(__file__).parents[3] / "examples" / "train" / "digits.py"


def _train(*args: str, code: str | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modelport", "train", *args]
    if code is not None:
        command = [sys.executable, "-c", code, "train", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("modelport: error:")]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """The tiny spec as a file."""
    path = tmp_path / "tiny.py"
    path.write_text(TINY_SPEC)
    return path


def test_spec_missing_a_function(tmp_path: Path) -> None:
    """A spec without loss() is named with the missing function."""
    path = tmp_path / "broken.py"
    path.write_text(TINY_SPEC.replace("def loss(", "def not_loss("))
    _one_line_error(_train(str(path)), "does not define loss()")


def test_data_set_smaller_than_workers(tmp_path: Path) -> None:
    """Three items for four workers is refused before Ray starts."""
    path = tmp_path / "small.py"
    path.write_text(TINY_SPEC.replace("torch.randn(256, 6", "torch.randn(3, 6"))
    _one_line_error(_train(str(path), "--workers", "4"), "3 items, fewer than the 4 workers")


def test_address_with_no_cluster(spec: Path) -> None:
    """A HOST:PORT where nothing listens says how to start a cluster, within seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    _one_line_error(_train(str(spec), "--address", f"127.0.0.1:{port}", timeout=60),
                    "no Ray cluster answers", "ray start --head")


def test_repository_not_writable(spec: Path, tmp_path: Path) -> None:
    """An export folder that cannot be written is refused before training starts."""
    if os.geteuid() == 0:
        target = "/proc/modelport-not-writable/digits"  # even root cannot create folders here
    else:
        repo = tmp_path / "ro"
        repo.mkdir(mode=0o555)
        target = str(repo / "digits")
    _one_line_error(_train(str(spec), "--export", target), "is not writable")


@pytest.mark.parametrize("missing", ["ray", "torch"])
def test_missing_extra(spec: Path, missing: str) -> None:
    """Without ray or torch the error names the pip extra."""
    code = (f"import sys; sys.modules[{missing!r}] = None\n"
            "from modelport.cli import main; sys.exit(main(sys.argv[1:]))")
    _one_line_error(_train(str(spec), code=code), f"{missing} is not installed",
                    "pip install 'modelport[train]'")


def test_spec_failing_only_on_the_workers(tmp_path: Path) -> None:
    """A spec that loads on the driver but fails in the workers' constructors stops the job
    with the workers' error, instead of restarting them until the step timeout."""
    path = tmp_path / "remote.py"
    path.write_text(TINY_SPEC.replace(
        "def dataset():\n", "def dataset():\n    import ray\n    if ray.is_initialized():\n"
        "        raise RuntimeError('no data on this node')\n"))
    done = _train(str(path), "--step-timeout", "100", timeout=120)
    _one_line_error(done, "failed to start", "no data on this node")


def test_checkpoint_folder_of_an_earlier_run(spec: Path, tmp_path: Path) -> None:
    """A checkpoint folder that already holds a checkpoint needs --resume."""
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "step-00000010.pt").write_bytes(b"x")
    _one_line_error(_train(str(spec), "--checkpoint-dir", str(tmp_path / "ckpt")), "--resume")


@pytest.mark.slow
def test_json_summary_of_the_digits_example(tmp_path: Path) -> None:
    """The bundled example trains on 2 workers, exports, and --json prints one JSON object."""
    pytest.importorskip("sklearn")
    done = _train(str(EXAMPLE), "--workers", "2", "--epochs", "6", "--export",
                  str(tmp_path / "models" / "digits"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["steps"] == 6 * 22 and summary["workers"] == 2
    assert summary["metrics"]["accuracy"] >= 0.95
    assert summary["exported"] == str(tmp_path / "models" / "digits" / "1")
    assert summary["export_max_abs_diff"] <= 1e-4
    assert (tmp_path / "models" / "digits" / "1" / "model.onnx").is_file()
