"""One JSON line per handled delivery or event, on stderr, with a fixed set of fields.

Only the fields passed explicitly are written: never a header, a body, a token or a secret.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["EventLog"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "function": record.name.removeprefix("knargo."),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(line, ensure_ascii=False, default=str)


class _Stderr(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (tests and servers may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a log line must never break the function
            self.handleError(record)


class EventLog:
    """The log of one function: `EventLog("webhook").info("published", forge="github")`."""

    def __init__(self, function: str) -> None:
        self._logger = logging.getLogger(f"knargo.{function}")
        if not self._logger.handlers:
            handler = _Stderr()
            handler.setFormatter(_JsonFormatter())
            self._logger.addHandler(handler)
            self._logger.setLevel(logging.INFO)
            self._logger.propagate = False

    def info(self, message: str, **fields: Any) -> None:
        self._logger.info(message, extra={"fields": fields})

    def warning(self, message: str, **fields: Any) -> None:
        self._logger.warning(message, extra={"fields": fields})

    def error(self, message: str, **fields: Any) -> None:
        self._logger.error(message, extra={"fields": fields})
