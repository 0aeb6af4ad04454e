"""GitLab webhooks: the plain `X-Gitlab-Token` secret, push, tag push and merge request hooks.

A push or tag push builds `checkout_sha` (the commit, also for annotated tags); a deletion has
`after` all zeros and `checkout_sha` null. GitLab lists the newest 20 commits of a push and
counts all of them in `total_commits_count`. Merge requests build
`object_attributes.last_commit.id` when opened or reopened, and on `update` only when
`object_attributes.oldrev` is present (new commits; otherwise it is a metadata edit). The
repository is always the target project, `project`; a merge request is from a fork when its
source project is not its target project. GitLab sends no ping.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from knargo.config.settings import Forge
from knargo.contract.events import CommentEvent, EventKind, ForgeKind, GitEvent
from knargo.forges.payload import (
    ZERO_SHA,
    ApiRequest,
    Headers,
    Ignored,
    Parsed,
    PayloadError,
    PullHead,
    bodies_of,
    body_digest,
    changed_paths,
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
    "GitLabConversations",
    "GitLabFiles",
    "GitLabStatuses",
    "GitLabWebhooks",
    "status_ref",
]

MR_ACTIONS = frozenset({"open", "reopen"})
# `X-Gitlab-Event` values, for payloads without `object_kind`.
HOOK_KINDS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Note Hook": "note",
}
PUBLIC = 20
"""`visibility_level` of a public project (0 is private, 10 internal)."""


class GitLabWebhooks:
    kind = ForgeKind.GITLAB

    def detect(self, headers: Headers) -> bool:
        return "x-gitlab-event" in headers

    def verify(self, headers: Headers, body: bytes, secret: bytes) -> bool:
        token = headers.get("x-gitlab-token", "")
        if not token or not secret:
            return False
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), secret)

    def delivery_id(self, headers: Headers, body: bytes) -> str:
        return (
            headers.get("idempotency-key")
            or headers.get("x-gitlab-event-uuid")
            or body_digest(body)
        )

    def web_url(self, payload: Mapping[str, Any]) -> str:
        _require_object(payload)
        if payload.get("project") is None:  # old payloads have only `repository`
            return req_str(payload, "repository", "homepage")
        return req_str(payload, "project", "web_url")

    def parse(
        self, headers: Headers, payload: Mapping[str, Any], forge: Forge, delivery_id: str
    ) -> Parsed:
        _require_object(payload)
        header = headers.get("x-gitlab-event", "")
        kind = opt_str(payload, "object_kind") or HOOK_KINDS.get(header, "")
        if kind == "push":
            return _push(payload, forge, delivery_id, tag=False)
        if kind == "tag_push":
            return _push(payload, forge, delivery_id, tag=True)
        if kind == "merge_request":
            return _merge_request(payload, forge, delivery_id)
        if kind == "note":
            return _note(payload, forge, delivery_id)
        return Ignored(f'event "{kind or header}" does not run pipelines')


def _require_object(payload: object) -> None:
    if not isinstance(payload, Mapping):
        raise PayloadError("payload is not an object")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _repository(
    payload: Mapping[str, Any], forge: Forge, delivery_id: str, sender: str
) -> dict[str, Any]:
    project = req_dict(payload, "project")
    visibility = project.get("visibility_level")
    if visibility is not None and not _is_int(visibility):
        raise PayloadError("project.visibility_level is not a number")
    return {
        "forge_kind": ForgeKind.GITLAB,
        "forge_name": forge.name,
        "repository": req_str(project, "path_with_namespace"),
        "repository_url": req_str(project, "web_url"),
        "clone_url": opt_str(project, "git_http_url")
        or req_str(payload, "repository", "git_http_url"),
        "default_branch": opt_str(project, "default_branch") or "main",
        "private": visibility is not None and visibility != PUBLIC,
        "sender": sender,
        "delivery_id": delivery_id,
    }


def _push(payload: Mapping[str, Any], forge: Forge, delivery_id: str, *, tag: bool) -> Parsed:
    ref = req_str(payload, "ref")
    prefix = "refs/tags/" if tag else "refs/heads/"
    if not ref.startswith(prefix):
        return Ignored(f'{"tag push" if tag else "push"} of "{ref}" (not under {prefix})')
    after = req_str(payload, "after")
    if after == ZERO_SHA or ("checkout_sha" in payload and payload["checkout_sha"] is None):
        return Ignored(f"{'tag' if tag else 'branch'} deleted")
    before = opt_str(payload, "before")
    commits = payload.get("commits")
    listed = len(commits) if isinstance(commits, list) else 0
    total = payload.get("total_commits_count")
    complete = before not in (None, ZERO_SHA) and _is_int(total) and total == listed > 0
    sender = opt_str(payload, "user_username") or opt_str(payload, "user_name") or ""
    return GitEvent(
        **_repository(payload, forge, delivery_id, sender),
        kind=EventKind.TAG if tag else EventKind.PUSH,
        ref=ref,
        sha=opt_str(payload, "checkout_sha") or after,
        before=None if before == ZERO_SHA else before,
        changed_paths=changed_paths(commits),
        changed_paths_complete=complete and not tag,
    )


def _merge_request(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    attributes = req_dict(payload, "object_attributes")
    action = opt_str(attributes, "action") or ""
    oldrev = opt_str(attributes, "oldrev")
    if action == "update" and oldrev is None:
        return Ignored("merge request update without new commits")
    if action not in MR_ACTIONS and action != "update":
        return Ignored(f'merge request action "{action}" does not run pipelines')
    sender = opt_str(payload, "user", "username") or opt_str(payload, "user", "name") or ""
    source_id = req_int(attributes, "source_project_id")
    return GitEvent(
        **_repository(payload, forge, delivery_id, sender),
        kind=EventKind.PULL_REQUEST,
        ref="refs/heads/" + req_str(attributes, "source_branch"),
        sha=req_str(attributes, "last_commit", "id"),
        before=oldrev,
        pr_number=req_int(attributes, "iid"),
        base_ref="refs/heads/" + req_str(attributes, "target_branch"),
        head_repository=opt_str(attributes, "source", "path_with_namespace"),
        fork=source_id != req_int(attributes, "target_project_id"),
    )


def _note(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    attributes = req_dict(payload, "object_attributes")
    if opt_str(attributes, "noteable_type") != "MergeRequest":
        return Ignored("a note on something other than a merge request")
    if attributes.get("system") is True:
        return Ignored("a system note")
    if opt_str(attributes, "action") not in (None, "create"):  # GitLab 16.x+: create/update
        return Ignored(f'note action "{attributes.get("action")}" runs no command')
    fields = _repository(payload, forge, delivery_id, "")
    del fields["sender"]
    author_id = attributes.get("author_id")
    note = attributes.get("note")
    return CommentEvent(
        **fields,
        pr_number=req_int(payload, "merge_request", "iid"),
        comment_id=str(req_int(attributes, "id")),
        body=note if isinstance(note, str) else "",
        author=req_str(payload, "user", "username"),
        author_id=author_id if _is_int(author_id) else None,
        head_sha=opt_str(payload, "merge_request", "last_commit", "id"),
        created_at=opt_str(attributes, "created_at"),
    )


WEBHOOKS = GitLabWebhooks()


class GitLabFiles:
    """The repository files, compare and merge request diffs APIs (v4)."""

    page_size = 100

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
            headers["PRIVATE-TOKEN"] = token
        return ApiRequest("GET", forge.api_url.rstrip("/") + path, headers, params or {}, operation)

    def file(
        self, forge: Forge, token: str | None, repository: str, path: str, ref: str
    ) -> ApiRequest:
        # Both the project path and the file path are URL-encoded, slashes included.
        return self._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/repository/files/{quote(path, safe='')}/raw",
            f"read {path} of {repository} at {ref}",
            {"ref": ref},
        )

    def repository(self, forge: Forge, token: str | None, repository: str) -> ApiRequest:
        return self._request(
            forge, token, f"/projects/{quote(repository, safe='')}", f"read {repository}"
        )

    def compare(
        self, forge: Forge, token: str | None, repository: str, base: str, head: str
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/repository/compare",
            f"compare {base[:12]}...{head[:12]} of {repository}",
            {"from": base, "to": head},
        )

    def compare_paths(self, body: Any) -> list[str]:
        diffs = body.get("diffs") if isinstance(body, Mapping) else None
        return paths_of(diffs, "new_path", "old_path")

    def ahead_by(self, body: Any) -> int | None:
        """The compare is from the merge base (`straight=false`): its commits are the head's."""
        commits = body.get("commits") if isinstance(body, Mapping) else None
        return len(commits) if isinstance(commits, list) else None

    def pull_request_files(
        self, forge: Forge, token: str | None, repository: str, number: int, page: int
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/merge_requests/{number}/diffs",
            f"list the files of merge request {number} of {repository}",
            {"per_page": str(self.page_size), "page": str(page)},
        )

    def page_paths(self, body: Any) -> list[str]:
        return paths_of(body, "new_path", "old_path")


