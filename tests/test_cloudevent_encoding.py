"""knargo writes binary-mode CloudEvents itself: exactly what the SDK's `to_binary` writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from knargo.contract.cloudevent import decode, encode
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
    assert list(message.headers.items()) == list(headers.items())
    assert message.body == body
    assert decode(message.headers, message.body) == envelope
