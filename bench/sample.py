"""The push every in-process benchmark translates: a GitHub push to the default branch."""

from __future__ import annotations

from knargo.contract.events import GitEvent

__all__ = ["PUSH"]

PUSH = GitEvent(
    forge_kind="github",
    forge_name="github",
    repository="acme/api",
    repository_url="https://github.com/acme/api",
    clone_url="https://github.com/acme/api.git",
    default_branch="main",
    kind="push",
    ref="refs/heads/main",
    sha="9f2c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807",
    sender="octocat",
    delivery_id="bench",
)
