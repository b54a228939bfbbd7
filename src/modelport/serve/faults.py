"""Server faults as clients see them: a generic sentence and an id, never exception text.

A bug that escapes an endpoint must cost one request and tell the client nothing about the
server's insides (no exception text, path or repr). The full exception, with its traceback,
goes to the server's log under the same id, so an operator can find it from the client's
report.
"""

from __future__ import annotations

import logging
import secrets


def internal_error(log: logging.Logger, where: str, exc: BaseException | None = None) -> str:
    """Log ``exc`` (by default the exception being handled, from an ``except`` block) under
    a fresh id; return the client's message."""
    incident = secrets.token_hex(6)
    log.error("internal error %s in %s", incident, where, exc_info=exc or True)
    return (f"internal error (id {incident}): the server failed on this request; its log has "
            "the details under this id")
