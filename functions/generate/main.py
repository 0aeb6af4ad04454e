"""generate: a `dev.knargo.git.*` CloudEvent in, a Workflow on the cluster, a reply event out.

    functions-framework --source functions/generate/main.py --target handle

An HTTP function, because a Knative reply must travel in the response and
functions-framework ignores what a CloudEvent function returns. Reads PORT, KNARGO_CONFIG,
KNARGO_CREDENTIALS_DIR, KNARGO_SECRET_CATALOG and the Kubernetes client's own variables
(in a pod: the service account; elsewhere KUBECONFIG). Every decision is in
`knargo.generate.generate`; this shell decodes, calls it and maps the outcome.
"""

import os
import sys
import time

import functions_framework
from pydantic import ValidationError

from knargo import cloudevent, events
from knargo.errors import StartupError
from knargo.generate import generate
from knargo.kube import Cluster
from knargo.logs import EventLog
from knargo.network import ForgeReader
from knargo.outcomes import failure
from knargo.startup import generate_runtime

LOG = EventLog("generate")
try:
    RUNTIME = generate_runtime(os.environ)
    CLUSTER = Cluster.connect(os.environ)
except StartupError as exc:
    sys.exit(f"knargo generate cannot start: {exc}")
READER = ForgeReader(RUNTIME.settings, RUNTIME.credentials)
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


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    event = _event(request)
    if event is None:
        LOG.warning("not a knargo git event", status=400)
        return {"error": "expected a dev.knargo.git.push or .pull_request CloudEvent"}, 400
    fields = {
        "repository": event.repository,
        "delivery_id": event.delivery_id,
        "sha": event.sha,
        "event": event.kind.value,
        "trace_id": event.traceparent.split("-")[1] if event.traceparent else None,
    }
    try:
        reply = generate(event, RUNTIME.settings, RUNTIME.catalog, READER, CLUSTER)
    except Exception as exc:  # the edge: one table maps every failure
        answer = failure(exc)
        LOG.error(
            type(exc).__name__,
            status=answer.status,
            reason=str(exc),
            **fields,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return answer.body, answer.status, answer.headers
    message = cloudevent.encode(reply.envelope())
    workflow = getattr(reply.data, "workflow", None)
    LOG.info(
        reply.type.rsplit(".", 1)[-1],
        status=200,
        workflow=workflow,
        **fields,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return message.body, 200, message.headers
