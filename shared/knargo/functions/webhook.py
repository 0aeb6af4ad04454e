"""From a forge's HTTP delivery to a `GitEvent` to publish, or a refusal. Pure: no I/O.

`receive` checks, in order: the method, the content type, which forge sent it, the
signature or token (against every forge of that kind and its current and previous secret,
in constant time, before the body is parsed), the JSON, what the event is, and that the
repository lives on the forge whose secret matched. Every outcome is an `Answer` (status,
a generic body, and a reason for the log line) or a `Publish` of the event. Nothing unsigned
is ever published.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from knargo import forges
from knargo.config.credentials import Credentials
from knargo.config.settings import Forge, Settings
from knargo.contract.events import CommentEvent, Envelope, GitEvent
from knargo.forges import Headers, Ignored, PayloadError, Ping, Webhooks

__all__ = [
    "MAX_BODY_BYTES",
    "Answer",
    "Publish",
    "Request",
    "Verified",
    "parse",
    "receive",
    "to_cloudevent",
    "verify",
]

MAX_BODY_BYTES = 25 * 1024 * 1024
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass(frozen=True)
class Request:
    method: str
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Answer:
    """Answer the forge with `status` and `body`; `reason` is for the log line only."""

    status: int
    body: dict[str, Any]
    reason: str
    forge: str | None = None


@dataclass(frozen=True)
class Publish:
    """Publish `event`, then answer 202."""

    event: GitEvent | CommentEvent
    forge: Forge


def _refuse(status: int, error: str, reason: str, forge: str | None = None) -> Answer:
    return Answer(status, {"error": error}, reason, forge)


@dataclass(frozen=True)
class Verified:
    """A delivery whose signature matched `forge`; its body may now be parsed."""

    module: Webhooks
    forge: Forge
    headers: Headers
    delivery_id: str
    matched: tuple[Forge, ...] = ()
    """Every forge whose secret matched (two forges of one kind may share a secret)."""


def receive(
    request: Request,
    settings: Settings,
    credentials: Credentials,
    new_traceparent: Callable[[], str] | None = None,
) -> Answer | Publish:
    """`verify`, then `parse`."""
    verified = verify(request, settings, credentials)
    if isinstance(verified, Answer):
        return verified
    return parse(verified, request.body, new_traceparent)


def verify(request: Request, settings: Settings, credentials: Credentials) -> Answer | Verified:
    """Everything up to the signature: the body is read, but not parsed."""
    if request.method != "POST":
        return _refuse(405, "method not allowed", f"method {request.method}")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return _refuse(
            415,
            "form-encoded deliveries are not supported: set the webhook's "
            "content type to application/json",
            "form-encoded",
        )
    if media != "application/json":
        return _refuse(415, "expected Content-Type: application/json", f"content type {media}")
    module = forges.detect(request.headers)
    if module is None:
        return _refuse(400, "not a delivery from GitHub, GitLab, Gitea or Forgejo", "unknown forge")
    matched = _verified_forges(module, request, settings, credentials)
    if not matched:
        return _refuse(401, "invalid signature or token", "signature", module.kind.value)
    return Verified(
        module,
        matched[0],
        request.headers,
        module.delivery_id(request.headers, request.body),
        matched,
    )


def _verified_forges(
    module: Webhooks, request: Request, settings: Settings, credentials: Credentials
) -> tuple[Forge, ...]:
    """The configured forges of the delivery's kind with a secret that matches it."""
    return tuple(
        forge
        for forge in settings.forges
        if forge.kind is module.kind
        and any(
            module.verify(request.headers, request.body, secret.reveal())
            for secret in credentials.secrets_for(forge.name)
        )
    )


def _forge_of(verified: Verified, payload: dict[str, Any]) -> Forge:
    """Of the forges whose secret matched, the one hosting the payload's repository."""
    if len(verified.matched) > 1:
        try:
            host = verified.module.web_url(payload).split("://", 1)[-1].split("/", 1)[0]
        except PayloadError:
            return verified.forge
        for forge in verified.matched:
            if forge.host == host.lower():
                return forge
    return verified.forge


def parse(
    verified: Verified, text: str | bytes, new_traceparent: Callable[[], str] | None = None
) -> Answer | Publish:
    """The event of a verified delivery. `text` may be the decoded body, so that a caller can
    drop the raw bytes first: a 25 MiB delivery then never exists three times at once."""
    module, forge = verified.module, verified.forge
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return _refuse(400, "malformed JSON", "malformed JSON", forge.name)
    if not isinstance(payload, dict):
        return _refuse(400, "unsupported payload", "payload is not an object", forge.name)
    forge = _forge_of(verified, payload)
    try:
        parsed = module.parse(verified.headers, payload, forge, verified.delivery_id)
    except (PayloadError, ValidationError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, PayloadError) else type(exc).__name__
        return _refuse(400, "unsupported payload", reason, forge.name)
    if isinstance(parsed, Ping):
        return Answer(200, {"pong": True}, "ping", forge.name)
    if isinstance(parsed, Ignored):
        return Answer(202, {"ignored": parsed.reason}, f"ignored: {parsed.reason}", forge.name)
    if parsed.host != forge.host:  # one forge's secret must not vouch for another's repos
        return _refuse(
            401,
            "invalid signature or token",
            f"repository host {parsed.host} is not forge {forge.name}",
            forge.name,
        )
    traceparent = verified.headers.get("traceparent", "")
    if not _TRACEPARENT.match(traceparent):
        traceparent = (new_traceparent or _new_traceparent)()
    return Publish(parsed.model_copy(update={"traceparent": traceparent}), forge)


def _new_traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def to_cloudevent(
    event: GitEvent | CommentEvent, extensions: dict[str, str] | None = None
) -> Envelope:
    """The CloudEvent for `event` (DESIGN §5): id = delivery id, source = repository URL,
    subject = ref, the trace context as the `traceparent` extension."""
    attributes = dict(extensions or {})
    if event.traceparent:
        attributes["traceparent"] = event.traceparent
    return Envelope(
        type=event.cloud_event_type,
        source=event.repository_url,
        id=event.delivery_id,
        subject=event.ref,
        data=event.model_dump(mode="json"),
        extensions=attributes,
    )
