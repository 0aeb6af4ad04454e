"""webhook: a forge delivery in, one verified `dev.knargo.git.*` CloudEvent out to the broker.

    functions-framework --source functions/webhook/main.py --target handle

Reads PORT, K_SINK, K_CE_OVERRIDES, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR and
KNARGO_MAX_BODY_BYTES. Every decision is in `knargo.webhook.receive`; this shell reads the
body within the size limit, publishes, logs one line and answers.
"""

import os
import sys
import time

import functions_framework

from knargo import cloudevent, webhook
from knargo.errors import BrokerUnavailable, StartupError
from knargo.forges import Headers
from knargo.logs import EventLog
from knargo.network import Publisher
from knargo.startup import webhook_runtime

LOG = EventLog("webhook")
try:
    RUNTIME = webhook_runtime(os.environ)
except StartupError as exc:
    sys.exit(f"knargo webhook cannot start: {exc}")
PUBLISHER = Publisher(RUNTIME.sink)
TOO_LARGE = webhook.Answer(413, {"error": "body too large"}, "body too large")


def _body(request):  # type: ignore[no-untyped-def]
    """The raw body, or None when it is over the limit (then read no further)."""
    if (request.content_length or 0) <= RUNTIME.max_body:
        body = request.stream.read(RUNTIME.max_body + 1)
        if len(body) <= RUNTIME.max_body:
            return body
    request._cached_data = b""  # functions-framework would read the rest into memory
    return None


def _publish(outcome: webhook.Publish) -> webhook.Answer:
    event = outcome.event
    message = cloudevent.encode(webhook.to_cloudevent(event, RUNTIME.extensions))
    try:
        PUBLISHER.publish(message.headers, message.body)
    except BrokerUnavailable as exc:
        return webhook.Answer(503, {"error": "not published; redeliver later"}, str(exc))
    return webhook.Answer(
        202, {"id": event.delivery_id, "type": event.cloud_event_type}, "published"
    )


def _answer(request):  # type: ignore[no-untyped-def]
    body = _body(request)
    if body is None:
        return TOO_LARGE, None
    outcome = webhook.receive(
        webhook.Request(request.method, Headers(request.headers.items()), body),
        RUNTIME.settings,
        RUNTIME.credentials,
    )
    if isinstance(outcome, webhook.Publish):
        return _publish(outcome), outcome.event
    return outcome, None


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        answer, event = _answer(request)
    except Exception as exc:  # the edge: nothing internal reaches the forge
        answer, event = webhook.Answer(500, {"error": "internal error"}, type(exc).__name__), None
    LOG.info(
        answer.reason,
        status=answer.status,
        forge=event.forge_name if event else answer.forge,
        event=event.kind.value if event else None,
        repository=event.repository if event else None,
        delivery_id=event.delivery_id if event else None,
        trace_id=event.traceparent.split("-")[1] if event and event.traceparent else None,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
    headers = {"Connection": "close"} if answer is TOO_LARGE else {}
    return answer.body, answer.status, headers
