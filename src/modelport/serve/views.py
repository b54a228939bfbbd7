"""What the server answers besides inference, as typed values each front's codec maps to JSON
or protobuf: server and model metadata, repository index rows, per-version memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerMetadata:
    """Name, version and the protocol extensions served."""

    name: str
    version: str
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class TensorMetadata:
    """One input or output as clients see it: -1 for variable dims and the batch dim."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    """A model's versions, platform, inputs and outputs."""

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]


@dataclass(frozen=True)
class IndexRow:
    """One row of the repository index; empty fields are left out of the answer."""

    name: str
    version: str = ""
    state: str = ""
    reason: str = ""


@dataclass(frozen=True)
class VersionMemory:
    """What a live version took when it loaded (the debug endpoint's rows)."""

    name: str
    version: str
    rss_delta_bytes: int
    load_seconds: float
    loaded_at: float
    instances: int
