"""What every forge module shares: headers, parse results, and strict readers of JSON payloads.

Forge payloads are read leniently (real deliveries lack fields the published schemas
require) but precisely: a field knargo needs that is missing or of the wrong type raises
`PayloadError` with the field's path, which the webhook answers with 400.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from knargo.config.settings import Forge
from knargo.contract.events import CommentEvent, ForgeKind, GitEvent

__all__ = [
    "MAX_CHANGED_PATHS",
    "ZERO_SHA",
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
    "bodies_of",
    "body_digest",
    "changed_paths",
    "hmac_sha256_hex",
    "opt_str",
    "paths_of",
    "post_json",
    "post_status",
    "req_dict",
    "req_int",
    "req_str",
]

ZERO_SHA = "0" * 40
MAX_CHANGED_PATHS = 1000


class Headers(Mapping[str, str]):
    """Read-only HTTP headers with case-insensitive names."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = {name.lower(): value for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass(frozen=True)
class Ignored:
    """A delivery that is valid but runs nothing (answered 202 with the reason)."""

    reason: str


@dataclass(frozen=True)
class Ping:
    """A forge checking that the webhook answers (answered 200)."""


Parsed = GitEvent | CommentEvent | Ignored | Ping


class PayloadError(ValueError):
    """The payload lacks a field knargo needs, or has it with the wrong type."""


class Webhooks(Protocol):
    """What a forge module provides to receive its webhook deliveries."""

    kind: ForgeKind

    def detect(self, headers: Headers) -> bool:
        """Whether the delivery comes from this kind of forge (by its headers)."""
        ...

    def verify(self, headers: Headers, body: bytes, secret: bytes) -> bool:
        """Whether the signature or token of the delivery matches `secret` (constant time);
        False when there is none."""
        ...

    def delivery_id(self, headers: Headers, body: bytes) -> str:
        """A key that is the same for every redelivery of one delivery."""
        ...

    def web_url(self, payload: Mapping[str, Any]) -> str:
        """The repository's web URL, to match the forge's host; raises PayloadError."""
        ...

    def parse(
        self, headers: Headers, payload: Mapping[str, Any], forge: Forge, delivery_id: str
    ) -> Parsed:
        """The normalised event, `Ignored(reason)` or `Ping()`; raises PayloadError."""
        ...


@dataclass(frozen=True)
class ApiRequest:
    """A forge API request as a value; `knargo.io.network` sends it."""

    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str]
    operation: str
    """What it is for, in words, for errors and logs (never with a token)."""
    json: Any = None
    """The JSON body, if any."""


class FileApi(Protocol):
    """Reading a repository at a commit through a forge's API."""

    page_size: int
    """Entries per page of pull request files (a shorter page is the last)."""

    def file(
        self, forge: Forge, token: str | None, repository: str, path: str, ref: str
    ) -> ApiRequest:
        """The raw content of `path` at `ref` (404 when there is no such file)."""
        ...

    def repository(self, forge: Forge, token: str | None, repository: str) -> ApiRequest:
        """The repository itself (404 when the token cannot see it: the forges do not say 403
        for a private repository)."""
        ...

    def compare(
        self, forge: Forge, token: str | None, repository: str, base: str, head: str
    ) -> ApiRequest:
        """The changes between two commits."""
        ...

    def compare_paths(self, body: Any) -> list[str] | None:
        """Changed paths in a compare response (old and new names of renamed files); None
        when the forge may have listed only some of them."""
        ...

    def ahead_by(self, body: Any) -> int | None:
        """In a compare response, how many commits the head has that the base lacks (0: the
        head is the base or one of its ancestors); None when the answer does not say."""
        ...

    def pull_request_files(
        self, forge: Forge, token: str | None, repository: str, number: int, page: int
    ) -> ApiRequest:
        """One page (`page_size` entries) of the files a pull request changes."""
        ...

    def page_paths(self, body: Any) -> list[str]:
        """Changed paths in one page of pull request files."""
        ...


class StatusApi(Protocol):
    """Commit statuses on a forge: its names for knargo's states, its limits, its requests."""

    states: Mapping[str, str]
    """knargo's state (`knargo.functions.status.State` values) → the forge's state name."""
    final_states: frozenset[str]
    """The forge's names of states that end a run."""
    description_limit: int
    """The longest description the forge takes, in characters."""

    def list_statuses(
        self, forge: Forge, token: str | None, event: GitEvent, sha: str
    ) -> ApiRequest:
        """The latest status of every context of a commit, in one request."""
        ...

    def current(self, body: Any) -> list[tuple[str, str, str, str | None]]:
        """(context, state, description, target_url) from a list_statuses answer, newest first."""
        ...

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
    ) -> ApiRequest: ...


