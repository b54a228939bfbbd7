"""Triton's trace extension: trace settings, global and per model, that decide which requests
are traced (sampled) with OpenTelemetry.

Settings follow Triton's names and string values: ``trace_level`` (["OFF"] or
["TIMESTAMPS"], with "TENSORS" accepted and treated as timestamps), ``trace_rate`` (one request
of every N is traced), ``trace_count`` (how many more to trace; "-1" unlimited), and
``trace_mode`` ("opentelemetry", the only mode). A model's settings start as a copy of the
global ones for what they do not set; a null clears a model setting back to the global value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from modelport.errors import InvalidInput, Unsupported

LEVELS = ("OFF", "TIMESTAMPS", "TENSORS")
UINT32_MAX = 2**32 - 1
INT32_MAX = 2**31 - 1


@dataclass
class TraceSetting:
    """One set of trace settings, and its sampling state."""

    level: tuple[str, ...] = ("OFF",)
    rate: int = 1
    count: int = -1
    seen: int = field(default=0, compare=False)

    def sample(self) -> bool:
        """Whether this request is traced (and count one down when it is)."""
        if self.level == ("OFF",) or self.count == 0:
            return False
        self.seen += 1
        if (self.seen - 1) % max(self.rate, 1):
            return False
        if self.count > 0:
            self.count -= 1
        return True

    def as_strings(self) -> dict[str, list[str]]:
        """Triton's response form: every value a list of strings."""
        return {"trace_level": list(self.level), "trace_rate": [str(self.rate)],
                "trace_count": [str(self.count)], "trace_mode": ["opentelemetry"]}


class TraceSettings:
    """The global trace setting and each model's own."""

    def __init__(self, initial: TraceSetting) -> None:
        self.global_ = initial
        self._models: dict[str, dict[str, Any]] = {}  # model -> its own fields
        self._resolved: dict[str, TraceSetting] = {}

    def for_model(self, model: str) -> TraceSetting:
        """The setting a request for ``model`` is sampled by."""
        if model not in self._models:
            return self.global_
        setting = self._resolved.get(model)
        if setting is None:
            setting = replace(self.global_, **self._models[model], seen=0)
            self._resolved[model] = setting
        return setting

    def update(self, model: str, changes: dict[str, list[str] | None]) -> TraceSetting:
        """Apply Triton-form ``changes`` (None clears a model's value) and return the result.

        Raises:
            InvalidInput: a value cannot be parsed.
            Unsupported: the request tries to change the trace file.
        """
        fields: dict[str, Any] = {}
        cleared: list[str] = []
        for key, values in changes.items():
            parsed = _parse(key, values if values is not None else [])
            if parsed is None:
                continue
            if values is None:
                cleared.append(parsed[0])
            else:
                fields[parsed[0]] = parsed[1]
        if not model:
            self.global_ = replace(self.global_, **fields)
            self._resolved.clear()
            return self.global_
        own = self._models.setdefault(model, {})
        own.update(fields)
        for name in cleared:
            own.pop(name, None)
        self._resolved.pop(model, None)
        return self.for_model(model)


FIELDS = {"trace_level": "level", "trace_rate": "rate", "trace_count": "count"}


def _parse(key: str, values: list[str]) -> tuple[str, Any] | None:
    """(TraceSetting field, value) for a Triton setting; None for one that does not apply to
    OpenTelemetry tracing (log_frequency). An empty ``values`` only names the field."""
    if key == "trace_file":
        raise Unsupported("trace file location can not be updated through network protocol "
                          "(modelport exports spans with OpenTelemetry: set OTEL_* instead)")
    if key == "log_frequency":
        return None
    name = FIELDS.get(key)
    if name is None:
        raise InvalidInput(f"unknown trace setting '{key}'")
    if not values:
        return name, None
    if key == "trace_level":
        bad = [v for v in values if v not in LEVELS]
        if bad:
            raise InvalidInput(f"trace_level must be among {', '.join(LEVELS)}, got {values}")
        if "OFF" in values and len(values) > 1:
            raise InvalidInput("Expect only one trace level 'OFF' is specified")
        return name, tuple(values)
    return name, _number(key, values)


def _number(key: str, values: list[str]) -> int:
    text = values[0] if len(values) == 1 else ",".join(values)
    low, high = (-1, INT32_MAX) if key == "trace_count" else (0, UINT32_MAX)
    try:
        number = int(text)
    except ValueError:
        raise InvalidInput(f"Unable to parse '{key}', got: {text}") from None
    if not low <= number <= high:
        raise InvalidInput(f"Unable to parse '{key}', value is out of range [ {low}, {high} ], "
                           f"got: {text}")
    return number
