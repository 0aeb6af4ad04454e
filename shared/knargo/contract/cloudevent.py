"""The one module that (de)serialises CloudEvents, through the cloudevents SDK (1.12).

functions-framework 3.10 accepts only `cloudevents<=1.12.0`; keeping every use of the SDK
here means moving to cloudevents 2.x (whose `cloudevents.v1` layer keeps this API) touches
one file. knargo sends binary mode (`ce-*` headers, the JSON data as the body) and reads
both binary and structured mode. Sending writes the headers itself, as the SDK's
`to_binary` would (a test compares them): the SDK's generic path (an event object, a
marshaller, a converter) was a quarter of what the webhook adds to a delivery's handling.

Unlike the SDK 1.12, header values are percent-encoded and decoded as the HTTP binding
requires (1.0.2, 3.1.3.2): a branch may be named `feature/ünïcode`, and an HTTP header
carries printable ASCII only (http.client refuses what Latin-1 cannot encode; a broker may
refuse the rest).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

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


# What a header value may hold as it is: printable ASCII but space, double-quote and percent.
_PLAIN = re.compile(r"[!#$&-~]*")
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_QUOTED_PAIR = re.compile(r"\\(.)")


def header_value(value: str) -> str:
    """`value` percent-encoded for a `ce-` header: UTF-8, upper-case hex."""
    return value if _PLAIN.fullmatch(value) else quote(value, safe=_SAFE)


def attribute_value(value: str) -> str:
    """A `ce-` header's value decoded: a double-quoted string (older senders) unescaped,
    then one round of percent-decoding. Raises InvalidCloudEvent for bytes that are not
    UTF-8 (e.g. an overlong encoding), which the binding says to reject."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
    if "%" not in value:
        return value
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise InvalidCloudEvent("a ce- header is not percent-encoded UTF-8") from None


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
            headers["ce-" + name] = header_value(str(attributes[name]))
    for name, value in attributes.items():
        if name not in _CORE:
            headers["ce-" + name] = header_value(str(value))
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    return Message(headers, json.dumps(envelope.data).encode())


def decode(headers: Mapping[str, str], body: bytes) -> Envelope:
    """Read a binary- or structured-mode CloudEvent whose data is JSON."""
    headers = {
        name: attribute_value(value) if name.lower().startswith("ce-") else value
        for name, value in headers.items()
    }
    try:
        event = from_http(headers, body)
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
