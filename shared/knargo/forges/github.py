"""GitHub webhooks: `X-Hub-Signature-256` over the raw body, push, pull_request, issue_comment
and ping.

A push of a branch or tag builds `head_commit.id` (for an annotated tag that is the commit,
not the tag object). Pull requests build the head commit when opened, reopened or
synchronized; a pull request is from a fork when its head repository is not the base
repository (`head.repo` is null when the fork was deleted; `head.repo.fork` says nothing).
A new comment (`issue_comment`, action `created`) counts only on a pull request (the issue has
`pull_request`); its payload has no head commit, which `CONVERSATIONS.pull_head` reads.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
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
    Ping,
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
    "CHECKS",
    "CONVERSATIONS",
    "FILES",
    "STATUSES",
    "WEBHOOKS",
    "CheckOutput",
    "GitHubChecks",
    "GitHubConversations",
    "GitHubFiles",
    "GitHubStatuses",
    "GitHubWebhooks",
]

PR_ACTIONS = frozenset({"opened", "reopened", "synchronize"})
# GitHub lists at most 20 commits in a push; with 20 the list may be cut.
MAX_PUSH_COMMITS = 20
# A compare lists at most 300 files, on its first page only ("Compare two commits",
# https://docs.github.com/rest/commits/commits#compare-two-commits): a full list is cut.
MAX_COMPARE_FILES = 300


class GitHubWebhooks:
    kind = ForgeKind.GITHUB

    def detect(self, headers: Headers) -> bool:
        return "x-github-event" in headers

    def verify(self, headers: Headers, body: bytes, secret: bytes) -> bool:
        signature = headers.get("x-hub-signature-256", "")
        if not signature.startswith("sha256=") or not secret:
            return False
        expected = hmac_sha256_hex(secret, body).encode()
        return hmac.compare_digest(signature[7:].encode("utf-8", "replace"), expected)

    def delivery_id(self, headers: Headers, body: bytes) -> str:
        delivery = headers.get("x-github-delivery")
        if not delivery:
            return body_digest(body)
        hook = headers.get("x-github-hook-id")
        return f"{hook}-{delivery}" if hook else delivery

    def web_url(self, payload: Mapping[str, Any]) -> str:
        return req_str(payload, "repository", "html_url")

    def parse(
        self, headers: Headers, payload: Mapping[str, Any], forge: Forge, delivery_id: str
    ) -> Parsed:
        event = headers.get("x-github-event", "")
        if event == "ping":
            return Ping()
        if event == "push":
            return _push(payload, forge, delivery_id)
        if event == "pull_request":
            return _pull_request(payload, forge, delivery_id)
        if event == "issue_comment":
            return _comment(payload, forge, delivery_id)
        if event in ("check_run", "check_suite"):
            return _rerequested(event, payload, forge, delivery_id)
        return Ignored(f'event "{event}" does not run pipelines')


def _comment(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    action = opt_str(payload, "action") or ""
    if action != "created":
        return Ignored(f'issue_comment action "{action}" runs no command')
    if not isinstance(req_dict(payload, "issue").get("pull_request"), Mapping):
        return Ignored("a comment on an issue, not on a pull request")
    fields = _repository(payload, forge, delivery_id)
    del fields["sender"]
    comment = req_dict(payload, "comment")
    return CommentEvent(
        **fields,
        pr_number=req_int(payload, "issue", "number"),
        comment_id=str(req_int(comment, "id")),
        body=comment.get("body") if isinstance(comment.get("body"), str) else "",
        author=req_str(comment, "user", "login"),
        created_at=opt_str(comment, "created_at"),
    )


def _rerequested(event: str, payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    """The "Re-run" of a check run or of all of a commit's check runs, as the `/retest <job>`
    or `/retest` comment its requester could have written on the pull request: the same
    authorization, acknowledgement and new run. The check run's name is `<prefix>/<job>` or
    the pipeline's `<prefix>`. GitHub lists in `pull_requests` only pull requests of the
    repository itself: a fork's pull request or a push has none, and is not re-run here."""
    action = opt_str(payload, "action") or ""
    if action != "rerequested":
        return Ignored(f'{event} action "{action}" runs nothing')
    checks = req_dict(payload, event)
    app = checks.get("app", {}).get("id") if isinstance(checks.get("app"), Mapping) else None
    if forge.app_id is not None and app is not None and app != forge.app_id:
        return Ignored(f"a {event} of another App")
    pulls = checks.get("pull_requests")
    first = pulls[0] if isinstance(pulls, list) and pulls else None
    if not isinstance(first, Mapping):
        return Ignored(f"a re-run of a {event} outside a pull request of the repository")
    name = opt_str(checks, "name") if event == "check_run" else None
    job = name.rsplit("/", 1)[1] if name and "/" in name else None
    fields = _repository(payload, forge, delivery_id)
    author = fields.pop("sender")
    if not author:
        raise PayloadError("sender.login is missing or not a string")
    return CommentEvent(
        **fields,
        pr_number=req_int(first, "number"),
        comment_id=f"{event}-{req_int(checks, 'id')}-{delivery_id}",
        body=f"/retest {job}" if job else "/retest",
        author=author,
        head_sha=opt_str(checks, "head_sha"),
    )


