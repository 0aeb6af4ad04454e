"""Fuzzing the webhook function: whatever arrives, never a 5xx, never an unverified event."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliveries import secret
from sink import Sink

HEADER_NAMES = [
    "X-GitHub-Event",
    "X-Hub-Signature-256",
    "X-GitHub-Delivery",
    "X-Gitea-Event",
    "X-Gitea-Signature",
    "X-Forgejo-Event",
    "X-Forgejo-Signature",
    "X-Gitlab-Event",
    "X-Gitlab-Token",
    "Idempotency-Key",
    "Content-Type",
    "traceparent",
]
EVENTS = ["push", "pull_request", "ping", "create", "Push Hook", "Merge Request Hook", "", "x"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
payload_keys = [
    "ref",
    "after",
    "before",
    "repository",
    "pull_request",
    "action",
    "deleted",
    "head_commit",
    "object_kind",
    "project",
    "object_attributes",
    "commits",
]
payloads = st.dictionaries(st.sampled_from(payload_keys), json_values, max_size=8)
header_values = st.one_of(
    st.sampled_from(EVENTS),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
)
CONFIG = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@CONFIG
@given(
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=8),
    body=st.one_of(st.binary(max_size=300), payloads.map(lambda p: json.dumps(p).encode())),
)
def test_unverified_deliveries_are_refused_without_5xx(
    headers: dict[str, str], body: bytes, client: Any, sink: Sink
) -> None:
    response = client.post("/", data=body, headers=headers)
    assert response.status_code < 500
    assert sink.requests == 0


@CONFIG
@given(event=st.sampled_from(EVENTS), payload=payloads)
def test_signed_garbage_never_gives_5xx(
    event: str, payload: dict[str, Any], client: Any, sink: Sink
) -> None:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret("github"), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": "fuzz",
    }
    before = len(sink.events)
    response = client.post("/", data=body, headers=headers)
    assert response.status_code in (200, 202, 400, 401)
    published = response.status_code == 202 and "id" in response.get_json()
    assert len(sink.events) == before + published
