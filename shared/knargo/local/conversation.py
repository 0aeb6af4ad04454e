"""The local forge's side of pull request comments, for `knargo dev`.

`LocalConversation` is generate's `Conversation` port on one machine. The local forge stands
in for permissions: whoever can deliver to `knargo dev` (with its webhook secret) may run
commands, so every author has write access. A pull request's head is the one of the last
pull request event of that number the chain handled (there is no forge to ask); a comment on
a pull request it has not seen is refused. Reply comments are appended to
`.knargo/comments.jsonl` and handed to `on_reply` (the live view prints them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from knargo.contract.errors import PermanentError
from knargo.contract.events import CommentEvent, GitEvent
from knargo.forges import PullHead

__all__ = ["LocalConversation"]


class LocalConversation:
    def __init__(self, path: Path, on_reply: Callable[[str], None] | None = None) -> None:
        self.path, self.on_reply = path, on_reply
        self.heads: dict[tuple[str, str, int], GitEvent] = {}
        self._lock = threading.Lock()

    def saw(self, event: GitEvent) -> None:
        """Remember a pull request event's head."""
        if event.pr_number is not None:
            with self._lock:
                self.heads[(event.forge_name, event.repository, event.pr_number)] = event

    def can_write(self, comment: CommentEvent) -> bool:
        return True

    def pull_head(self, comment: CommentEvent) -> PullHead:
        with self._lock:
            event = self.heads.get((comment.forge_name, comment.repository, comment.pr_number))
        if event is None:
            raise PermanentError(
                f"knargo dev has seen no pull request {comment.pr_number} of {comment.repository}"
            )
        return PullHead(
            sha=event.sha,
            ref=event.ref,
            base_ref=event.base_ref or f"refs/heads/{event.default_branch}",
            head_repository=event.head_repository,
            fork=event.fork,
            open=True,
        )

    def replied(self, comment: CommentEvent, marker: str) -> bool:
        if not self.path.exists():
            return False
        with self._lock:
            return any(
                marker in line for line in self.path.read_text(encoding="utf-8").splitlines()
            )

    def reply(self, comment: CommentEvent, text: str) -> None:
        line = {"pull_request": comment.pr_number, "in_reply_to": comment.comment_id, "body": text}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(line, ensure_ascii=False) + "\n")
        if self.on_reply is not None:
            self.on_reply(text)
