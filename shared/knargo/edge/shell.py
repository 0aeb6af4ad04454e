"""Start-up, configuration reloads, one log line and the metrics of each request: the same
for every function."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from knargo.config.reload import Reloading
from knargo.contract.errors import StartupError
from knargo.observability import metrics, tracing
from knargo.observability.logs import EventLog

__all__ = ["Answer", "Shell"]

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """What a shell returns to functions-framework: body, status and headers."""

    body: Any
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> tuple[Any, int, dict[str, str]]:
        return self.body, self.status, dict(self.headers)


class Shell:
    """One function's log, metrics and start-up."""

    def __init__(self, function: str) -> None:
        self.function = function
        self.log = EventLog(function)
        self.metrics = metrics.Metrics()

    def start(self, environ: Mapping[str, str], load: Callable[[], T]) -> T:
        """`load()`'s result, with metrics served and tracing configured; on a missing or
        invalid file, variable or key: exit with the message that names it."""
        try:
            loaded = load()
            metrics.serve_in_workers(self.metrics, environ)
            tracing.configure(environ)
        except StartupError as exc:
            sys.exit(f"knargo {self.function} cannot start: {exc}")
        return loaded

    def watch(self, load: Callable[[], T], files: Sequence[str]) -> Reloading[T]:
        """`load()`'s result, loaded again when one of `files` changes (see
        `knargo.config.reload`); a refused change is logged once, counted, and reported by
        `/healthz` until a valid version replaces it."""
        reloading = Reloading(load, files, self._refused)
        self.metrics.health["configuration"] = lambda: reloading.problem
        return reloading

    def _refused(self, file: str, message: str) -> None:
        self.metrics.config_refused.inc(function=self.function, file=file)
        self.log.error(
            "configuration change refused; keeping the last valid one", file=file, reason=message
        )

    def handled(
        self, outcome: str, status: int, started: float, level: int = logging.INFO, **fields: Any
    ) -> None:
        """The request's duration in the histogram, and its log line."""
        self.metrics.handled.observe(
            time.monotonic() - started, function=self.function, status=str(status)
        )
        self.log.handled(outcome, status=status, started=started, level=level, **fields)
