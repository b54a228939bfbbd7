"""Every exception modelport raises on purpose.

    ModelportError
    ├── ConfigError(ValueError)            bad server / command-line settings
    ├── MissingExtra(ImportError)          an optional dependency is not installed
    ├── RepositoryError                    the model repository
    │   ├── ModelConfigError(ValueError)   config.pbtxt or ONNX graph cannot make a valid config
    │   └── ModelLoadError                 a model version failed to load or warm up
    │       └── PlanFailed                 planning a load failed; names the versions it hit
    ├── InferenceError                     a request failed; carries its HTTP status and gRPC code
    │   ├── InvalidInput(ValueError)       400 / INVALID_ARGUMENT
    │   │   └── PayloadTooLarge            413 / RESOURCE_EXHAUSTED
    │   ├── ModelNotFound(LookupError)     404 / NOT_FOUND
    │   │   └── ModelUnavailable           the model is known but failed to load or was unloaded
    │   ├── ModelNotReady                  400 / UNAVAILABLE
    │   ├── Unavailable                    503 / UNAVAILABLE
    │   │   ├── ModelLoading               the model's first version is still loading
    │   │   ├── QueueFull                  the model's queue is at max_queue_size
    │   │   └── RequestTimedOut            the request waited longer than its timeout
    │   ├── PermissionDenied               403 / PERMISSION_DENIED (control-plane token)
    │   │   └── ApiRestricted              403 / UNAVAILABLE (Triton's restricted API groups)
    │   ├── Unsupported                    501 / UNIMPLEMENTED
    │   └── BackendError                   500 / INTERNAL (the runtime failed)
    │       └── ComputeFailed              a kernel failed on the batch's values; when a
    │                                      request alone causes it, it is answered as InvalidInput
    ├── ProbeError                         modelport probe
    │   ├── ElfError(ValueError)           a file is not a readable ELF object
    │   └── FatbinError(ValueError)        a GPU fat binary is truncated or corrupt
    ├── BenchError                         modelport bench
    │   └── RuntimeUnavailable             a benchmark runtime cannot run here
    └── TrainError                         modelport train
        ├── SpecError(ValueError)          the training spec file is missing or incomplete
        ├── ClusterError                   Ray cannot be started or reached, or workers are lost
        └── ExportError                    the trained model cannot be exported or handed off

Messages say what happened and how to fix it.
"""

from __future__ import annotations


class ModelportError(Exception):
    """Base of every error modelport raises on purpose."""


class ConfigError(ModelportError, ValueError):
    """Server or command-line settings are invalid."""


class MissingExtra(ModelportError, ImportError):
    """An optional dependency is missing; the message names the pip extra."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        why = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"{package} is not installed{why}: pip install 'modelport[{extra}]'")
        self.package = package
        self.extra = extra


class RepositoryError(ModelportError):
    """The model repository cannot be read."""


class ModelConfigError(RepositoryError, ValueError):
    """A model's configuration is invalid or cannot be completed."""


class ModelLoadError(RepositoryError):
    """A model version failed to load or warm up."""


class PlanFailed(ModelLoadError):
    """Planning a load failed. ``versions`` are the new versions the failure belongs to; empty
    when it is the model's own (a bad config with nothing new)."""

    def __init__(self, message: str, versions: list[int]) -> None:
        super().__init__(message)
        self.versions = versions


class InferenceError(ModelportError):
    """A request failed. Fronts map it to ``http_status`` and ``grpc_code``."""

    http_status = 500
    grpc_code = "INTERNAL"


class InvalidInput(InferenceError, ValueError):
    """The request is malformed or does not match the model."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the configured limit."""

    http_status = 413
    grpc_code = "RESOURCE_EXHAUSTED"


class ModelNotFound(InferenceError, LookupError):
    """No such model or version is loaded."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class ModelUnavailable(ModelNotFound):
    """The model is known (it failed to load, or was unloaded) but has no version to serve.

    Triton answers such a model as unknown (NOT_FOUND); the message adds its state and why.
    """


class ModelNotReady(InferenceError):
    """The model exists but is not ready."""

    http_status = 400
    grpc_code = "UNAVAILABLE"


class Unavailable(InferenceError):
    """The server cannot take the request now; retrying later may succeed."""

    http_status = 503
    grpc_code = "UNAVAILABLE"


class ModelLoading(Unavailable):
    """The model is loading for the first time; retrying shortly may succeed."""


class QueueFull(Unavailable):
    """The model's queue holds max_queue_size requests already."""


class RequestTimedOut(Unavailable):
    """The request waited in the queue longer than its timeout."""


class PermissionDenied(InferenceError):
    """A control-plane call lacks the right token."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"


class ApiRestricted(PermissionDenied):
    """A request to a restricted API group lacks its header (--http-restricted-api,
    --grpc-restricted-protocol); Triton answers HTTP 403 and gRPC UNAVAILABLE."""

    grpc_code = "UNAVAILABLE"


class Unsupported(InferenceError):
    """The call is valid in the protocol but modelport does not implement it."""

    http_status = 501
    grpc_code = "UNIMPLEMENTED"


class BackendError(InferenceError):
    """The runtime failed while executing a batch."""

    http_status = 500
    grpc_code = "INTERNAL"


class ComputeFailed(BackendError):
    """The runtime failed on the values of a batch (an index out of range, shapes that
    disagree): the request's fault when it fails alone on a model that has computed before."""


class ProbeError(ModelportError):
    """modelport probe could not inspect something."""


class ElfError(ProbeError, ValueError):
    """A file is not a readable ELF object."""


class FatbinError(ProbeError, ValueError):
    """A GPU fat binary is truncated, corrupt or hostile."""


class BenchError(ModelportError):
    """modelport bench could not complete."""


class RuntimeUnavailable(BenchError):
    """A benchmark runtime cannot run on this machine; the message says why."""


class TrainError(ModelportError):
    """modelport train could not complete."""


class SpecError(TrainError, ValueError):
    """The training spec file is missing, does not load, or lacks a required function."""


class ClusterError(TrainError):
    """Ray cannot be started or reached, or too few workers are left to go on."""


class ExportError(TrainError):
    """The trained model cannot be written as ONNX or handed to a server."""
