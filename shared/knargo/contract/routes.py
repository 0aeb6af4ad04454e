"""Which function receives which event type: the one table behind the Knative Triggers in
`knative/` and the in-process broker of `knargo dev` and `knargo run`.

A reply of `generate` goes back into the broker and must never match its own routes.
"""

from __future__ import annotations

from knargo.contract import events

__all__ = ["ROUTES", "subscribers"]

ROUTES: tuple[tuple[str, str], ...] = (
    (events.GIT_PUSH, "generate"),
    (events.GIT_PULL_REQUEST, "generate"),
    (events.GIT_COMMENT, "generate"),
    (events.PIPELINE_SUBMITTED, "report"),
    (events.PIPELINE_REJECTED, "report"),
    (events.PIPELINE_SKIPPED, "report"),
    (events.WORKFLOW_UPDATED, "report"),
)


def subscribers(event_type: str) -> list[str]:
    """The functions a Trigger delivers an event of `event_type` to."""
    return [function for routed, function in ROUTES if routed == event_type]
