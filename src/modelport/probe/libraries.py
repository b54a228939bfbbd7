"""The catalogue of deep-learning and GPU libraries the probe knows by name.

Each entry says which distributions make up the library, where its generated version files are,
how it gets GPU code (``bundled`` fatbins, ``jit`` compiler at run time, ``system`` CUDA libraries,
or ``none``), and what its ``--import`` check asks at run time. Installed packages that are not in
the catalogue but carry GPU code are discovered and reported too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LibrarySpec:
    """How to recognise and inspect one library."""

    key: str
    title: str
    dists: tuple[str, ...]
    cuda: str = "bundled"
    version_files: tuple[str, ...] = ()
    module: str | None = None
    note: str = ""
    cuda_from_version: bool = False

    def matches(self, dist_name: str) -> bool:
        """Tell whether a normalised distribution name belongs to this library."""
        return any(re.fullmatch(pattern, dist_name) for pattern in self.dists)


CATALOGUE: tuple[LibrarySpec, ...] = (
    LibrarySpec(
        "torch", "PyTorch", ("torch",), version_files=("torch/version.py",), module="torch"
    ),
    LibrarySpec(
        "torchvision",
        "torchvision",
        ("torchvision",),
        version_files=("torchvision/version.py",),
        module="torchvision",
    ),
    LibrarySpec(
        "tensorflow",
        "TensorFlow",
        ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"),
        version_files=("tensorflow/python/platform/build_info.py",),
        module="tensorflow",
    ),
    LibrarySpec("jax", "JAX", ("jax", "jaxlib", r"jax-cuda\d+-(plugin|pjrt)"), module="jax"),
    LibrarySpec(
        "onnxruntime",
        "ONNX Runtime",
        ("onnxruntime-gpu", "onnxruntime"),
        version_files=("onnxruntime/capi/build_and_package_info.py",),
        module="onnxruntime",
        note="lists CUDAExecutionProvider even when CUDA libraries cannot load",
    ),
    LibrarySpec(
        "paddlepaddle",
        "PaddlePaddle",
        ("paddlepaddle-gpu", "paddlepaddle"),
        version_files=("paddle/version/__init__.py",),
        module="paddle",
    ),
    LibrarySpec(
        "mxnet",
        "Apache MXNet",
        (r"mxnet(-cu\d+[a-z]*)?",),
        module="mxnet",
        note="retired; last CUDA wheel is cu117",
    ),
    LibrarySpec(
        "mindspore",
        "MindSpore",
        (r"mindspore(-gpu)?",),
        module="mindspore",
        note="GPU builds dropped after 2.3",
    ),
    LibrarySpec(
        "cupy",
        "CuPy",
        (r"cupy(-cuda\d+x?)?",),
        version_files=("cupy/.data/_wheel.json",),
        cuda="jit",
        module="cupy",
    ),
    LibrarySpec(
        "tensorrt", "TensorRT", (r"tensorrt(-cu\d+)?(-libs|-bindings)?",), module="tensorrt"
    ),
    LibrarySpec(
        "openvino",
        "OpenVINO",
        ("openvino",),
        cuda="none",
        module="openvino",
        note="ships no CUDA code",
    ),
    LibrarySpec(
        "tinygrad",
        "tinygrad",
        ("tinygrad",),
        cuda="system",
        module="tinygrad",
        note="pure Python; compiles with the system's libnvrtc and runs on libcuda",
    ),
    LibrarySpec("triton", "Triton", ("triton", "pytorch-triton"), cuda="jit", module="triton"),
    LibrarySpec(
        "numba",
        "Numba CUDA",
        ("numba-cuda", "numba"),
        cuda="jit",
        module="numba",
        note="compiles kernels with NVVM at run time",
    ),
    LibrarySpec(
        "keras",
        "Keras",
        ("keras",),
        cuda="none",
        module="keras",
        note="runs on its backend's CUDA (TensorFlow, JAX or PyTorch)",
    ),
    LibrarySpec(
        "dgl", "DGL", (r"dgl(-cu\d+)?",), module="dgl", note="CUDA wheels on PyPI stop at cu111"
    ),
    LibrarySpec(
        "deepspeed",
        "DeepSpeed",
        ("deepspeed",),
        cuda="jit",
        version_files=("deepspeed/git_version_info_installed.py",),
        module="deepspeed",
        note="builds most CUDA ops at run time",
    ),
    LibrarySpec("cuml", "cuML", (r"cuml(-cu\d+)?", r"libcuml(-cu\d+)?"), module="cuml"),
    LibrarySpec("tvm", "Apache TVM", ("apache-tvm", "tvm"), cuda="system", module="tvm"),
    LibrarySpec(
        "litert",
        "LiteRT",
        ("ai-edge-litert", "tflite-runtime"),
        cuda="none",
        module="ai_edge_litert",
        note="ships no CUDA code",
    ),
    LibrarySpec(
        "cuda-python",
        "CUDA Python",
        ("cuda-python", r"cuda-bindings", "cuda-core"),
        cuda="system",
        module="cuda.bindings",
        cuda_from_version=True,
        note="bindings over the system's libcuda and the CUDA wheels",
    ),
    LibrarySpec("xformers", "xFormers", ("xformers",), module="xformers"),
    LibrarySpec("flash-attn", "FlashAttention", ("flash-attn",), module="flash_attn"),
    LibrarySpec("bitsandbytes", "bitsandbytes", ("bitsandbytes",), module="bitsandbytes"),
)


def normalise(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Cupy_CUDA12x`` → ``cupy-cuda12x``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def spec_for(dist_name: str) -> LibrarySpec | None:
    """Return the catalogue entry a distribution belongs to, if any."""
    name = normalise(dist_name)
    return next((spec for spec in CATALOGUE if spec.matches(name)), None)


def by_key(key: str) -> LibrarySpec | None:
    """Return the catalogue entry called ``key`` (or titled so, case-insensitively)."""
    wanted = normalise(key)
    for spec in CATALOGUE:
        if wanted in (spec.key, normalise(spec.title)) or spec.matches(wanted):
            return spec
    return None


def is_nvidia_component(dist_name: str) -> bool:
    """Tell whether a distribution is one of NVIDIA's CUDA library wheels (nvidia-cublas-cu12…)."""
    return normalise(dist_name).startswith("nvidia-")
