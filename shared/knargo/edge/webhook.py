"""The webhook's edge: verify and parse (`knargo.functions.webhook`), publish, log and count.

Never imports the Kubernetes client (an import-linter contract keeps it so).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from knargo.config.startup import WebhookRuntime
from knargo.contract import cloudevent
from knargo.contract.errors import BrokerUnavailable
from knargo.contract.events import CommentEvent, GitEvent
from knargo.edge.shell import Answer, Shell
from knargo.forges import Headers
from knargo.functions import webhook
from knargo.io.network import Publisher
from knargo.observability import tracing

__all__ = ["TOO_LARGE", "WebhookEdge", "read_body"]

CHUNK = 64 * 1024

TOO_LARGE = webhook.Answer(413, {"error": "body too large"}, "body too large")
_OUTCOMES = {200: "ping", 401: "refused", 413: "too_large", 503: "unavailable"}


class Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...


def read_body(stream: Stream, length: int | None, limit: int) -> bytes | None:
    """The request body, or None when it is over `limit` (then no more of it is read).

    Read in chunks into one buffer, sized from Content-Length when there is one: reading it
    in one call holds it twice in the server (its buffer and the result), and growing a
    buffer may copy it; the one copy into `bytes` is no more than decoding it takes later."""
    if length is not None and length > limit:
        return None
    body = bytearray(length or 0)
    filled = 0
    while chunk := stream.read(min(CHUNK, limit + 1 - filled)):
        body[filled : filled + len(chunk)] = chunk  # grows only without Content-Length
        filled += len(chunk)
        if filled > limit:
            return None
    del body[filled:]
    return bytes(body)


@dataclass
class WebhookEdge:
    shell: Shell
    runtime: WebhookRuntime
    publisher: Publisher

    def handle(self, method: str, headers: Headers, read: Callable[[], bytes | None]) -> Answer:
        """`read` returns the body, or None when it is over the limit; it is called once, so
        that only one frame ever holds the body."""
        started = time.monotonic()
        try:
            answer, event = self._answer(method, headers, read)
        except Exception as exc:  # the edge: nothing internal reaches the forge
            answer, event = (
                webhook.Answer(500, {"error": "internal error"}, type(exc).__name__),
                None,
            )
        self._observe(answer, event, started)
        closing = {"Connection": "close"} if answer is TOO_LARGE else {}
        return Answer(answer.body, answer.status, closing)

    def _answer(
        self, method: str, headers: Headers, read: Callable[[], bytes | None]
    ) -> tuple[webhook.Answer, GitEvent | CommentEvent | None]:
        body = read()
        if body is None:
            return TOO_LARGE, None
        runtime = self.runtime
        verified = webhook.verify(
            webhook.Request(method, headers, body), runtime.settings, runtime.credentials
        )
        if isinstance(verified, webhook.Answer):
            return verified, None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return webhook.Answer(400, {"error": "malformed JSON"}, "not UTF-8"), None
        del body  # only the text from here on: at most two copies of a large delivery
        outcome = webhook.parse(verified, text)
        if not isinstance(outcome, webhook.Publish):
            return outcome, None
        received = datetime.now(UTC).isoformat(timespec="milliseconds")
        event = outcome.event.model_copy(update={"received_at": received})
        with tracing.span(
            "webhook publish",
            event.traceparent,
            repository=event.repository,
            sha=event.sha,
            delivery_id=event.delivery_id,
        ):
            return self._publish(event), event

    def _publish(self, event: GitEvent | CommentEvent) -> webhook.Answer:
        counters = self.shell.metrics
        message = cloudevent.encode(webhook.to_cloudevent(event, self.runtime.extensions))
        try:
            attempts = self.publisher.publish(message.headers, message.body)
        except BrokerUnavailable as exc:
            counters.publish_retries.inc(len(self.publisher.policy.delays))
            return webhook.Answer(503, {"error": "not published; redeliver later"}, str(exc))
        counters.published.inc(type=event.cloud_event_type)
        counters.publish_retries.inc(attempts - 1)
        return webhook.Answer(
            202, {"id": event.delivery_id, "type": event.cloud_event_type}, "published"
        )

    def _observe(
        self, answer: webhook.Answer, event: GitEvent | CommentEvent | None, started: float
    ) -> None:
        outcome = _outcome(answer)
        forge = event.forge_name if event else (answer.forge or "unknown")
        counters = self.shell.metrics
        counters.deliveries.inc(forge=forge, event=_kind(event), outcome=outcome)
        if answer.status == 401:
            counters.signature_failures.inc(forge=forge)
        self.shell.handled(
            outcome,
            answer.status,
            started,
            event=event,
            forge=forge,
            event_type=event.cloud_event_type if event else None,
            event_id=event.delivery_id if event else None,
            reason=answer.reason,
        )


def _kind(event: GitEvent | CommentEvent | None) -> str:
    """The metrics' `event` label: push, tag, pull_request, comment or other."""
    if isinstance(event, CommentEvent):
        return "comment"
    return event.kind.value if event else "other"


def _outcome(answer: webhook.Answer) -> str:
    if answer.status == 202:
        return "ignored" if "ignored" in answer.body else "published"
    return _OUTCOMES.get(answer.status, "invalid" if answer.status < 500 else "error")
