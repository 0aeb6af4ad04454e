"""generate: a `dev.knargo.git.*` CloudEvent in, a Workflow on the cluster, a reply event out.

    functions-framework --source functions/generate/main.py --target handle

An HTTP function, because a Knative reply must travel in the response and
functions-framework ignores what a CloudEvent function returns. Reads PORT, KNARGO_CONFIG,
KNARGO_CREDENTIALS_DIR, KNARGO_SECRET_CATALOG and the Kubernetes client's own variables
(in a pod: the service account; elsewhere KUBECONFIG), KNARGO_METRICS_PORT and
KNARGO_LOG_FORMAT. Every decision is in
`knargo.generate.generate`; this shell decodes, calls it and maps the outcome.
"""

import logging
import os
import sys
import time

import functions_framework
from pydantic import ValidationError

from knargo import cloudevent, events, metrics, tracing
from knargo.errors import StartupError
from knargo.generate import generate
from knargo.kube import Cluster
from knargo.logs import EventLog
from knargo.network import ForgeClient, ForgeReader
from knargo.outcomes import failure
from knargo.startup import generate_runtime

LOG = EventLog("generate")
METRICS = metrics.Metrics()
try:
    RUNTIME = generate_runtime(os.environ)
    CLUSTER = Cluster.connect(os.environ, METRICS)
    metrics.serve_in_workers(METRICS, os.environ)
    tracing.configure(os.environ)
except StartupError as exc:
    sys.exit(f"knargo generate cannot start: {exc}")
READER = ForgeReader(RUNTIME.settings, RUNTIME.credentials, ForgeClient(metrics=METRICS))
ACCEPTED = {events.GIT_PUSH, events.GIT_PULL_REQUEST}


def _event(request):  # type: ignore[no-untyped-def]
    """The GitEvent of the request, or None when it is not one (answered 400)."""
    try:
        envelope = cloudevent.decode(request.headers, request.get_data())
        if envelope.type not in ACCEPTED:
            return None
        return events.GitEvent.model_validate(envelope.data)
    except (cloudevent.InvalidCloudEvent, ValidationError, ValueError, TypeError):
        return None


def _outcome(reply) -> str:  # type: ignore[no-untyped-def]
    kind = reply.type.rsplit(".", 1)[-1]
    return "duplicate" if kind == "submitted" and not reply.data.created else kind


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    event = _event(request)
    if event is None:
        LOG.handled("invalid", status=400, started=started, level=logging.WARNING)
        return {"error": "expected a dev.knargo.git.push or .pull_request CloudEvent"}, 400
    fields = {"event_type": event.cloud_event_type, "event_id": event.delivery_id}
    try:
        with tracing.span(
            "generate",
            event.traceparent,
            repository=event.repository,
            sha=event.sha,
            delivery_id=event.delivery_id,
        ):
            reply = generate(event, RUNTIME.settings, RUNTIME.catalog, READER, CLUSTER)
    except Exception as exc:  # the edge: one table maps every failure
        answer = failure(exc)
        METRICS.pipelines.inc(outcome="failed")
        METRICS.handled.observe(
            time.monotonic() - started, function="generate", status=str(answer.status)
        )
        LOG.handled(
            "failed",
            status=answer.status,
            started=started,
            event=event,
            level=logging.ERROR,
            reason=str(exc),
            **fields,
        )
        return answer.body, answer.status, answer.headers
    message = cloudevent.encode(reply.envelope())
    outcome = _outcome(reply)
    METRICS.pipelines.inc(outcome=outcome)
    METRICS.handled.observe(time.monotonic() - started, function="generate", status="200")
    LOG.handled(
        outcome,
        status=200,
        started=started,
        event=event,
        workflow=getattr(reply.data, "workflow", None),
        **fields,
    )
    return message.body, 200, message.headers