def _repository(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> dict[str, Any]:
    repo = req_dict(payload, "repository")
    return {
        "forge_kind": ForgeKind.GITHUB,
        "forge_name": forge.name,
        "repository": req_str(repo, "full_name"),
        "repository_url": req_str(repo, "html_url"),
        "clone_url": req_str(repo, "clone_url"),
        "default_branch": opt_str(repo, "default_branch")
        or opt_str(repo, "master_branch")
        or "main",
        "private": repo.get("private") is True,
        "sender": opt_str(payload, "sender", "login") or "",
        "delivery_id": delivery_id,
        "installation_id": _installation(payload),
    }


def _installation(payload: Mapping[str, Any]) -> int | None:
    """A GitHub App's delivery names its installation (`installation.id`)."""
    installation = payload.get("installation")
    ident = installation.get("id") if isinstance(installation, Mapping) else None
    return ident if isinstance(ident, int) and not isinstance(ident, bool) else None


def _push(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    ref = req_str(payload, "ref")
    if not ref.startswith(("refs/heads/", "refs/tags/")):
        return Ignored(f'push of "{ref}" (neither a branch nor a tag)')
    tag = ref.startswith("refs/tags/")
    if payload.get("deleted") is True or req_str(payload, "after") == ZERO_SHA:
        return Ignored(f"{'tag' if tag else 'branch'} deleted")
    before = opt_str(payload, "before")
    commits = payload.get("commits")
    listed = len(commits) if isinstance(commits, list) else 0
    complete = before not in (None, ZERO_SHA) and 0 < listed < MAX_PUSH_COMMITS
    return GitEvent(
        **_repository(payload, forge, delivery_id),
        kind=EventKind.TAG if tag else EventKind.PUSH,
        ref=ref,
        sha=opt_str(payload, "head_commit", "id") or req_str(payload, "after"),
        before=None if before == ZERO_SHA else before,
        changed_paths=changed_paths(commits),
        changed_paths_complete=complete and not tag,
    )


def _pull_request(payload: Mapping[str, Any], forge: Forge, delivery_id: str) -> Parsed:
    action = opt_str(payload, "action") or ""
    if action not in PR_ACTIONS:
        return Ignored(f'pull_request action "{action}" does not run pipelines')
    pull = req_dict(payload, "pull_request")
    base_repo = req_str(pull, "base", "repo", "full_name")
    head_repo = opt_str(pull, "head", "repo", "full_name")
    return GitEvent(
        **_repository(payload, forge, delivery_id),
        kind=EventKind.PULL_REQUEST,
        ref="refs/heads/" + req_str(pull, "head", "ref"),
        sha=req_str(pull, "head", "sha"),
        before=opt_str(payload, "before"),
        pr_number=req_int(pull, "number"),
        base_ref="refs/heads/" + req_str(pull, "base", "ref"),
        head_repository=head_repo,
        fork=head_repo is None or head_repo.lower() != base_repo.lower(),
    )


WEBHOOKS = GitHubWebhooks()


class GitHubFiles:
    """The contents, compare and pull request files APIs (REST, version 2022-11-28)."""

    page_size = 100

    def _request(
        self,
        forge: Forge,
        token: str | None,
        path: str,
        operation: str,
        params: dict[str, str] | None = None,
        accept: str = "application/vnd.github+json",
    ) -> ApiRequest:
        headers = {"Accept": accept, "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return ApiRequest("GET", forge.api_url.rstrip("/") + path, headers, params or {}, operation)

    def file(
        self, forge: Forge, token: str | None, repository: str, path: str, ref: str
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/repos/{repository}/contents/{quote(path)}",
            f"read {path} of {repository} at {ref}",
            {"ref": ref},
            accept="application/vnd.github.raw+json",
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

    def compare_paths(self, body: Any) -> list[str] | None:
        """None when GitHub listed as many files as it ever lists: more may have changed."""
        files = body.get("files") if isinstance(body, Mapping) else None
        if isinstance(files, list) and len(files) >= MAX_COMPARE_FILES:
            return None
        return paths_of(files, "filename", "previous_filename")

    def ahead_by(self, body: Any) -> int | None:
        ahead = body.get("ahead_by") if isinstance(body, Mapping) else None
        return ahead if isinstance(ahead, int) and not isinstance(ahead, bool) else None

    def pull_request_files(
        self, forge: Forge, token: str | None, repository: str, number: int, page: int
    ) -> ApiRequest:
        return self._request(
            forge,
            token,
            f"/repos/{repository}/pulls/{number}/files",
            f"list the files of pull request {number} of {repository}",
            {"per_page": str(self.page_size), "page": str(page)},
        )

    def page_paths(self, body: Any) -> list[str]:
        return paths_of(body, "filename", "previous_filename")


FILES = GitHubFiles()


class GitHubStatuses:
    """Commit statuses (`repos/create-commit-status`, the combined status for reading)."""

    states: Mapping[str, str] = {
        "queued": "pending",
        "running": "pending",
        "success": "success",
        "failure": "failure",
        "error": "error",
        "skipped": "success",
        "cancelled": "error",
    }
    final_states = frozenset({"success", "failure", "error"})
    description_limit = 140  # longer ones get 422 "description is too long"

    def list_statuses(
        self, forge: Forge, token: str | None, event: GitEvent, sha: str
    ) -> ApiRequest:
        return FILES._request(
            forge,
            token,
            f"/repos/{event.repository}/commits/{sha}/status",
            f"read the statuses of {sha[:12]} in {event.repository}",
            {"per_page": "100"},
        )

    def current(self, body: Any) -> list[tuple[str, str, str, str | None]]:
        statuses = body.get("statuses") if isinstance(body, Mapping) else None
        return _statuses(statuses, "state")

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


def _statuses(entries: Any, state_key: str) -> list[tuple[str, str, str, str | None]]:
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("context"), str):
            found.append(
                (
                    entry["context"],
                    str(entry.get(state_key, "")),
                    str(entry.get("description") or ""),
                    entry.get("target_url") or None,
                )
            )
    return found


STATUSES = GitHubStatuses()


# Write access: the collaborator's `role_name` (admin, maintain, write, triage, read or a
# custom role) or, in older answers, `permission` (admin, write, read, none).
# https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user
WRITE_ROLES = frozenset({"admin", "maintain", "write"})


class GitHubConversations:
    """Pull requests, collaborator permissions and issue comments (REST, 2022-11-28)."""

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
        base_repo = req_str(body, "base", "repo", "full_name")
        head_repo = opt_str(body, "head", "repo", "full_name")
        return PullHead(
            sha=req_str(body, "head", "sha"),
            ref="refs/heads/" + req_str(body, "head", "ref"),
            base_ref="refs/heads/" + req_str(body, "base", "ref"),
            head_repository=head_repo,
            fork=head_repo is None or head_repo.lower() != base_repo.lower(),
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
        if not isinstance(body, Mapping):
            return False
        role = body.get("role_name") or body.get("permission")
        return isinstance(role, str) and role in WRITE_ROLES

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
            {"per_page": "100", **({"since": since} if since else {})},
        )

    def comment_bodies(self, body: Any) -> list[str]:
        return bodies_of(body)


CONVERSATIONS = GitHubConversations()


# Check runs (`checks/create`, `checks/update`, `checks/list-for-ref`), for a GitHub App:
# https://docs.github.com/rest/checks/runs. A check run is queued, in_progress or completed
# with a conclusion; knargo's states map onto those, and a failure that hit a deadline is
# completed as timed_out.
CHECK_FINAL = frozenset(
    {"success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required"}
)
CHECK_STATES: Mapping[str, str] = {
    "queued": "queued",
    "running": "in_progress",
    "success": "success",
    "failure": "failure",
    "error": "failure",
    "skipped": "skipped",
    "cancelled": "cancelled",
}
MAX_ANNOTATIONS = 50
"""Annotations per create or update request ("The Checks API limits the number of annotations
to a maximum of 50 per API request", the `output.annotations` description of both operations
in GitHub's API description); more are appended by further updates."""
OUTPUT_MAX = 65535
"""Characters of `output.summary` and `output.text` (the operations' `maxLength`)."""


@dataclass(frozen=True)
class CheckOutput:
    """What a check run shows beyond its title: Markdown text and annotations, each
    annotation as GitHub's object (path, start_line, end_line, annotation_level, message,
    start_column and end_column on one line)."""

    text: str = ""
    annotations: tuple[Mapping[str, Any], ...] = ()


class GitHubChecks:
    """Check runs in place of commit statuses: a context is a check run's name, its
    description the output's title and summary."""

    states = CHECK_STATES
    final_states = CHECK_FINAL
    description_limit = 1000  # [knargo] a title GitHub shows in one line; no documented limit

    def list_statuses(
        self, forge: Forge, token: str | None, event: GitEvent, sha: str
    ) -> ApiRequest:
        params = {"per_page": "100", "filter": "latest"}
        if forge.app_id is not None:
            params["app_id"] = str(forge.app_id)
        return FILES._request(
            forge,
            token,
            f"/repos/{event.repository}/commits/{sha}/check-runs",
            f"read the check runs of {sha[:12]} in {event.repository}",
            params,
        )

    def current(self, body: Any) -> list[tuple[str, str, str, str | None]]:
        found = []
        for run in self._runs(body):
            state = run.get("conclusion") if run.get("status") == "completed" else run["status"]
            shown = run.get("output")
            output: Mapping[str, Any] = shown if isinstance(shown, Mapping) else {}
            found.append(
                (
                    run["name"],
                    "failure" if state == "timed_out" else str(state or ""),
                    str(output.get("title") or ""),
                    run.get("details_url") or None,
                )
            )
        return found

    def ids(self, body: Any) -> dict[str, int]:
        """Check run name (lower case) → id, the newest run of each name."""
        found: dict[str, int] = {}
        for run in reversed(self._runs(body)):
            if isinstance(run.get("id"), int):
                found[run["name"].lower()] = run["id"]
        return found

    def _runs(self, body: Any) -> list[Mapping[str, Any]]:
        runs = body.get("check_runs") if isinstance(body, Mapping) else None
        return [
            run
            for run in (runs if isinstance(runs, list) else [])
            if isinstance(run, Mapping) and isinstance(run.get("name"), str) and run.get("status")
        ]

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
        output: CheckOutput | None = None,
    ) -> ApiRequest:
        request = FILES._request(
            forge,
            token,
            f"/repos/{event.repository}/check-runs",
            f'create check run "{context}" on {sha[:12]} in {event.repository}',
        )
        body = {"name": context, "head_sha": sha, **_check_body(state, description, output)}
        return post_json(request, {**body, **({"details_url": target_url} if target_url else {})})

    def update_check(
        self,
        forge: Forge,
        token: str | None,
        event: GitEvent,
        check_id: int,
        state: str,
        context: str,
        description: str,
        target_url: str | None,
        output: CheckOutput | None = None,
    ) -> ApiRequest:
        request = FILES._request(
            forge,
            token,
            f"/repos/{event.repository}/check-runs/{check_id}",
            f'update check run "{context}" in {event.repository}',
        )
        body = _check_body(state, description, output)
        body |= {"details_url": target_url} if target_url else {}
        return ApiRequest("PATCH", request.url, request.headers, {}, request.operation, body)

    def check_id(self, body: Any) -> int | None:
        ident = body.get("id") if isinstance(body, Mapping) else None
        return ident if isinstance(ident, int) and not isinstance(ident, bool) else None


def _check_body(state: str, description: str, output: CheckOutput | None) -> dict[str, Any]:
    status: dict[str, Any]
    if state in CHECK_FINAL:
        timed_out = state == "failure" and "deadline" in description.lower()
        status = {"status": "completed", "conclusion": "timed_out" if timed_out else state}
    else:
        status = {"status": state}
    shown: dict[str, Any] = {"title": description or state, "summary": description or state}
    if output is not None and output.text:
        shown["text"] = output.text[:OUTPUT_MAX]
    if output is not None and output.annotations:
        shown["annotations"] = [dict(a) for a in output.annotations[:MAX_ANNOTATIONS]]
    return status | {"output": shown}


CHECKS = GitHubChecks()
