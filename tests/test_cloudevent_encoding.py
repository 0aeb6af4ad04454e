"""knargo writes binary-mode CloudEvents itself: what the SDK's `to_binary` writes, with the
header values percent-encoded as the HTTP binding (1.0.2, 3.1.3.2) requires."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from knargo.contract.cloudevent import InvalidCloudEvent, decode, encode
from knargo.contract.events import Envelope

names = st.from_regex(r"[a-z][a-z0-9]{0,19}", fullmatch=True).filter(
    lambda n: (
        n not in {"specversion", "id", "source", "type", "subject", "time", "data"}
        and not n.startswith("data")
    )
)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def sdk(envelope: Envelope, time: str) -> tuple[dict[str, str], bytes]:
    """What knargo sent through the SDK before: the same attributes, `time` fixed."""
    attributes: dict[str, Any] = {
        "type": envelope.type,
        "source": envelope.source,
        "id": envelope.id,
        "datacontenttype": "application/json",
        "time": time,
    }
    if envelope.subject is not None:
        attributes["subject"] = envelope.subject
    attributes.update(envelope.extensions)
    headers, body = to_binary(CloudEvent(attributes, envelope.data))
    result = {str(k): str(v) for k, v in headers.items()}
    if envelope.traceparent:
        result["traceparent"] = envelope.traceparent
    return result, body


@given(
    kind=text,
    source=text,
    id=text,
    subject=st.none() | text,
    extensions=st.dictionaries(names | st.just("traceparent"), text, max_size=3),
    payload=st.dictionaries(st.text(max_size=8), data, max_size=4),
)
def test_the_headers_and_body_are_the_sdks(
    kind: str,
    source: str,
    id: str,
    subject: str | None,
    extensions: dict[str, str],
    payload: dict[str, Any],
) -> None:
    envelope = Envelope(kind, source, id, payload, subject, extensions)
    message = encode(envelope)
    time = message.headers["ce-time"]
    assert datetime.fromisoformat(time).utcoffset() is not None
    headers, body = sdk(envelope, time)
    assert all(ENCODED.fullmatch(v) for n, v in message.headers.items() if n.startswith("ce-"))
    sent = {n: unquote(v) if n.startswith("ce-") else v for n, v in message.headers.items()}
    assert list(sent.items()) == list(headers.items())
    assert message.body == body
    assert decode(message.headers, message.body) == envelope


ENCODED = re.compile(r"(?:[!#$&-~]|%[0-9A-F]{2})*")
"""Printable ASCII but double-quote and percent, and percent-encoded bytes."""


def test_header_values_are_percent_encoded_as_the_binding_shows() -> None:
    """The binding's own example, and a branch name with a space-free Unicode name."""
    envelope = Envelope("t", "s", "1", {}, "Euro \u20ac \U0001f600", {"ref": "refs/heads/ünï"})
    headers = encode(envelope).headers
    assert headers["ce-subject"] == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert headers["ce-ref"] == "refs/heads/%C3%BCn%C3%AF"
    assert headers["ce-source"] == "s"
    assert decode(headers, b"{}") == envelope


def test_older_senders_values_are_read_too() -> None:
    """Lower-case hex, values that need no encoding, and double-quoted strings."""
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "%e2%82%ac",
        "ce-source": '"a \\"quoted\\" source"',
        "ce-type": "%74ype",
        "ce-subject": "refs/heads/main",
    }
    envelope = decode(headers, b"{}")
    assert (envelope.id, envelope.source, envelope.type) == ("\u20ac", 'a "quoted" source', "type")
    assert envelope.subject == "refs/heads/main"


@pytest.mark.parametrize("value", ["%C0%A0", "%FF", "%E2%82"])
def test_bytes_that_are_not_utf8_are_refused(value: str) -> None:
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": value,
        "ce-source": "s",
        "ce-type": "t",
    }
    with pytest.raises(InvalidCloudEvent, match="not percent-encoded UTF-8"):
        decode(headers, b"{}")
