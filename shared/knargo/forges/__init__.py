"""Forges: one module per forge (github, gitlab, gitea), each implementing `Webhooks`.

Detection order matters: Gitea and Forgejo also send `X-GitHub-Event` and
`X-Hub-Signature-256`, so they are recognised first, then GitLab, then GitHub.
"""

from __future__ import annotations

from knargo.forges import gitea, github, gitlab
from knargo.forges.payload import Headers, Ignored, Parsed, PayloadError, Ping, Webhooks

__all__ = [
    "DETECTION_ORDER",
    "Headers",
    "Ignored",
    "Parsed",
    "PayloadError",
    "Ping",
    "Webhooks",
    "detect",
]

DETECTION_ORDER: tuple[Webhooks, ...] = (gitea.WEBHOOKS, gitlab.WEBHOOKS, github.WEBHOOKS)


def detect(headers: Headers) -> Webhooks | None:
    """The forge whose headers the delivery carries, or None."""
    return next((forge for forge in DETECTION_ORDER if forge.detect(headers)), None)
