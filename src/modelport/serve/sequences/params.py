"""The sequence extension's request parameters: ``sequence_id``, ``sequence_start``,
``sequence_end``, read the same way whichever front decoded them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelport.errors import InvalidInput

CorrelationId = int | str
MAX_UINT64 = (1 << 64) - 1


@dataclass(frozen=True)
class SequenceParams:
    """A request's place in a sequence; ``id`` 0 or "" means no sequence was named."""

    id: CorrelationId = 0
    start: bool = False
    end: bool = False

    @property
    def named(self) -> bool:
        """Whether the request names a sequence (a non-zero or non-empty correlation ID)."""
        return self.id not in (0, "")


_SEQUENCE_KEYS = ("sequence_id", "sequence_start", "sequence_end")


def sequence_params(parameters: dict[str, Any]) -> SequenceParams | None:
    """The sequence parameters of a request, None when it has none.

    Raises:
        InvalidInput: one has a value of the wrong type.
    """
    if not parameters or not any(k in parameters for k in _SEQUENCE_KEYS):
        return None
    return SequenceParams(_correlation_id(parameters.get("sequence_id", 0)),
                          _flag(parameters, "sequence_start"), _flag(parameters, "sequence_end"))


def _correlation_id(raw: Any) -> CorrelationId:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_UINT64:
        return raw
    raise InvalidInput(f"parameter 'sequence_id' must be an unsigned 64-bit integer or a "
                       f"string, got {raw!r}")


def _flag(parameters: dict[str, Any], key: str) -> bool:
    raw = parameters.get(key, False)
    if not isinstance(raw, bool):
        raise InvalidInput(f"parameter '{key}' must be a boolean, got {raw!r}")
    return raw
