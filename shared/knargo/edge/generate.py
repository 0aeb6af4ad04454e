"""generate's edge: decode the event, run `knargo.functions.generate`, answer with the reply."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from knargo.config.startup import GenerateRuntime
from knargo.contract import cloudevent, events
from knargo.contract.outcomes import failure
from knargo.edge.shell import Answer, Shell
from knargo.functions.comments import handle_comment
from knargo.functions.generate import Reply, generate
from knargo.io.kube import Cluster
from knargo.io.network import ConversationClient, ForgeReader
from knargo.observability import tracing

__all__ = ["GenerateEdge"]

ACCEPTED = {events.GIT_PUSH, events.GIT_PULL_REQUEST}
NOT_AN_EVENT = {"error": "expected a dev.knargo.git.push, .pull_request or .comment CloudEvent"}


@dataclass
class GenerateEdge:
    shell: Shell
    runtime: GenerateRuntime
    reader: ForgeReader
    cluster: Cluster

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        started = time.monotonic()
        comment = _comment(headers, body)
        if comment is not None:
            return self._comment(comment, started)
        event = _event(headers, body)
        if event is None:
            self.shell.handled("invalid", 400, started, logging.WARNING)
            return Answer(NOT_AN_EVENT, 400)
        fields: dict[str, Any] = {
            "event_type": event.cloud_event_type,
            "event_id": event.delivery_id,
        }
        try:
            with tracing.span(
                "generate",
                event.traceparent,
                repository=event.repository,
                sha=event.sha,
                delivery_id=event.delivery_id,
            ):
                runtime = self.runtime
                reply = generate(
                    event, runtime.settings, runtime.catalog, self.reader, self.cluster
                )
        except Exception as exc:  # the edge: one table maps every failure
            answer = failure(exc)
            self.shell.metrics.pipelines.inc(outcome="failed")
            self.shell.handled(
                "failed",
                answer.status,
                started,
                logging.ERROR,
                event=event,
                reason=str(exc),
                **fields,
            )
            return Answer(answer.body, answer.status, answer.headers)
        message = cloudevent.encode(reply.envelope())
        outcome = _outcome(reply)
        self.shell.metrics.pipelines.inc(outcome=outcome)
        workflow = getattr(reply.data, "workflow", None)
        self.shell.handled(outcome, 200, started, event=event, workflow=workflow, **fields)
        return Answer(message.body, 200, message.headers)

    def _comment(self, comment: events.CommentEvent, started: float) -> Answer:
        """A pull request comment: its commands, logged with who gave them."""
        fields: dict[str, Any] = {
            "event_type": events.GIT_COMMENT,
            "event_id": comment.delivery_id,
            "actor": comment.author,
            "pull_request": comment.pr_number,
        }
        runtime = self.runtime
        conversation = ConversationClient(
            self.reader.settings, self.reader.credentials, self.reader.client
        )
        try:
            with tracing.span(
                "generate comment",
                comment.traceparent,
                repository=comment.repository,
                delivery_id=comment.delivery_id,
            ):
                handled = handle_comment(
                    comment,
                    runtime.settings,
                    runtime.catalog,
                    self.reader,
                    self.cluster,
                    conversation,
                )
        except Exception as exc:  # the edge: one table maps every failure
            answer = failure(exc)
            self.shell.handled(
                "failed",
                answer.status,
                started,
                logging.ERROR,
                event=comment,
                reason=str(exc),
                **fields,
            )
            return Answer(answer.body, answer.status, answer.headers)
        fields["commands"] = handled.commands
        if handled.reply is None:
            self.shell.handled(f"comment {handled.outcome}", 202, started, event=comment, **fields)
            return Answer(b"", 202)  # no reply event: Knative forwards nothing
        message = cloudevent.encode(handled.reply.envelope())
        workflow = getattr(handled.reply.data, "workflow", None)
        self.shell.handled(f"comment {handled.outcome}", 200, started, workflow=workflow, **fields)
        return Answer(message.body, 200, message.headers)


def _comment(headers: Mapping[str, str], body: bytes) -> events.CommentEvent | None:
    """The CommentEvent of the request, or None when it is not a valid one."""
    try:
        envelope = cloudevent.decode(headers, body)
        if envelope.type != events.GIT_COMMENT:
            return None
        return events.CommentEvent.model_validate(envelope.data)
    except (cloudevent.InvalidCloudEvent, ValidationError, ValueError, TypeError):
        return None


def _event(headers: Mapping[str, str], body: bytes) -> events.GitEvent | None:
    """The GitEvent of the request, or None when it is not one (answered 400)."""
    try:
        envelope = cloudevent.decode(headers, body)
        if envelope.type not in ACCEPTED:
            return None
        return events.GitEvent.model_validate(envelope.data)
    except (cloudevent.InvalidCloudEvent, ValidationError, ValueError, TypeError):
        return None


def _outcome(reply: Reply) -> str:
    kind = reply.type.rsplit(".", 1)[-1]
    created = getattr(reply.data, "created", True)
    return "duplicate" if kind == "submitted" and not created else kind