def post_status(request: ApiRequest, body: Mapping[str, Any], target_url: str | None) -> ApiRequest:
    """`request` (built as a GET) as the POST of a status body, with the link if there is one."""
    json_body = {**body, "target_url": target_url} if target_url else dict(body)
    return ApiRequest("POST", request.url, request.headers, {}, request.operation, json_body)


def post_json(request: ApiRequest, body: Mapping[str, Any]) -> ApiRequest:
    """`request` (built as a GET) as the POST of a JSON body."""
    return ApiRequest("POST", request.url, request.headers, {}, request.operation, dict(body))


def hmac_sha256_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def body_digest(body: bytes) -> str:
    """A delivery key for forges that send none: the same body gives the same key."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]


def _walk(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for i, key in enumerate(path):
        if not isinstance(value, Mapping):
            raise PayloadError(f"{'.'.join(path[:i]) or 'payload'} is not an object")
        value = value.get(key)
    return value


def req_str(data: Mapping[str, Any], *path: str) -> str:
    value = _walk(data, path)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{'.'.join(path)} is missing or not a string")
    return value


def opt_str(data: Mapping[str, Any], *path: str) -> str | None:
    try:
        value = _walk(data, path)
    except PayloadError:
        return None
    return value if isinstance(value, str) and value else None


def req_int(data: Mapping[str, Any], *path: str) -> int:
    value = _walk(data, path)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{'.'.join(path)} is missing or not a number")
    return value


def req_dict(data: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    value = _walk(data, path)
    if not isinstance(value, Mapping):
        raise PayloadError(f"{'.'.join(path)} is missing or not an object")
    return value


def changed_paths(commits: Any) -> tuple[str, ...]:
    """Paths added, removed or modified by the commits of a push, at most MAX_CHANGED_PATHS."""
    found: dict[str, None] = {}
    for commit in commits if isinstance(commits, list) else []:
        if not isinstance(commit, Mapping):
            continue
        for key in ("added", "removed", "modified"):
            paths = commit.get(key)
            for path in paths if isinstance(paths, list) else []:
                if isinstance(path, str) and len(found) < MAX_CHANGED_PATHS:
                    found[path] = None
    return tuple(found)


def bodies_of(entries: Any) -> list[str]:
    """The `body` texts of a list of comments (GitHub, Gitea) or notes (GitLab)."""
    found = entries if isinstance(entries, list) else []
    return [e["body"] for e in found if isinstance(e, Mapping) and isinstance(e.get("body"), str)]


def paths_of(entries: Any, *keys: str) -> list[str]:
    """The string values of `keys` in a list of objects (e.g. `filename`, `previous_filename`)."""
    found: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping):
            found += [v for key in keys if isinstance(v := entry.get(key), str) and v]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class PullHead:
    """A pull request as the forge's API shows it now."""

    sha: str
    ref: str
    """The head branch as a full ref (`refs/heads/feature`)."""
    base_ref: str
    head_repository: str | None
    fork: bool
    open: bool


class ConversationApi(Protocol):
    """Pull request comments, permissions and heads: what comment commands need."""

    def pull_request(
        self, forge: Forge, token: str | None, repository: str, number: int
    ) -> ApiRequest:
        """The pull request (merge request) itself."""
        ...

    def pull_head(self, body: Any) -> PullHead:
        """The head of a pull_request answer; raises PayloadError."""
        ...

    def permission(
        self, forge: Forge, token: str | None, repository: str, user: str, user_id: int | None
    ) -> ApiRequest:
        """What `user` may do in the repository (404 when the forge knows no such member)."""
        ...

    def can_write(self, body: Any) -> bool:
        """Whether a permission answer grants write access (GitHub write, maintain or admin;
        GitLab Developer or more; Gitea write, admin or owner)."""
        ...

    def comment(
        self, forge: Forge, token: str | None, repository: str, number: int, text: str
    ) -> ApiRequest:
        """Post `text` as a new comment on the pull request."""
        ...

    def comments(
        self, forge: Forge, token: str | None, repository: str, number: int, since: str | None
    ) -> ApiRequest:
        """The pull request's newest comments (those since `since`, where the forge can
        filter), to find knargo's reply to a comment."""
        ...

    def comment_bodies(self, body: Any) -> list[str]:
        """The texts of a `comments` answer."""
        ...
