"""Check runs of a GitHub App, posted as `StatusClient` posts commit statuses.

A check run is created once per name and commit and updated by its id afterwards: the ids
come from the commit's check runs as `report` reads them before it posts (under the commit's
lock), and from each create's answer. More annotations than GitHub takes in one request
(`MAX_ANNOTATIONS`) follow in further updates of the same check run, which append them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from knargo.config.settings import Forge
from knargo.contract.events import GitEvent
from knargo.forges.github import MAX_ANNOTATIONS, CheckOutput, GitHubChecks
from knargo.forges.payload import ApiRequest
from knargo.functions.status import Update

__all__ = ["CheckRuns"]

KEPT_COMMITS = 512
"""Commits whose check run ids are remembered; an older one's are read again."""


class CheckRuns:
    """The ids of the check runs of recent commits, and how to post to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str, str], dict[str, int]] = {}

    def _key(self, forge: Forge, event: GitEvent, sha: str) -> tuple[str, str, str]:
        return forge.name, event.repository.lower(), sha

    def read(self, forge: Forge, event: GitEvent, sha: str, ids: dict[str, int]) -> None:
        """The ids the forge showed for the commit."""
        with self._lock:
            self._ids.pop(self._key(forge, event, sha), None)
            self._ids[self._key(forge, event, sha)] = ids
            while len(self._ids) > KEPT_COMMITS:
                del self._ids[next(iter(self._ids))]

    def post(
        self,
        api: GitHubChecks,
        send: Callable[[ApiRequest], Any],
        forge: Forge,
        token: str | None,
        event: GitEvent,
        sha: str,
        update: Update,
    ) -> None:
        """Create or update the check run `update.context`; `send` answers the JSON body."""
        key, name = self._key(forge, event, sha), update.context.lower()
        with self._lock:
            ident = self._ids.get(key, {}).get(name)
        output = update.output or CheckOutput()
        batches = [
            output.annotations[i : i + MAX_ANNOTATIONS]
            for i in range(MAX_ANNOTATIONS, len(output.annotations), MAX_ANNOTATIONS)
        ]
        state = api.states[update.state]
        fields = (state, update.context, update.description, update.target_url)
        first = replace(output, annotations=output.annotations[:MAX_ANNOTATIONS])
        if ident is None:
            answer = send(api.create_status(forge, token, event, sha, *fields, output=first))
            ident = api.check_id(answer)
            if ident is None:
                return
            with self._lock:
                self._ids.setdefault(key, {})[name] = ident
        else:
            send(api.update_check(forge, token, event, ident, *fields, output=first))
        for batch in batches:
            more = CheckOutput(annotations=batch)
            send(api.update_check(forge, token, event, ident, *fields, output=more))
