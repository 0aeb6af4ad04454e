"""The one module that (de)serialises CloudEvents, through the cloudevents SDK (1.12).

functions-framework 3.10 accepts only `cloudevents<=1.12.0`; keeping every use of the SDK
here means moving to cloudevents 2.x (whose `cloudevents.v1` layer keeps this API) touches
one file. knargo sends binary mode (`ce-*` headers, the JSON data as the body) and reads
both binary and structured mode. Sending writes the headers itself, exactly as the SDK's
`to_binary` would (a test compares them): the SDK's generic path (an event object, a
marshaller, a converter) was a quarter of what the webhook adds to a delivery's handling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import from_http

from knargo.contract.events import Envelope

__all__ = ["InvalidCloudEvent", "Message", "decode", "encode"]

JSON = "application/json"
_CORE = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "data",
    }
)


# The order of the SDK's binary-mode headers (v1 `Event.Properties`), after Content-Type.
_BINARY_ORDER = ("specversion", "id", "source", "type", "dataschema", "subject", "time")


class InvalidCloudEvent(ValueError):
    """The request is not a CloudEvent with JSON data."""


@dataclass(frozen=True)
class Message:
    """An HTTP message: headers and body."""

    headers: dict[str, str]
    body: bytes


def encode(envelope: Envelope) -> Message:
    """Binary mode, `datacontenttype: application/json` (without it the SDK sends no
    Content-Type); the trace context also goes in the W3C `traceparent` header. The
    headers and body are those of the SDK's `to_binary`, in its order: `specversion`, `id`,
    `source`, `type`, `subject` and `time` (now, as the SDK fills it in), then extensions."""
    attributes: dict[str, Any] = {
        "type": envelope.type,
        "source": envelope.source,
        "id": envelope.id,
        "datacontenttype": JSON,
    }
    if envelope.subject is not None:
        attributes["subject"] = envelope.subject
    attributes.update(envelope.extensions)
    attributes = {str(k).lower(): v for k, v in attributes.items()}
    attributes.setdefault("specversion", "1.0")
    attributes.setdefault("time", datetime.now(UTC).isoformat())
    headers = {"content-type": str(attributes["datacontenttype"])}
    for name in _BINARY_ORDER:
        if attributes.get(name) is not None:
            headers["ce-" + name] = str(attributes[name])
    for name, value in attributes.items():
        if name not in _CORE:
            headers["ce-" + name] = str(value)
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    return Message(headers, json.dumps(envelope.data).encode())


def decode(headers: Mapping[str, str], body: bytes) -> Envelope:
    """Read a binary- or structured-mode CloudEvent whose data is JSON."""
    try:
        event = from_http(dict(headers), body)
    except GenericException as exc:
        raise InvalidCloudEvent(type(exc).__name__) from None
    attributes = event.get_attributes()
    data = event.get_data()
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data) if data else None
        except ValueError:
            raise InvalidCloudEvent("data is not JSON") from None
    extensions = {k: str(v) for k, v in attributes.items() if k not in _CORE}
    return Envelope(
        type=str(attributes["type"]),
        source=str(attributes["source"]),
        id=str(attributes["id"]),
        data=data,
        subject=attributes.get("subject"),
        extensions=extensions,
    )
