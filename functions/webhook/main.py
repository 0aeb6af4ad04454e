"""webhook: a forge delivery in, one verified `dev.knargo.git.*` CloudEvent out to the broker.

    functions-framework --source functions/webhook/main.py --target handle

Reads PORT, K_SINK, K_CE_OVERRIDES, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR,
KNARGO_MAX_BODY_BYTES, KNARGO_METRICS_PORT and KNARGO_LOG_FORMAT. Every decision is in
`knargo.webhook.receive`; this shell reads the body within the size limit, publishes, logs
one line, counts, and answers.
"""

import os
import sys
import time
from datetime import UTC, datetime

import functions_framework

from knargo import cloudevent, metrics, tracing, webhook
from knargo.errors import BrokerUnavailable, StartupError
from knargo.forges import Headers
from knargo.logs import EventLog
from knargo.network import Publisher
from knargo.startup import webhook_runtime

LOG = EventLog("webhook")
METRICS = metrics.Metrics()
try:
    RUNTIME = webhook_runtime(os.environ)
    metrics.serve_in_workers(METRICS, os.environ)
    tracing.configure(os.environ)
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
        attempts = PUBLISHER.publish(message.headers, message.body)
    except BrokerUnavailable as exc:
        METRICS.publish_retries.inc(len(PUBLISHER.policy.delays))
        return webhook.Answer(503, {"error": "not published; redeliver later"}, str(exc))
    METRICS.published.inc(type=event.cloud_event_type)
    METRICS.publish_retries.inc(attempts - 1)
    return webhook.Answer(
        202, {"id": event.delivery_id, "type": event.cloud_event_type}, "published"
    )


def _answer(request):  # type: ignore[no-untyped-def]
    body = _body(request)
    if body is None:
        return TOO_LARGE, None
    headers = Headers(request.headers.items())
    verified = webhook.verify(
        webhook.Request(request.method, headers, body), RUNTIME.settings, RUNTIME.credentials
    )
    if isinstance(verified, webhook.Answer):
        return verified, None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return webhook.Answer(400, {"error": "malformed JSON"}, "not UTF-8"), None
    del body  # only the text from here on: at most two copies of a large delivery
    outcome = webhook.parse(verified, text)
    if isinstance(outcome, webhook.Publish):
        received = datetime.now(UTC).isoformat(timespec="milliseconds")
        event = outcome.event.model_copy(update={"received_at": received})
        with tracing.span(
            "webhook publish",
            event.traceparent,
            repository=event.repository,
            sha=event.sha,
            delivery_id=event.delivery_id,
        ):
            return _publish(webhook.Publish(event, outcome.forge)), event
    return outcome, None


def _outcome(answer: webhook.Answer) -> str:
    return {
        202: "ignored" if "ignored" in answer.body else "published",
        200: "ping",
        401: "refused",
        413: "too_large",
        503: "unavailable",
    }.get(answer.status, "invalid" if answer.status < 500 else "error")


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        answer, event = _answer(request)
    except Exception as exc:  # the edge: nothing internal reaches the forge
        answer, event = webhook.Answer(500, {"error": "internal error"}, type(exc).__name__), None
    outcome = _outcome(answer)
    forge = event.forge_name if event else (answer.forge or "unknown")
    METRICS.deliveries.inc(
        forge=forge, event=event.kind.value if event else "other", outcome=outcome
    )
    if answer.status == 401:
        METRICS.signature_failures.inc(forge=forge)
    METRICS.handled.observe(
        time.monotonic() - started, function="webhook", status=str(answer.status)
    )
    LOG.handled(
        outcome,
        status=answer.status,
        started=started,
        event=event,
        forge=forge,
        event_type=event.cloud_event_type if event else None,
        event_id=event.delivery_id if event else None,
        reason=answer.reason,
    )
    headers = {"Connection": "close"} if answer is TOO_LARGE else {}
    return answer.body, answer.status, headers
