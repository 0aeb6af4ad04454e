"""The routing table: every event type has its function, and replies never loop."""

from __future__ import annotations

from knargo.contract import events
from knargo.contract.routes import ROUTES, subscribers


def test_every_event_type_is_routed_once() -> None:
    types = [
        events.GIT_PUSH,
        events.GIT_PULL_REQUEST,
        events.GIT_COMMENT,
        events.PIPELINE_SUBMITTED,
        events.PIPELINE_REJECTED,
        events.PIPELINE_SKIPPED,
        events.WORKFLOW_UPDATED,
    ]
    assert sorted(t for t, _ in ROUTES) == sorted(types)
    assert all(len(subscribers(t)) == 1 for t in types)


def test_generate_replies_never_reach_generate() -> None:
    replies = [events.PIPELINE_SUBMITTED, events.PIPELINE_REJECTED, events.PIPELINE_SKIPPED]
    assert all("generate" not in subscribers(t) for t in replies)
    assert subscribers("dev.other") == []
