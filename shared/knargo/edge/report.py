"""report's edge: decode the event, run `knargo.functions.report`, log and count what it posted.

At `/dead-letter` it is the Triggers' dead-letter sink: each event the broker gave up on is
logged in full and counted, and where it names a commit the pipeline status says it could not
be processed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from knargo.config.settings import Settings
from knargo.contract import cloudevent, events
from knargo.contract.errors import PermanentError
from knargo.contract.outcomes import failure
from knargo.edge.shell import Answer, Shell
from knargo.functions.report import CommitLocks, Reported, dead_letter, report
from knargo.functions.status import State
from knargo.io.kube import Cluster
from knargo.io.network import ArchivedLogs, StatusClient
from knargo.observability import tracing

__all__ = ["ReportEdge"]

NOT_AN_EVENT = {"error": "expected a knargo pipeline or workflow event"}


@dataclass
class ReportEdge:
    shell: Shell
    settings: Settings
    statuses: StatusClient
    cluster: Cluster
    locks: CommitLocks

    def handle(self, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        started = time.monotonic()
        envelope = None
        try:
            envelope = cloudevent.decode(headers, body)
            if path.rstrip("/") == "/dead-letter":
                return self._dead_letter(envelope, started)
            with tracing.span("report", _traceparent(envelope), event_type=envelope.type):
                archive = ArchivedLogs(
                    self.settings, self.statuses.credentials, self.statuses.client
                )
                result = report(
                    envelope,
                    self.settings,
                    self.statuses,
                    self.cluster,
                    self.locks,
                    archive,
                )
        except (cloudevent.InvalidCloudEvent, PermanentError) as exc:
            event_type = envelope.type if envelope else None
            self.shell.handled(
                "invalid", 400, started, logging.WARNING, reason=str(exc), event_type=event_type
            )
            return Answer(NOT_AN_EVENT, 400)
        except Exception as exc:  # the edge: one table maps every failure
            answer = failure(exc)
            self.shell.handled(
                "failed",
                answer.status,
                started,
                logging.ERROR,
                reason=str(exc),
                event_type=envelope.type if envelope else None,
                event_id=envelope.id if envelope else None,
            )
            return Answer(answer.body, answer.status, answer.headers)
        self._count(envelope, result)
        data = envelope.data if isinstance(envelope.data, dict) else {}
        self.shell.handled(
            "reported" if not result.problem else "not reported",
            202,
            started,
            event=result.event,
            event_type=envelope.type,
            event_id=envelope.id,
            workflow=(data.get("metadata") or {}).get("name") or data.get("workflow"),
            reason=result.problem or None,
            states=[f"{u.context}={u.state}" for u in result.posted],
        )
        return Answer({"posted": len(result.posted)}, 202)

    def _dead_letter(self, envelope: events.Envelope, started: float) -> Answer:
        counters = self.shell.metrics
        counters.dead_letters.inc(type=envelope.type)
        result = dead_letter(envelope, self.settings, self.statuses, self.locks)
        self._count(envelope, result)
        self.shell.handled(
            "dead letter",
            202,
            started,
            logging.ERROR,
            event=result.event,
            event_type=envelope.type,
            event_id=envelope.id,
            source=envelope.source,
            subject=envelope.subject,
            extensions=dict(envelope.extensions),
            data=envelope.data,
            dead_letters=int(counters.dead_letters.value(type=envelope.type)),
            posted=len(result.posted),
            reason=result.problem or None,
        )
        return Answer({"dead_letter": True, "posted": len(result.posted)}, 202)

    def _count(self, envelope: events.Envelope, result: Reported) -> None:
        """Status posts by state, and the two service-level latencies they complete."""
        counters = self.shell.metrics
        forge = result.event.forge_name if result.event else "unknown"
        for update in result.posted:
            counters.status_posts.inc(forge=forge, state=update.state.value)
            if update.context != self.settings.status_context or result.event is None:
                continue
            if update.state is State.QUEUED and result.event.received_at:
                waited = _seconds_since(result.event.received_at)
                if waited is not None:
                    counters.first_status.observe(waited)
            if update.state.final and envelope.type == events.WORKFLOW_UPDATED:
                data = envelope.data if isinstance(envelope.data, dict) else {}
                waited = _seconds_since((data.get("status") or {}).get("finishedAt"))
                if waited is not None:
                    counters.final_status.observe(waited)


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
