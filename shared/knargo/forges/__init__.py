"""Forges: one module per forge (github, gitlab, gitea), each implementing `Webhooks` (receiving
deliveries) and `FileApi` (reading a repository at a commit).

Detection order matters: Gitea and Forgejo also send `X-GitHub-Event` and
`X-Hub-Signature-256`, so they are recognised first, then GitLab, then GitHub.
"""

from __future__ import annotations

from knargo.contract.events import ForgeKind
from knargo.forges import gitea, github, gitlab
from knargo.forges.payload import (
    ApiRequest,
    ConversationApi,
    FileApi,
    Headers,
    Ignored,
    Parsed,
    PayloadError,
    Ping,
    PullHead,
    StatusApi,
    Webhooks,
)

__all__ = [
    "CONVERSATIONS",
    "DETECTION_ORDER",
    "FILES",
    "STATUSES",
    "ApiRequest",
    "ConversationApi",
    "FileApi",
    "Headers",
    "Ignored",
    "Parsed",
    "PayloadError",
    "Ping",
    "PullHead",
    "StatusApi",
    "Webhooks",
    "detect",
]

DETECTION_ORDER: tuple[Webhooks, ...] = (gitea.WEBHOOKS, gitlab.WEBHOOKS, github.WEBHOOKS)
STATUSES: dict[ForgeKind, StatusApi] = {
    ForgeKind.GITHUB: github.STATUSES,
    ForgeKind.GITLAB: gitlab.STATUSES,
    ForgeKind.GITEA: gitea.STATUSES,
}
FILES: dict[ForgeKind, FileApi] = {
    ForgeKind.GITHUB: github.FILES,
    ForgeKind.GITLAB: gitlab.FILES,
    ForgeKind.GITEA: gitea.FILES,
}
CONVERSATIONS: dict[ForgeKind, ConversationApi] = {
    ForgeKind.GITHUB: github.CONVERSATIONS,
    ForgeKind.GITLAB: gitlab.CONVERSATIONS,
    ForgeKind.GITEA: gitea.CONVERSATIONS,
}


def detect(headers: Headers) -> Webhooks | None:
    """The forge whose headers the delivery carries, or None."""
    return next((forge for forge in DETECTION_ORDER if forge.detect(headers)), None)
