"""GitHub-format webhook deliveries for commits of a local repository.

`knargo run` and `make demo` describe a local commit the way GitHub would (a push or a
pull request payload, signed with `X-Hub-Signature-256`) so that the delivery goes through
the real `knargo.functions.webhook.receive`, parser and signature check included.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knargo.local.git import GitError, git

__all__ = [
    "Commit",
    "Repository",
    "delivery",
    "describe",
    "head",
    "pull_request",
    "push",
    "tag_push",
    "tagged",
]

ZERO_SHA = "0" * 40
MAX_COMMITS = 20  # GitHub lists at most 20 commits in a push


@dataclass(frozen=True)
class Repository:
    """A local repository as a forge would name it."""

    path: Path
    full_name: str
    web_url: str
    default_branch: str

    @property
    def clone_url(self) -> str:
        return self.path.as_uri()


@dataclass(frozen=True)
class Commit:
    """HEAD of the repository: the commit, its branch ref (None when detached)."""

    sha: str
    ref: str | None


def describe(path: Path, web_base: str, owner: str = "local") -> Repository:
    """The repository containing `path`; raises GitError when there is none."""
    top = Path(git(path, "rev-parse", "--show-toplevel")).resolve()
    full_name = f"{owner}/{top.name}"
    return Repository(top, full_name, f"{web_base.rstrip('/')}/{full_name}", _default(top))


def head(repository: Repository) -> Commit:
    try:
        sha = git(repository.path, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    except GitError:
        raise GitError(
            f"{repository.path} has no commit yet: commit ci.yaml first (knargo runs commits)"
        ) from None
    try:
        ref: str | None = git(repository.path, "symbolic-ref", "-q", "HEAD")
    except GitError:
        ref = None
    return Commit(sha, ref)


def tagged(repository: Repository, name: str | None) -> Commit:
    """The commit of the tag `name`, or of the one tag at HEAD; GitError saying what there is
    otherwise."""
    if name is None:
        tags = git(repository.path, "tag", "--points-at", "HEAD").split()
        if len(tags) != 1:
            found = ", ".join(tags) if tags else "none"
            raise GitError(f"name the tag to run with --tag (tags at HEAD: {found})")
        name = tags[0]
    try:
        sha = git(repository.path, "rev-parse", "--verify", "-q", f"refs/tags/{name}^{{commit}}")
    except GitError:
        raise GitError(f'no tag "{name}" in {repository.path}') from None
    return Commit(sha, f"refs/tags/{name}")


def _default(path: Path) -> str:
    """origin's HEAD, else main or master if it exists, else the current branch, else main."""
    try:
        return git(path, "symbolic-ref", "--short", "refs/remotes/origin/HEAD").split("/", 1)[1]
    except (GitError, IndexError):
        pass
    for branch in ("main", "master"):
        try:
            git(path, "rev-parse", "--verify", "-q", f"refs/heads/{branch}")
            return branch
        except GitError:
            continue
    try:
        return git(path, "symbolic-ref", "--short", "-q", "HEAD")
    except GitError:
        return "main"


def _before(path: Path, sha: str) -> str | None:
    """What a push of HEAD would replace: the upstream if HEAD is ahead of it, else the
    parent commit, else nothing (a new branch)."""
    for candidate in ("@{upstream}", f"{sha}^"):
        try:
            before = git(path, "rev-parse", "--verify", "-q", candidate + "^{commit}")
        except GitError:
            continue
        if before != sha:
            return before
    return None


def _commits(path: Path, before: str | None, sha: str) -> list[dict[str, Any]]:
    span = f"{before}..{sha}" if before else sha
    listed = git(path, "rev-list", "--reverse", f"--max-count={MAX_COMMITS}", span)
    return [_commit(path, commit) for commit in listed.split()]


def _commit(path: Path, sha: str) -> dict[str, Any]:
    fields = git(path, "show", "-s", "--format=%T%x00%an%x00%ae%x00%aI%x00%B", sha)
    tree, name, email, when, message = fields.split("\x00", 4)
    changes: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
    status = git(
        path,
        "diff-tree",
        "--no-commit-id",
        "-r",
        "--root",
        "--no-renames",
        "-z",
        "--name-status",
        sha,
    )
    parts = status.split("\x00")
    for kind, file in zip(parts[0::2], parts[1::2], strict=False):
        key = {"A": "added", "D": "removed"}.get(kind, "modified")
        changes[key].append(file)
    person = {"name": name, "email": email, "username": name}
    return {
        "id": sha,
        "tree_id": tree,
        "distinct": True,
        "message": message.strip(),
        "timestamp": when,
        "author": person,
        "committer": person,
        **changes,
    }


def _repository(repository: Repository) -> dict[str, Any]:
    owner, name = repository.full_name.split("/", 1)
    return {
        "name": name,
        "full_name": repository.full_name,
        "owner": {"login": owner, "name": owner},
        "private": False,
        "html_url": repository.web_url,
        "clone_url": repository.clone_url,
        "default_branch": repository.default_branch,
    }


def push(repository: Repository, commit: Commit, sender: str = "knargo") -> dict[str, Any]:
    """A `push` payload for HEAD on its branch (the default branch when HEAD is detached)."""
    before = _before(repository.path, commit.sha)
    commits = _commits(repository.path, before, commit.sha)
    return {
        "ref": commit.ref or f"refs/heads/{repository.default_branch}",
        "before": before or ZERO_SHA,
        "after": commit.sha,
        "created": before is None,
        "deleted": False,
        "forced": False,
        "commits": commits,
        "head_commit": commits[-1] if commits else _commit(repository.path, commit.sha),
        "repository": _repository(repository),
        "pusher": {"name": sender},
        "sender": {"login": sender},
    }


def tag_push(repository: Repository, commit: Commit, sender: str = "knargo") -> dict[str, Any]:
    """A `push` payload of a new tag (`commit.ref` is `refs/tags/...`), as GitHub sends it:
    nothing before it, no commits listed, the tagged commit as head_commit."""
    return {
        "ref": commit.ref,
        "before": ZERO_SHA,
        "after": commit.sha,
        "created": True,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "commits": [],
        "head_commit": _commit(repository.path, commit.sha),
        "repository": _repository(repository),
        "pusher": {"name": sender},
        "sender": {"login": sender},
    }


def pull_request(
    repository: Repository, commit: Commit, number: int = 1, sender: str = "knargo"
) -> dict[str, Any]:
    """A `pull_request` (synchronize) payload: HEAD's branch into the default branch."""
    repo = _repository(repository)
    head_ref = (commit.ref or "refs/heads/HEAD").removeprefix("refs/heads/")
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "head": {"ref": head_ref, "sha": commit.sha, "repo": repo},
            "base": {"ref": repository.default_branch, "repo": repo},
        },
        "repository": repo,
        "sender": {"login": sender},
    }


def delivery(
    event: str, payload: dict[str, Any], secret: bytes, delivery_id: str
) -> tuple[dict[str, str], bytes]:
    """The headers and body GitHub sends for `payload`, signed with `secret`."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/knargo-local",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    return headers, body
