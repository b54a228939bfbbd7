"""Protocol-neutral requests and responses shared by the HTTP and gRPC fronts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class InputTensor:
    """A decoded input: ``data`` already has ``shape`` and the datatype's numpy dtype."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestedOutput:
    """An output the client asked for; ``binary`` is None when the client did not say."""

    name: str
    binary: bool | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    """One inference request as both fronts hand it to the core."""

    model_name: str
    model_version: str = ""
    id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[InputTensor] = field(default_factory=list)
    outputs: list[RequestedOutput] = field(default_factory=list)
    received_ns: int = 0
    trace: Any = None  # a tracing.RequestTrace when tracing is on


@dataclass
class OutputTensor:
    """One computed output."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    binary: bool | None = None


@dataclass
class InferResponse:
    """What the core returns to a front for encoding."""

    model_name: str
    model_version: str
    id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[OutputTensor] = field(default_factory=list)
