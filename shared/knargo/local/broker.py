"""An in-process broker: CloudEvents routed by type exactly as the Knative Triggers route them.

Each published event goes, in order, to every function `knargo.contract.routes.subscribers` names.
A function is a callable taking an `Envelope` and returning a reply `Envelope` (published
back into the broker, as Knative does with a reply) or None. A failure is mapped through
`knargo.contract.outcomes.failure`, the table the function shells use, to the status the function
would answer; the statuses Knative redelivers (404, 408, 409, 429, 5xx) are retried with
exponential backoff (a `Retry-After` is honoured up to a cap); after the last attempt, or at
once for any other status, the event becomes a `DeadLetter`, kept in `dead_letters` and handed
to the dead-letter sink if there is one (report's, as the Triggers are configured).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from knargo.contract.errors import PermanentError
from knargo.contract.events import Envelope
from knargo.contract.outcomes import failure
from knargo.contract.routes import subscribers

__all__ = ["Broker", "DeadLetter", "Delivery", "Function"]

Function = Callable[[Envelope], Envelope | None]
Tap = Callable[[Envelope], None]
REDELIVERED = frozenset({404, 408, 409, 429})


@dataclass(frozen=True)
class Delivery:
    """How hard the broker tries: like a Trigger's `delivery` (retry, exponential backoff)."""

    retry: int = 5
    backoff: float = 0.05
    """Seconds before the first retry; doubled for each next one."""
    cap: float = 1.0
    """The longest wait between attempts (a `Retry-After` above it is cut to it)."""


@dataclass(frozen=True)
class DeadLetter:
    """An event a function did not take: which one, why, after how many attempts."""

    envelope: Envelope
    function: str
    status: int
    reason: str
    attempts: int


class Broker:
    """Thread-safe: any thread may publish; one dispatcher thread delivers, in order."""

    def __init__(
        self,
        functions: Mapping[str, Function],
        *,
        delivery: Delivery | None = None,
        dead_letter_sink: Function | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.functions = dict(functions)
        self.delivery = delivery or Delivery()
        self.dead_letter_sink = dead_letter_sink
        self.dead_letters: list[DeadLetter] = []
        self.taps: list[Tap] = []
        self._sleep = sleep
        self._queue: deque[Envelope] = deque()
        self._busy = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def publish(self, envelope: Envelope) -> None:
        """Queue an event (its data is copied through JSON, as on the wire)."""
        data = json.loads(json.dumps(envelope.data))
        with self._changed:
            self._queue.append(replace(envelope, data=data, extensions=dict(envelope.extensions)))
            self._busy += 1
            self._changed.notify_all()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="knargo-broker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def idle(self) -> bool:
        """Nothing queued and nothing being delivered."""
        with self._changed:
            return self._busy == 0

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until idle; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == 0, timeout)

    def drain(self) -> None:
        """Deliver everything queued in the calling thread (for tests without a dispatcher)."""
        while True:
            with self._changed:
                if not self._queue:
                    return
                envelope = self._queue.popleft()
            self._dispatch(envelope)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                envelope = self._queue.popleft()
            self._dispatch(envelope)

    def _dispatch(self, envelope: Envelope) -> None:
        try:
            for tap in self.taps:
                try:
                    tap(envelope)
                except Exception as exc:  # an observer must not stop the chain
                    self.dead_letters.append(
                        DeadLetter(envelope, "(observer)", 500, _reason(exc), 1)
                    )
            for name in subscribers(envelope.type):
                self._deliver(name, envelope)
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def _deliver(self, name: str, envelope: Envelope) -> None:
        function = self.functions.get(name)
        if function is None:
            self._dead(DeadLetter(envelope, name, 404, f"no function {name!r} runs here", 1))
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = function(envelope)
            except Exception as exc:
                status, wait = _answer(exc)
                if status not in REDELIVERED and status < 500:
                    self._dead(DeadLetter(envelope, name, status, _reason(exc), attempt))
                    return
                if attempt > self.delivery.retry:
                    self._dead(DeadLetter(envelope, name, status, _reason(exc), attempt))
                    return
                self._sleep(self._backoff(attempt, wait))
                continue
            if reply is not None:
                self.publish(reply)
            return

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay: float = self.delivery.backoff * 2.0 ** (attempt - 1)
        return min(self.delivery.cap, max(delay, retry_after or 0.0))

    def _dead(self, letter: DeadLetter) -> None:
        self.dead_letters.append(letter)
        if self.dead_letter_sink is None:
            return
        extensions = {**letter.envelope.extensions, "knativeerrorcode": str(letter.status)}
        try:
            self.dead_letter_sink(replace(letter.envelope, extensions=extensions))
        except Exception as exc:  # the sink failing too: keep the letter, note why
            self.dead_letters.append(
                DeadLetter(letter.envelope, "dead-letter", 500, _reason(exc), 1)
            )


def _answer(exc: Exception) -> tuple[int, float | None]:
    """The status the function shells answer for `exc`, and a Retry-After in seconds."""
    if isinstance(exc, PermanentError):
        return 400, None
    answer = failure(exc)
    retry_after = answer.headers.get("Retry-After", "")
    return answer.status, float(retry_after) if retry_after.isdigit() else None


def _reason(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