FILES = GitLabFiles()


class GitLabStatuses:
    """Commit statuses (`POST /projects/:id/statuses/:sha`); `name` is the context."""

    states: Mapping[str, str] = {
        "queued": "pending",
        "running": "running",
        "success": "success",
        "failure": "failed",
        "error": "failed",
        "skipped": "skipped",
        "cancelled": "canceled",
    }
    final_states = frozenset({"success", "failed", "canceled", "skipped"})
    description_limit = 255

    def list_statuses(
        self, forge: Forge, token: str | None, event: GitEvent, sha: str
    ) -> ApiRequest:
        # Without `all=true` GitLab lists the latest status of each name.
        return FILES._request(
            forge,
            token,
            f"/projects/{quote(event.repository, safe='')}/repository/commits/{sha}/statuses",
            f"read the statuses of {sha[:12]} in {event.repository}",
            {"ref": status_ref(event), "per_page": "100"},
        )

    def current(self, body: Any) -> list[tuple[str, str, str, str | None]]:
        found = []
        for entry in body if isinstance(body, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                found.append(
                    (
                        entry["name"],
                        str(entry.get("status", "")),
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
            f"/projects/{quote(event.repository, safe='')}/statuses/{sha}",
            f'post status "{context}" on {sha[:12]} in {event.repository}',
        )
        body = {"state": state, "ref": status_ref(event), "name": context}
        return post_status(request, body | {"description": description}, target_url)


def status_ref(event: GitEvent) -> str:
    """The ref a status belongs to: GitLab keeps one pipeline per commit and ref, and without
    a ref guesses the first branch holding the commit, or answers 404 "References for commit"
    (https://docs.gitlab.com/api/commits/#set-commit-pipeline-status). A branch or tag by its
    name; a merge request from a fork by the ref GitLab keeps its commits under in the target
    project (the fork's branch is not there)."""
    if event.kind is EventKind.PULL_REQUEST and event.fork and event.pr_number is not None:
        return f"refs/merge-requests/{event.pr_number}/head"
    return event.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")


STATUSES = GitLabStatuses()


# Developer (30) and above may run commands (GitLab `doc/user/permissions.md`: 10 Guest,
# 15 Planner, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner).
DEVELOPER = 30


class GitLabConversations:
    """Merge requests, project members (inherited included) and merge request notes (v4)."""

    def pull_request(
        self, forge: Forge, token: str | None, repository: str, number: int
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/merge_requests/{number}",
            f"read merge request !{number} of {repository}",
        )

    def pull_head(self, body: Any) -> PullHead:
        source, target = req_int(body, "source_project_id"), req_int(body, "target_project_id")
        return PullHead(
            sha=req_str(body, "sha"),
            ref="refs/heads/" + req_str(body, "source_branch"),
            base_ref="refs/heads/" + req_str(body, "target_branch"),
            head_repository=None,
            fork=source != target,
            open=opt_str(body, "state") == "opened",
        )

    def permission(
        self, forge: Forge, token: str | None, repository: str, user: str, user_id: int | None
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/members/all/{user_id or 0}",
            f"read the access level of {user} in {repository}",
        )

    def can_write(self, body: Any) -> bool:
        level = body.get("access_level") if isinstance(body, Mapping) else None
        return isinstance(level, int) and not isinstance(level, bool) and level >= DEVELOPER

    def comment(
        self, forge: Forge, token: str | None, repository: str, number: int, text: str
    ) -> ApiRequest:
        request = FILES._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/merge_requests/{number}/notes",
            f"comment on merge request !{number} of {repository}",
        )
        return post_json(request, {"body": text})

    def comments(
        self, forge: Forge, token: str | None, repository: str, number: int, since: str | None
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/projects/{quote(repository, safe='')}/merge_requests/{number}/notes",
            f"read the comments of pull request {number} of {repository}",
            {"sort": "desc", "order_by": "created_at", "per_page": "100"},
        )

    def comment_bodies(self, body: Any) -> list[str]:
        return bodies_of(body)


CONVERSATIONS = GitLabConversations()
