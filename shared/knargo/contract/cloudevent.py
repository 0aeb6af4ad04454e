"""The one module that (de)serialises CloudEvents, through the cloudevents SDK (1.12).

functions-framework 3.10 accepts only `cloudevents<=1.12.0`; keeping every use of the SDK
here means moving to cloudevents 2.x (whose `cloudevents.v1` layer keeps this API) touches
one file. knargo sends binary mode (`ce-*` headers, the JSON data as the body) and reads
both binary and structured mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http

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


class InvalidCloudEvent(ValueError):
    """The request is not a CloudEvent with JSON data."""


@dataclass(frozen=True)
class Message:
    """An HTTP message: headers and body."""

    headers: dict[str, str]
    body: bytes


def encode(envelope: Envelope) -> Message:
    """Binary mode, `datacontenttype: application/json` (without it the SDK sends no
    Content-Type); the trace context also goes in the W3C `traceparent` header."""
    attributes: dict[str, Any] = {
        "type": envelope.type,
        "source": envelope.source,
        "id": envelope.id,
        "datacontenttype": JSON,
    }
    if envelope.subject is not None:
        attributes["subject"] = envelope.subject
    attributes.update(envelope.extensions)
    headers, body = to_binary(CloudEvent(attributes, envelope.data))
    result = {str(k): str(v) for k, v in headers.items()}
    if envelope.traceparent:
        result["traceparent"] = envelope.traceparent
    return Message(result, body if isinstance(body, bytes) else str(body).encode())


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
