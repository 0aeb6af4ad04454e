"""Gitea and Forgejo webhooks: unprefixed hex HMAC-SHA256 over the raw body, push and pull_request.

Forgejo sends Gitea's payloads and headers plus its own `X-Forgejo-*` ones; both also send
`X-GitHub-Event`, so this module must be asked before the GitHub one. The event is read from
`X-Forgejo-Event`, `X-Gitea-Event` or `X-Gogs-Event` (never `X-Gitea-Event-Type`, which says
e.g. `pull_request_sync` for the event `pull_request`). An empty signature header means the
hook has no secret and is never accepted. Gitea has no ping.

A branch push builds `after`; a tag push builds `head_commit.id` when present (for an annotated
tag `after` may be the tag object). The listed commits are complete only when `total_commits`
says so (Gitea cuts the list). Pull requests build `pull_request.head.sha` when opened, reopened
or synchronized (Gitea's spelling); a pull request is from a fork when the head repository id
is not the base's (`head.repo_id` is -1 when the fork was deleted). `head.ref` is
`refs/pull/<n>/head` when the head branch is gone or for AGit pull requests; it is kept as is.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from knargo.config.settings import Forge
from knargo.contract.events import CommentEvent, EventKind, ForgeKind, GitEvent
from knargo.forges.payload import (
    ApiRequest,
    Headers,
    Ignored,
    Parsed,
    PullHead,
    bodies_of,
    body_digest,
    changed_paths,
    hmac_sha256_hex,
    opt_str,
    paths_of,
    post_json,
    post_status,
    req_dict,
    req_int,
    req_str,
)

__all__ = [
    "CONVERSATIONS",
    "FILES",
    "STATUSES",
    "WEBHOOKS",
    "GiteaConversations",
    "GiteaFiles",
    "GiteaStatuses",
    "GiteaWebhooks",
]

EVENT_HEADERS = ("x-forgejo-event", "x-gitea-event", "x-gogs-event")
SIGNATURE_HEADERS = ("x-forgejo-signature", "x-gitea-signature", "x-gogs-signature")
DELIVERY_HEADERS = ("x-forgejo-delivery", "x-gitea-delivery", "x-gogs-delivery")
# Gitea spells it `synchronized`; `synchronize` (GitHub's) is accepted too.
PR_ACTIONS = frozenset({"opened", "reopened", "synchronized", "synchronize"})


class GiteaWebhooks:
    kind = ForgeKind.GITEA

    def detect(self, headers: Headers) -> bool:
        return any(name in headers for name in EVENT_HEADERS)

    def verify(self, headers: Headers, body: bytes, secret: bytes) -> bool:
        signature = _first(headers, SIGNATURE_HEADERS)
        if not signature or not secret or not signature.isascii():
            return False
        return hmac.compare_digest(signature, hmac_sha256_hex(secret, body))

    def delivery_id(self, headers: Headers, body: bytes) -> str:
        return _first(headers, DELIVERY_HEADERS) or body_digest(body)

    def web_url(self, payload: Mapping[str, Any]) -> str:
        return req_str(payload, "repository", "html_url")

    def parse(
        self, headers: Headers, payload: Mapping[str, Any], forge: Forge, delivery_id: str
    ) -> Parsed:
        event = _first(headers, EVENT_HEADERS)
        if event == "push":
            return _push(payload, forge, delivery_id)
        if event == "pull_request":
            return _pull_request(payload, forge, delivery_id)
        if event == "issue_comment":
            return _comment(payload, forge, delivery_id)
        return Ignored(f'event "{event}" does not run pipelines')


def _first(headers: Headers, names: Iterable[str]) -> str:
    """The first of the headers that is present and not empty, else ``""``."""
    return next((value for name in names if (value := headers.get(name, "").strip())), "")


def _is_zero(sha: str | None) -> bool:
    """An all-zero object name: no commit (40 zeros, or 64 in SHA-256 repositories)."""
    return sha is not None and sha.strip("0") == ""


def _opt_int(data: Mapping[str, Any], *path: str) -> int | None:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _repository(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> dict[str, Any]:
    repo = req_dict(payload, "repository")
    return {
        "forge_kind": ForgeKind.GITEA,
        "forge_name": forge.name,
        "repository": req_str(repo, "full_name"),
        "repository_url": req_str(repo, "html_url"),
        "clone_url": req_str(repo, "clone_url"),
        "default_branch": opt_str(repo, "default_branch") or "main",
        "private": repo.get("private") is True,
        "sender": opt_str(payload, "sender", "login")
        or opt_str(payload, "sender", "username")
        or "",
        "delivery_id": delivery_id,
    }


def _push(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    ref = req_str(payload, "ref")
    if not ref.startswith(("refs/heads/", "refs/tags/")):
        return Ignored(f'push of "{ref}" (neither a branch nor a tag)')
    tag = ref.startswith("refs/tags/")
    after = req_str(payload, "after")
    if _is_zero(after):
        return Ignored(f"{'tag' if tag else 'branch'} deleted")
    before = opt_str(payload, "before")
    commits = payload.get("commits")
    listed = len(commits) if isinstance(commits, list) else 0
    total = _opt_int(payload, "total_commits")
    complete = before is not None and not _is_zero(before) and 0 < listed == total
    return GitEvent(
        **_repository(payload, forge, delivery_id),
        kind=EventKind.TAG if tag else EventKind.PUSH,
        ref=ref,
        sha=(opt_str(payload, "head_commit", "id") if tag else None) or after,
        before=None if _is_zero(before) else before,
        changed_paths=changed_paths(commits),
        changed_paths_complete=complete and not tag,
    )


def _pull_request(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    action = opt_str(payload, "action") or ""
    if action not in PR_ACTIONS:
        return Ignored(f'pull_request action "{action}" does not run pipelines')
    pull = req_dict(payload, "pull_request")
    head_ref = req_str(pull, "head", "ref")
    number = _opt_int(payload, "number")
    head_repo = opt_str(pull, "head", "repo", "full_name")
    head_id = _opt_int(pull, "head", "repo_id")
    if head_id is None:
        head_id = _opt_int(pull, "head", "repo", "id")
    base_id = _opt_int(pull, "base", "repo_id")
    if base_id is None:
        base_id = _opt_int(pull, "base", "repo", "id")
    if head_id is not None and base_id is not None:
        fork = head_id != base_id
    else:
        base_repo = opt_str(pull, "base", "repo", "full_name") or req_str(
            payload, "repository", "full_name"
        )
        fork = head_repo is None or head_repo.lower() != base_repo.lower()
    return GitEvent(
        **_repository(payload, forge, delivery_id),
        kind=EventKind.PULL_REQUEST,
        ref=head_ref if head_ref.startswith("refs/") else "refs/heads/" + head_ref,
        sha=req_str(pull, "head", "sha"),
        pr_number=number if number is not None else req_int(pull, "number"),
        base_ref="refs/heads/" + req_str(pull, "base", "ref"),
        head_repository=head_repo,
        fork=fork,
    )


def _comment(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    action = opt_str(payload, "action") or ""
    if action != "created":
        return Ignored(f'issue_comment action "{action}" runs no command')
    issue = req_dict(payload, "issue")
    if payload.get("is_pull") is not True and not isinstance(issue.get("pull_request"), Mapping):
        return Ignored("a comment on an issue, not on a pull request")
    fields = _repository(payload, forge, delivery_id)
    del fields["sender"]
    comment = req_dict(payload, "comment")
    body = comment.get("body")
    return CommentEvent(
        **fields,
        pr_number=req_int(issue, "number"),
        comment_id=str(req_int(comment, "id")),
        body=body if isinstance(body, str) else "",
        author=opt_str(comment, "user", "login") or req_str(comment, "user", "username"),
        created_at=opt_str(comment, "created_at"),
    )


WEBHOOKS = GiteaWebhooks()


class GiteaFiles:
    """The raw file, compare and pull request files APIs (v1; Forgejo has the same)."""

    page_size = 50

    def _request(
        self,
        forge: Forge,
        token: str | None,
        path: str,
        operation: str,
        params: dict[str, str] | None = None,
    ) -> ApiRequest:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"token {token}"
        return ApiRequest("GET", forge.api_url.rstrip("/") + path, headers, params or {}, operation)

    def file(
        self, forge: Forge, token: str | None, repository: str, path: str, ref: str
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/repos/{repository}/raw/{quote(path)}",
            f"read {path} of {repository} at {ref}",
            {"ref": ref},
        )

    def repository(self, forge: Forge, token: str | None, repository: str) -> ApiRequest:
        return self._request(forge, token, f"/repos/{repository}", f"read {repository}")

    def compare(
        self, forge: Forge, token: str | None, repository: str, base: str, head: str
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/repos/{repository}/compare/{base}...{head}",
            f"compare {base[:12]}...{head[:12]} of {repository}",
        )

    def compare_paths(self, body: Any) -> list[str]:
        """Gitea lists the files of each commit (`commits[].files`), not of the whole range."""
        if not isinstance(body, Mapping):
            return []
        commits = body.get("commits")
        entries = (
            [f for c in commits if isinstance(c, Mapping) for f in (c.get("files") or [])]
            if isinstance(commits, list)
            else []
        )
        return paths_of([*(body.get("files") or []), *entries], "filename", "previous_filename")

    def ahead_by(self, body: Any) -> int | None:
        total = body.get("total_commits") if isinstance(body, Mapping) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    def pull_request_files(
        self, forge: Forge, token: str | None, repository: str, number: int, page: int
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/repos/{repository}/pulls/{number}/files",
            f"list the files of pull request {number} of {repository}",
            {"limit": str(self.page_size), "page": str(page)},
        )

    def page_paths(self, body: Any) -> list[str]:
        return paths_of(body, "filename", "previous_filename")


FILES = GiteaFiles()


class GiteaStatuses:
    """Commit statuses (`repoCreateStatus`; the combined status for reading)."""

    states: Mapping[str, str] = {
        "queued": "pending",
        "running": "pending",
        "success": "success",
        "failure": "failure",
        "error": "error",
        "skipped": "success",
        "cancelled": "error",
    }
    final_states = frozenset({"success", "failure", "error", "warning"})
    description_limit = 255  # stored as TEXT; kept short like the others

    def list_statuses(
        self, forge: Forge, token: str | None, event: GitEvent, sha: str
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/repos/{event.repository}/commits/{sha}/status",
            f"read the statuses of {sha[:12]} in {event.repository}",
            {"limit": "50"},
        )

    def current(self, body: Any) -> list[tuple[str, str, str, str | None]]:
        statuses = body.get("statuses") if isinstance(body, Mapping) else None
        found = []
        for entry in statuses if isinstance(statuses, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("context"), str):
                state = entry.get("status", entry.get("state", ""))
                found.append(
                    (
                        entry["context"],
                        str(state),
                        str(entry.get("description") or ""),
                        entry.get("target_url") or None,
                    )
                )
        return found

    def create_status(
        self,
        forge: Forge,
        token: str | None,
        event: GitEvent,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None,
    ) -> ApiRequest:
        request = FILES._request(
            forge,
            token,
            f"/repos/{event.repository}/statuses/{sha}",
            f'post status "{context}" on {sha[:12]} in {event.repository}',
        )
        return post_status(
            request, {"state": state, "context": context, "description": description}, target_url
        )


STATUSES = GiteaStatuses()


# Gitea's collaborator permission (`RepoCollaboratorPermission.permission`): none, read,
# write, admin or owner (`modules/structs/repo_collaborator.go`, `perm.AccessMode`).
WRITE_PERMISSIONS = frozenset({"write", "admin", "owner"})


class GiteaConversations:
    """Pull requests, collaborator permissions and issue comments (v1; Forgejo the same)."""

    def pull_request(
        self, forge: Forge, token: str | None, repository: str, number: int
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/repos/{repository}/pulls/{number}",
            f"read pull request {number} of {repository}",
        )

    def pull_head(self, body: Any) -> PullHead:
        head_repo = opt_str(body, "head", "repo", "full_name")
        head_id, base_id = _opt_int(body, "head", "repo_id"), _opt_int(body, "base", "repo_id")
        head_ref = req_str(body, "head", "ref")
        return PullHead(
            sha=req_str(body, "head", "sha"),
            ref=head_ref if head_ref.startswith("refs/") else "refs/heads/" + head_ref,
            base_ref="refs/heads/" + req_str(body, "base", "ref"),
            head_repository=head_repo,
            fork=head_id != base_id,
            open=opt_str(body, "state") == "open",
        )

    def permission(
        self, forge: Forge, token: str | None, repository: str, user: str, user_id: int | None
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/repos/{repository}/collaborators/{quote(user, safe='')}/permission",
            f"read the permission of {user} in {repository}",
        )

    def can_write(self, body: Any) -> bool:
        permission = body.get("permission") if isinstance(body, Mapping) else None
        return isinstance(permission, str) and permission in WRITE_PERMISSIONS

    def comment(
        self, forge: Forge, token: str | None, repository: str, number: int, text: str
    ) -> ApiRequest:
        request = FILES._request(
            forge,
            token,
            f"/repos/{repository}/issues/{number}/comments",
            f"comment on pull request {number} of {repository}",
        )
        return post_json(request, {"body": text})

    def comments(
        self, forge: Forge, token: str | None, repository: str, number: int, since: str | None
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/repos/{repository}/issues/{number}/comments",
            f"read the comments of pull request {number} of {repository}",
            {"since": since} if since else {},
        )

    def comment_bodies(self, body: Any) -> list[str]:
        return bodies_of(body)


CONVERSATIONS = GiteaConversations()
