"""Reason codes: what each means, how severe it is, and the user-facing error it predicts.

docs/probe.md explains each code with its fix; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

FAIL, WARN, INFO = "fail", "warn", "info"

# code → (severity, short meaning)
CODES: dict[str, tuple[str, str]] = {
    "NOT_INSTALLED": (INFO, "the library is not installed"),
    "NO_CUDA_CODE": (INFO, "the library ships no CUDA code"),
    "CPU_ONLY_BUILD": (INFO, "this build of the library has no CUDA support"),
    "NO_DRIVER": (FAIL, "no NVIDIA driver on the machine"),
    "NO_GPU": (FAIL, "the driver sees no GPU"),
    "CUINIT_FAILED": (FAIL, "cuInit failed on this machine"),
    "DRIVER_TOO_OLD": (FAIL, "the driver is older than the library's CUDA major needs"),
    "MINOR_VERSION_COMPAT": (
        WARN,
        "built with a newer CUDA minor than the driver; runs with limits",
    ),
    "SASS_MATCH": (INFO, "ships SASS that runs on the GPU"),
    "PTX_JIT": (INFO, "no SASS for the GPU; PTX is JIT-compiled on first use"),
    "PTX_ISA_TOO_NEW": (FAIL, "the only usable PTX has an ISA newer than the driver can compile"),
    "NO_KERNEL_IMAGE": (FAIL, "neither SASS for the GPU's architecture nor usable PTX"),
    "ARCH_SPECIFIC_ONLY": (INFO, "only arch-specific (a) code exists for this major"),
    "RUNTIME_COMPILED": (INFO, "the library compiles its kernels at run time"),
    "SYSTEM_CUDA": (INFO, "the library uses the system's CUDA libraries"),
    "NO_GPU_CODE_FOUND": (WARN, "a CUDA build, but no GPU code found in its files"),
    "FATBIN_UNREADABLE": (WARN, "a fat binary in the library could not be parsed"),
    "CUDNN_MISMATCH": (FAIL, "the cuDNN that would load does not match the build's"),
    "CUDNN_NOT_FOUND": (FAIL, "the build needs cuDNN but none would load"),
    "LIB_NOT_FOUND": (FAIL, "a needed shared library cannot be found by the loader"),
    "LIB_NOT_ON_PATH": (WARN, "a needed library is in the environment but off the loader's path"),
    "LIB_SHADOWED": (WARN, "LD_LIBRARY_PATH makes another copy load than the wheel's"),
    "GLIBC_TOO_OLD": (FAIL, "the host glibc is older than the library needs"),
    "GLIBCXX_MISSING": (FAIL, "the host libstdc++ is older than the library needs"),
    "CXXABI_MISSING": (FAIL, "the host libstdc++ lacks a C++ ABI version the library needs"),
    "SYMBOL_VERSION_MISSING": (FAIL, "a needed symbol version is not provided"),
    "PIN_MISMATCH": (WARN, "a pinned NVIDIA wheel is installed at another version"),
    "PIN_MISSING": (WARN, "a pinned NVIDIA wheel is not installed"),
    "DRIVER_UNSPECIFIED": (WARN, "what-if without --driver: driver checks skipped"),
    "GPU_UNSPECIFIED": (INFO, "no GPU given: coverage shown instead of a kernel check"),
    "IMPORT_DISAGREES": (WARN, "the run-time view disagrees with the static one"),
}

# code → the message a user would otherwise hit
PREDICTS: dict[str, str] = {
    "NO_DRIVER": "RuntimeError: Found no NVIDIA driver on your system",
    "NO_GPU": "cudaErrorNoDevice: no CUDA-capable device is detected",
    "CUINIT_FAILED": "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH / COMPAT_NOT_SUPPORTED_ON_DEVICE",
    "DRIVER_TOO_OLD": "CUDA driver version is insufficient for CUDA runtime version (error 35)",
    "PTX_ISA_TOO_NEW": "the provided PTX was compiled with an unsupported toolchain (error 222)",
    "NO_KERNEL_IMAGE": "CUDA error: no kernel image is available for execution on the device",
    "CUDNN_MISMATCH": "cuDNN version incompatibility: compiled against (X) but found runtime (Y)",
    "CUDNN_NOT_FOUND": "Could not load library libcudnn…; Unable to load cuDNN",
    "LIB_NOT_FOUND": "OSError: libXXX.so.N: cannot open shared object file",
    "GLIBC_TOO_OLD": "version `GLIBC_2.xx' not found (required by …)",
    "GLIBCXX_MISSING": "version `GLIBCXX_3.4.xx' not found (required by …)",
    "CXXABI_MISSING": "version `CXXABI_1.3.xx' not found (required by …)",
}


@dataclass(frozen=True)
class Reason:
    """One reason code with the detail that makes it specific."""

    code: str
    detail: str = ""

    @property
    def severity(self) -> str:
        """``fail``, ``warn`` or ``info``."""
        return CODES[self.code][0]

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code
