"""report: pipeline replies and Workflow updates in, commit statuses on the forge out.

    functions-framework --source functions/report/main.py --target handle

An HTTP function, because the broker must see 429 and 503 to redeliver and a CloudEvent
function can only answer 200. Reads PORT, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR,
KNARGO_METRICS_PORT, KNARGO_LOG_FORMAT and the Kubernetes client's own variables. Every
decision is in `knargo.report`. At `/dead-letter` it is the Triggers' dead-letter sink: each
event the broker gave up on is logged in full and counted, and where it names a commit the
pipeline status says it could not be processed.
"""

import logging
import os
import sys
import time
from datetime import UTC, datetime

import functions_framework

from knargo import cloudevent, events, metrics, tracing
from knargo.errors import PermanentError, StartupError
from knargo.kube import Cluster
from knargo.logs import EventLog
from knargo.network import ForgeClient, StatusClient
from knargo.outcomes import failure
from knargo.report import CommitLocks, Reported, dead_letter, report
from knargo.startup import load_config, report_credentials
from knargo.status import State

LOG = EventLog("report")
METRICS = metrics.Metrics()
try:
    SETTINGS = load_config(os.environ)
    STATUSES = StatusClient(
        SETTINGS, report_credentials(os.environ, SETTINGS), ForgeClient(metrics=METRICS)
    )
    CLUSTER = Cluster.connect(os.environ, METRICS)
    LOCKS = CommitLocks()
    metrics.serve_in_workers(METRICS, os.environ)
    tracing.configure(os.environ)
except StartupError as exc:
    sys.exit(f"knargo report cannot start: {exc}")


def _seconds_since(timestamp: object) -> float | None:
    try:
        then = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


def _traceparent(envelope: events.Envelope) -> str | None:
    """The push's trace: the event's extension, else the Workflow's or the reply's copy."""
    data = envelope.data if isinstance(envelope.data, dict) else {}
    annotations = (data.get("metadata") or {}).get("annotations") or {}
    return (
        envelope.traceparent
        or annotations.get("knargo.dev/traceparent")
        or (data.get("event") or {}).get("traceparent")
    )


def _count(envelope: events.Envelope, result: Reported) -> None:
    """Status posts by state, and the two service-level latencies they complete."""
    forge = result.event.forge_name if result.event else "unknown"
    for update in result.posted:
        METRICS.status_posts.inc(forge=forge, state=update.state.value)
        if update.context != SETTINGS.status_context or result.event is None:
            continue
        if update.state is State.QUEUED and result.event.received_at:
            waited = _seconds_since(result.event.received_at)
            if waited is not None:
                METRICS.first_status.observe(waited)
        if update.state.final and envelope.type == events.WORKFLOW_UPDATED:
            waited = _seconds_since(((envelope.data or {}).get("status") or {}).get("finishedAt"))
            if waited is not None:
                METRICS.final_status.observe(waited)


def _dead_letter(envelope, started):  # type: ignore[no-untyped-def]
    METRICS.dead_letters.inc(type=envelope.type)
    result = dead_letter(envelope, SETTINGS, STATUSES, LOCKS)
    _count(envelope, result)
    LOG.handled(
        "dead letter",
        status=202,
        started=started,
        event=result.event,
        level=logging.ERROR,
        event_type=envelope.type,
        event_id=envelope.id,
        source=envelope.source,
        subject=envelope.subject,
        extensions=dict(envelope.extensions),
        data=envelope.data,
        dead_letters=int(METRICS.dead_letters.value(type=envelope.type)),
        posted=len(result.posted),
        reason=result.problem or None,
    )
    return {"dead_letter": True, "posted": len(result.posted)}, 202


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    envelope = None
    try:
        envelope = cloudevent.decode(request.headers, request.get_data())
        if request.path.rstrip("/") == "/dead-letter":
            return _dead_letter(envelope, started)
        with tracing.span("report", _traceparent(envelope), event_type=envelope.type):
            result = report(envelope, SETTINGS, STATUSES, CLUSTER, LOCKS)
    except (cloudevent.InvalidCloudEvent, PermanentError) as exc:
        LOG.handled(
            "invalid",
            status=400,
            started=started,
            level=logging.WARNING,
            reason=str(exc),
            event_type=envelope.type if envelope else None,
        )
        return {"error": "expected a knargo pipeline or workflow event"}, 400
    except Exception as exc:  # the edge: one table maps every failure
        answer = failure(exc)
        LOG.handled(
            "failed",
            status=answer.status,
            started=started,
            level=logging.ERROR,
            reason=str(exc),
            event_type=envelope.type if envelope else None,
            event_id=envelope.id if envelope else None,
        )
        return answer.body, answer.status, answer.headers
    _count(envelope, result)
    METRICS.handled.observe(time.monotonic() - started, function="report", status="202")
    data = envelope.data if isinstance(envelope.data, dict) else {}
    workflow = (data.get("metadata") or {}).get("name") or data.get("workflow")
    LOG.handled(
        "reported" if not result.problem else "not reported",
        status=202,
        started=started,
        event=result.event,
        event_type=envelope.type,
        event_id=envelope.id,
        workflow=workflow,
        reason=result.problem or None,
        states=[f"{u.context}={u.state}" for u in result.posted],
    )
    return {"posted": len(result.posted)}, 202
