"""Reading distributions, version files and NVIDIA pins without importing anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from probe_helpers import fake_dist

from modelport.probe.libraries import CATALOGUE, by_key, spec_for
from modelport.probe.metadata import Environment, nvidia_pins, read_version_file, satisfies

TORCH_VERSION_PY = """
__version__ = "2.8.0+cu126"
git_version = "abc"
cuda: Optional[str] = "12.6"
hip: Optional[str] = None
"""
TF_BUILD_INFO = """
import collections
build_info = collections.OrderedDict([("x", 1)])
build_info = {'cpu_compiler': 'clang', 'cuda_compute_capabilities': ['sm_60', 'compute_90'],
              'cuda_version': '12.5.1', 'cudnn_version': '9', 'is_cuda_build': True}
"""


def test_version_files(tmp_path: Path) -> None:
    """Annotated assignments, dict literals and JSON are read; code is never executed."""
    torch = tmp_path / "version.py"
    torch.write_text(TORCH_VERSION_PY)
    assert read_version_file(str(torch))["cuda"] == "12.6"
    tf = tmp_path / "build_info.py"
    tf.write_text(TF_BUILD_INFO)
    values = read_version_file(str(tf))
    assert values["build_info.cuda_version"] == "12.5.1"
    assert values["build_info.cuda_compute_capabilities"] == "sm_60,compute_90"
    wheel = tmp_path / "_wheel.json"
    wheel.write_text('{"cuda": "12.x", "packaging": "pip"}')
    assert read_version_file(str(wheel)) == {"cuda": "12.x", "packaging": "pip"}
    evil = tmp_path / "evil.py"
    evil.write_text("import os\nos.system('touch pwned')\nx = 1 +\n")
    assert read_version_file(str(evil)) == {}
    assert read_version_file(str(tmp_path / "missing.py")) == {}


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("9.1.0.70", "==9.1.0.70", True),
        ("9.1.0.70", "==9.1.0.71", False),
        ("12.4.127", ">=12.4,<13", True),
        ("13.0.1", ">=12.4,<13", False),
        ("12.4", "==12.4.0", True),
        ("12.6.3", "==12.6.*", True),
        ("12.8.1", "==12.6.*", False),
        ("2.21.5", "~=2.21", True),
        ("3.0", "~=2.21", False),
        ("1.0", "", True),
        ("1.0", "!=1.0", False),
    ],
)
def test_satisfies(version: str, spec: str, ok: bool) -> None:
    """PEP 440 specifiers on numeric releases."""
    assert satisfies(version, spec) is ok


@given(st.lists(st.integers(0, 200), min_size=1, max_size=4))
def test_satisfies_equality_is_reflexive(parts: list[int]) -> None:
    """Every version equals itself and is >= itself."""
    version = ".".join(map(str, parts))
    assert satisfies(version, f"=={version}") and satisfies(version, f">={version}")


def test_pins_and_environment(tmp_path: Path) -> None:
    """Requires-Dist pins on nvidia-* wheels are paired with what is installed."""
    fake_dist(
        tmp_path,
        "torch",
        "2.8.0+cu126",
        {"torch/version.py": TORCH_VERSION_PY},
        requires=(
            'nvidia-cudnn-cu12==9.10.2.21; platform_system == "Linux"',
            "nvidia-cublas-cu12==12.6.4.1",
            "nvidia-nccl-cu12==2.27.3",
            "filelock",
            'nvidia-cufft-cu12>=11; extra == "and-cuda"',
        ),
    )
    fake_dist(tmp_path, "nvidia-cudnn-cu12", "9.10.2.21", {"nvidia/cudnn/lib/x.txt": "x"})
    fake_dist(tmp_path, "nvidia_cublas_cu12", "12.4.5.8", {"nvidia/cublas/lib/y.txt": "y"})
    env = Environment([str(tmp_path)])
    dist = env.get("torch")
    assert dist is not None and dist.version == "2.8.0+cu126"
    pins = {p.dist: p for p in nvidia_pins(dist, env)}
    assert set(pins) == {
        "nvidia-cudnn-cu12",
        "nvidia-cublas-cu12",
        "nvidia-nccl-cu12",
        "nvidia-cufft-cu12",
    }
    assert pins["nvidia-cudnn-cu12"].ok
    assert not pins["nvidia-cublas-cu12"].ok and pins["nvidia-cublas-cu12"].installed == "12.4.5.8"
    assert pins["nvidia-nccl-cu12"].installed is None
    assert pins["nvidia-cufft-cu12"].extra == "and-cuda"
    assert dist.locate("torch/version.py") == str(tmp_path / "torch" / "version.py")


def test_catalogue_covers_the_reference_libraries() -> None:
    """At least 17 libraries, including every one the reference names."""
    assert len(CATALOGUE) >= 17
    for name in (
        "torch",
        "tensorflow",
        "jax",
        "onnxruntime",
        "paddlepaddle",
        "mxnet",
        "mindspore",
        "cupy",
        "tensorrt",
        "openvino",
        "tinygrad",
        "triton",
        "numba",
        "keras",
        "dgl",
        "deepspeed",
        "cuml",
        "tvm",
        "litert",
    ):
        assert by_key(name) is not None, name
    assert len({s.key for s in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize(
    ("dist", "key"),
    [
        ("cupy-cuda12x", "cupy"),
        ("Cupy_CUDA11x", "cupy"),
        ("jax-cuda12-plugin", "jax"),
        ("tensorrt-cu13", "tensorrt"),
        ("onnxruntime-gpu", "onnxruntime"),
        ("mxnet-cu117", "mxnet"),
        ("cuml-cu12", "cuml"),
        ("tf-nightly", "tensorflow"),
        ("numba-cuda", "numba"),
        ("nvidia-cublas-cu12", None),
    ],
)
def test_distribution_names_map_to_libraries(dist: str, key: str | None) -> None:
    """Distribution names, CUDA-suffixed or not, find their catalogue entry."""
    spec = spec_for(dist)
    assert (spec.key if spec else None) == key
