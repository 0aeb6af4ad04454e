"""report: pipeline replies and Workflow updates in, commit statuses on the forge out.

    functions-framework --source functions/report/main.py --target handle

An HTTP function, because the broker must see 429 and 503 to redeliver and a CloudEvent
function can only answer 200. Reads PORT, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR and the
Kubernetes client's own variables. Every decision is in `knargo.report.report`. At
`/dead-letter` it is the Triggers' dead-letter sink: each event the broker gave up on is logged
in full and counted, and where it names a commit the pipeline status says it could not be
processed.
"""

import itertools
import os
import sys
import time

import functions_framework

from knargo import cloudevent
from knargo.errors import PermanentError, StartupError
from knargo.kube import Cluster
from knargo.logs import EventLog
from knargo.network import StatusClient
from knargo.outcomes import failure
from knargo.report import dead_letter, report
from knargo.startup import load_config, report_credentials

LOG = EventLog("report")
try:
    SETTINGS = load_config(os.environ)
    STATUSES = StatusClient(SETTINGS, report_credentials(os.environ, SETTINGS))
    CLUSTER = Cluster.connect(os.environ)
except StartupError as exc:
    sys.exit(f"knargo report cannot start: {exc}")


DEAD_LETTERS = itertools.count(1)  # next() is atomic: safe across worker threads


def _dead_letter(envelope):  # type: ignore[no-untyped-def]
    """The Triggers' dead-letter sink: log the event in full, count it, mark its commit."""
    count = next(DEAD_LETTERS)
    result = dead_letter(envelope, SETTINGS, STATUSES)
    LOG.error(
        "dead letter",
        status=202,
        dead_letters=count,
        event_type=envelope.type,
        event_id=envelope.id,
        source=envelope.source,
        subject=envelope.subject,
        extensions=dict(envelope.extensions),
        data=envelope.data,
        posted=len(result.posted),
        reason=result.problem or None,
    )
    return {"dead_letter": True, "posted": len(result.posted)}, 202


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        envelope = cloudevent.decode(request.headers, request.get_data())
        if request.path.rstrip("/") == "/dead-letter":
            return _dead_letter(envelope)
        result = report(envelope, SETTINGS, STATUSES, CLUSTER)
    except (cloudevent.InvalidCloudEvent, PermanentError) as exc:
        LOG.warning("not a knargo event", status=400, reason=str(exc))
        return {"error": "expected a knargo pipeline or workflow event"}, 400
    except Exception as exc:  # the edge: one table maps every failure
        answer = failure(exc)
        LOG.error(
            type(exc).__name__,
            status=answer.status,
            reason=str(exc),
            event_type=envelope.type,
            event_id=envelope.id,
        )
        return answer.body, answer.status, answer.headers
    event = result.event
    LOG.info(
        "reported" if not result.problem else "not reported",
        status=202,
        event_type=envelope.type,
        event_id=envelope.id,
        reason=result.problem or None,
        repository=event.repository if event else None,
        sha=event.sha if event else None,
        posted=len(result.posted),
        states=[f"{u.context}={u.state}" for u in result.posted],
        trace_id=event.traceparent.split("-")[1] if event and event.traceparent else None,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return {"posted": len(result.posted)}, 202
