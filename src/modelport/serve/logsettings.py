"""Triton's logging extension: log settings that change the server's logging while it runs.

``log_info``, ``log_warning`` and ``log_error`` switch those levels on and off,
``log_verbose_level`` > 0 turns on debug messages, ``log_format`` is "default" or "ISO8601"
(timestamps); ``log_file`` is reported but cannot be changed over the network (Triton's rule).
The settings act on the ``modelport`` loggers through a filter and their handlers' format.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from modelport.errors import InvalidInput, Unsupported

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"  # the server's log lines
FORMATS = {
    "default": (LOG_FORMAT, None),
    "ISO8601": (LOG_FORMAT, "%Y-%m-%dT%H:%M:%S%z"),
}
TYPES: dict[str, type] = {"log_info": bool, "log_warning": bool, "log_error": bool,
                          "log_verbose_level": int, "log_format": str}


@dataclass
class LogState:
    """The current log settings, in Triton's names."""

    log_file: str = ""
    log_info: bool = True
    log_warning: bool = True
    log_error: bool = True
    log_verbose_level: int = 0
    log_format: str = "default"


class LogSettings(logging.Filter):
    """Holds the settings and applies them to the ``modelport`` loggers (a filter on the
    root logger's handlers, since records of child loggers skip their parents' filters)."""

    def __init__(self, logger_name: str = "modelport") -> None:
        super().__init__()
        self.state = LogState()
        self.logger = logging.getLogger(logger_name)
        self._handlers = list(logging.getLogger().handlers)
        for handler in self._handlers:
            handler.addFilter(self)

    def close(self) -> None:
        """Stop acting on the handlers (server shutdown)."""
        for handler in self._handlers:
            handler.removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop modelport's records of a level that is switched off."""
        if not record.name.startswith(self.logger.name):
            return True
        level = record.levelno
        if level >= logging.ERROR:
            return self.state.log_error
        if level >= logging.WARNING:
            return self.state.log_warning
        if level >= logging.INFO:
            return self.state.log_info
        return self.state.log_verbose_level > 0

    def current(self) -> dict[str, Any]:
        """Every setting, as the extension reports them."""
        return asdict(self.state)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` and return every setting.

        Raises:
            InvalidInput: an unknown setting or a value of the wrong type.
            Unsupported: the request tries to change the log file.
        """
        for key, value in changes.items():
            if key == "log_file":
                raise Unsupported("log file location can not be updated through network "
                                  "protocol")
            kind = TYPES.get(key)
            if kind is None:
                raise InvalidInput(f"unknown log setting '{key}'")
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise InvalidInput(f"log setting '{key}' must be a {kind.__name__}, got "
                                   f"{value!r}")
            if key == "log_verbose_level" and isinstance(value, int) and value < 0:
                raise InvalidInput("log_verbose_level must be >= 0")
            if key == "log_format" and value not in FORMATS:
                raise InvalidInput(f"log_format must be one of {', '.join(FORMATS)}")
        for key, value in changes.items():
            setattr(self.state, key, value)
        self._apply()
        return self.current()

    def _apply(self) -> None:
        if self.state.log_verbose_level > 0:
            self.logger.setLevel(logging.DEBUG)
        elif self.logger.level == logging.DEBUG:
            self.logger.setLevel(logging.NOTSET)
        fmt, datefmt = FORMATS[self.state.log_format]
        for handler in self._handlers:
            handler.setFormatter(logging.Formatter(fmt, datefmt))
