"""The local forge: a git repository on this machine, and statuses kept in a file.

`GitFiles` is generate's `Files` port over a local repository: ci.yaml is read at the exact
commit with git (an override lets `knargo run CI_YAML` try a file before committing it), and
changed paths come from `git diff`. `StatusLog` is report's `Statuses` port: posts are
appended to `.knargo/statuses.jsonl` (and handed to the live view), `current` reads back the
latest status of each context of a commit from that file, in the forge's own state names
(`knargo.forges.STATUSES`). `Mirrored` also posts to the real forge when a token for it is
configured (`knargo dev`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from knargo.config.settings import Forge, Settings
from knargo.contract.errors import PermanentError, TooLarge
from knargo.contract.events import ForgeKind, GitEvent
from knargo.forges import STATUSES, StatusApi
from knargo.functions.report import Statuses
from knargo.functions.status import Current, Update
from knargo.local.git import GitError, git, git_bytes

__all__ = ["LOCAL_FORGE", "GitFiles", "Mirrored", "Posted", "StatusLog", "with_local_forge"]

LOCAL_FORGE = Forge(
    name="local",
    kind=ForgeKind.GITHUB,
    api_url="http://localhost/api/v3",
    web_url="http://localhost",
)
"""The forge of local repositories: GitHub's formats, repositories at http://localhost/."""


def with_local_forge(settings: Settings) -> Settings:
    """`settings` with the local forge among its forges."""
    forges = [f for f in settings.forges if f.name != LOCAL_FORGE.name]
    return settings.model_copy(update={"forges": [*forges, LOCAL_FORGE]})


class GitFiles:
    """Files of a local repository at a commit; `overrides` replace files by path."""

    def __init__(self, repository: Path, overrides: Mapping[str, bytes] | None = None) -> None:
        self.repository = repository
        self.overrides = dict(overrides or {})

    def read_file(self, event: GitEvent, path: str, limit: int) -> bytes | None:
        """The file at the event's commit, None when it has none; TooLarge over `limit`.

        Raises PermanentError when the commit is not in the repository (nothing can run)."""
        if path in self.overrides:
            content = self.overrides[path]
            if len(content) > limit:
                raise TooLarge(f"read {path}", limit)
            return content
        try:
            git(self.repository, "cat-file", "-e", f"{event.sha}^{{commit}}")
        except GitError:
            raise PermanentError(
                f"commit {event.sha[:12]} is not in {self.repository} (fetch it there first)"
            ) from None
        try:
            size = int(git(self.repository, "cat-file", "-s", f"{event.sha}:{path}"))
        except GitError:
            return None
        if size > limit:
            raise TooLarge(f"read {path}", limit)
        return git_bytes(self.repository, "cat-file", "blob", f"{event.sha}:{path}")

    def changed_paths(self, event: GitEvent) -> list[str] | None:
        """Paths changed since `before` (pull requests: since the merge base with the base
        branch); None when that commit is unknown."""
        try:
            if event.pr_number is not None:
                base = self._merge_base(event)
            elif event.before:
                base = event.before
            else:
                return None
            listed = git(
                self.repository, "diff", "--name-only", "--no-renames", "-z", base, event.sha
            )
        except GitError:
            return None
        return [path for path in listed.split("\x00") if path]

    def commits_between(self, event: GitEvent, base: str, head: str) -> int | None:
        """Commits of `head` that `base` lacks; None when either is not in the repository."""
        try:
            return int(git(self.repository, "rev-list", "--count", f"{base}..{head}"))
        except (GitError, ValueError):
            return None

    def _merge_base(self, event: GitEvent) -> str:
        """Where the pull request's head left its base branch (local or origin's)."""
        for base in (event.base_ref or "", f"refs/remotes/origin/{event.base_branch}"):
            try:
                return git(self.repository, "merge-base", base, event.sha)
            except GitError:
                continue
        raise GitError(f"no base branch {event.base_branch}")


@dataclass(frozen=True)
class Posted:
    """One status post, as written to statuses.jsonl."""

    repository: str
    sha: str
    context: str
    state: str
    forge_state: str
    description: str
    target_url: str | None
    time: str

    def current(self) -> Current:
        return Current(self.context, self.forge_state, self.description, self.target_url)


class StatusLog:
    """Statuses kept in a JSON Lines file: report's `Statuses` port for the local forge."""

    def __init__(self, path: Path, on_post: Callable[[Posted], None] | None = None) -> None:
        self.path = path
        self.on_post = on_post
        self._lock = threading.Lock()

    def api(self, event: GitEvent) -> StatusApi:
        return STATUSES[event.forge_kind]

    def posted(self) -> list[Posted]:
        with self._lock:
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                return []
        return [Posted(**json.loads(line)) for line in lines if line.strip()]

    def current(self, event: GitEvent, sha: str) -> list[Current]:
        latest: dict[str, Current] = {}
        for post in self.posted():
            if post.repository == event.repository and post.sha == sha:
                latest[post.context.lower()] = post.current()
        return list(latest.values())

    def post(self, event: GitEvent, sha: str, update: Update) -> None:
        record = Posted(
            event.repository,
            sha,
            update.context,
            str(update.state),
            self.api(event).states[update.state],
            update.description,
            update.target_url,
            datetime.now(UTC).isoformat(timespec="milliseconds"),
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record.__dict__, ensure_ascii=False) + "\n")
        if self.on_post is not None:
            self.on_post(record)


class Mirrored:
    """For the forges in `real`: their own statuses (read and posted there), each post also
    kept in the log; for every other forge, the log alone."""

    def __init__(self, forge: Statuses, real: frozenset[str], log: StatusLog) -> None:
        self.forge, self.real, self.log = forge, real, log

    def _where(self, event: GitEvent) -> Statuses:
        return self.forge if event.forge_name in self.real else self.log

    def api(self, event: GitEvent) -> StatusApi:
        return self._where(event).api(event)

    def current(self, event: GitEvent, sha: str) -> list[Current]:
        return self._where(event).current(event, sha)

    def post(self, event: GitEvent, sha: str, update: Update) -> None:
        if event.forge_name in self.real:
            self.forge.post(event, sha, update)
        self.log.post(event, sha, update)
