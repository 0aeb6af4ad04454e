"""One log line per handled delivery or event, with one schema across the functions.

Every line has `time`, `level`, `function`, `message` and the fields of `FIELDS` (null when
they do not apply), so one query finds everything that happened to one push: the `trace_id`
is the same in the webhook's, generate's and report's lines. Lines are JSON (for the
cluster's log pipeline) or, with `KNARGO_LOG_FORMAT=text`, `key=value` text for people.
Only the fields passed explicitly are written: never a header, a body, a token or a secret.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knargo.contract.events import CommentEvent, GitEvent

__all__ = ["FIELDS", "EventLog"]

FIELDS = (
    "event_type",
    "event_id",
    "delivery_id",
    "forge",
    "repository",
    "sha",
    "workflow",
    "outcome",
    "status",
    "duration_ms",
    "trace_id",
)


class _Formatter(logging.Formatter):
    def __init__(self, text: bool) -> None:
        super().__init__()
        self.text = text

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "function": record.name.removeprefix("knargo."),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if not self.text:
            return json.dumps(line, ensure_ascii=False, default=str)
        head = f"{line.pop('time')} {line.pop('level'):<7} {line.pop('function')}: "
        head += str(line.pop("message"))
        rest = " ".join(f"{k}={v}" for k, v in line.items() if v not in (None, "", [], {}))
        return f"{head} {rest}".rstrip()


class _Stderr(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (tests and servers may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a log line must never break the function
            self.handleError(record)


class EventLog:
    """The log of one function (or the CLI): `EventLog("webhook").handled(...)`."""

    def __init__(self, function: str, text: bool | None = None) -> None:
        if text is None:
            text = os.environ.get("KNARGO_LOG_FORMAT", "json").lower() == "text"
        self._logger = logging.getLogger(f"knargo.{function}")
        for handler in list(self._logger.handlers):
            self._logger.removeHandler(handler)
        handler = _Stderr()
        handler.setFormatter(_Formatter(text))
        self._logger.addHandler(handler)
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False

    def handled(
        self,
        outcome: str,
        *,
        status: int,
        started: float,
        event: GitEvent | CommentEvent | None = None,
        level: int = logging.INFO,
        **fields: Any,
    ) -> None:
        """The line for one handled request: the common fields, then `fields`."""
        line: dict[str, Any] = dict.fromkeys(FIELDS)
        if event is not None:
            line.update(
                delivery_id=event.delivery_id,
                forge=event.forge_name,
                repository=event.repository,
                sha=event.sha,
                trace_id=trace_id(event.traceparent),
            )
        line.update(
            outcome=outcome,
            status=status,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        line.update(fields)
        self._logger.log(level, outcome, extra={"fields": line})

    def info(self, message: str, **fields: Any) -> None:
        self._logger.info(message, extra={"fields": fields})

    def warning(self, message: str, **fields: Any) -> None:
        self._logger.warning(message, extra={"fields": fields})

    def error(self, message: str, **fields: Any) -> None:
        self._logger.error(message, extra={"fields": fields})


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`)."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
