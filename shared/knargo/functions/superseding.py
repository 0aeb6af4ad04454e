"""Which runs of a group a new run supersedes, in the forge's commit order.

Deliveries come late, twice and out of order, so arrival time decides nothing. A run of the
group is *older* than the event when its commit is the event's `before` (the forge's own
previous head) or an ancestor of the event's commit, *newer* when the event's commit is an
ancestor of its commit (the forge's compare answers, one or two calls per other commit), the
same when it is the same commit, and unordered otherwise (diverged, or a commit the forge
cannot compare). An event older than any run of its group runs nothing; a new run
terminates the group's unfinished older runs (`spec.shutdown: Terminate`, with the
`knargo.dev/cancelled` annotation "superseded by <short sha>" that report posts). A run of
the same commit (a redelivery, a `/retest`) and an unordered one are left alone. generate
reads the group before it creates a run (to create none for an outdated event) and again
after (knargo.functions.generate._supersede), so two instances handling two commits at once
still terminate the older run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from knargo.contract.events import GitEvent
from knargo.translation.concurrency import CANCELLED
from knargo.translation.templates import LABEL

__all__ = ["Order", "Runs", "newer_commit", "older_runs", "order", "orders", "terminate"]

UNFINISHED = frozenset({"", "Pending", "Running"})


class Commits(Protocol):
    def commits_between(self, event: GitEvent, base: str, head: str) -> int | None: ...


class Runs(Protocol):
    def list_workflows(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    def patch_workflow(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool: ...


Order = str
"""`older`, `newer`, `same` or `unordered`: another commit against the event's."""


def order(event: GitEvent, other: str, files: Commits) -> Order:
    if other == event.sha:
        return "same"
    if other == event.before or files.commits_between(event, event.sha, other) == 0:
        return "older"
    if files.commits_between(event, other, event.sha) == 0:
        return "newer"
    return "unordered"


def orders(event: GitEvent, runs: list[dict[str, Any]], files: Commits) -> dict[str, Order]:
    """Each other commit of `runs` against the event's, by commit."""
    return {sha: order(event, sha, files) for sha in sorted({_sha(run) for run in runs} - {""})}


def newer_commit(ordered: Mapping[str, Order]) -> str | None:
    """A commit newer than the event's, if the group has a run of one."""
    return next((sha for sha, found in ordered.items() if found == "newer"), None)


def older_runs(runs: list[dict[str, Any]], ordered: Mapping[str, Order]) -> list[dict[str, Any]]:
    """The runs whose commit is older than the event's."""
    return [run for run in runs if ordered.get(_sha(run)) == "older"]


def terminate(
    cluster: Runs,
    namespace: str,
    runs: list[dict[str, Any]],
    reason: str,
    keep: frozenset[str] = frozenset(),
) -> list[str]:
    """Terminate the unfinished `runs` (but those named in `keep`); their names, sorted."""
    patch = {"metadata": {"annotations": {CANCELLED: reason}}, "spec": {"shutdown": "Terminate"}}
    stopped = []
    for run in runs:
        name = (run.get("metadata") or {}).get("name", "")
        phase = (run.get("status") or {}).get("phase") or ""
        shutdown = (run.get("spec") or {}).get("shutdown")
        running = name and name not in keep and phase in UNFINISHED and not shutdown
        if running and cluster.patch_workflow(namespace, name, patch):
            stopped.append(name)
    return sorted(stopped)


def _sha(run: Mapping[str, Any]) -> str:
    annotations = (run.get("metadata") or {}).get("annotations") or {}
    sha = annotations.get(LABEL + "sha")
    return sha if isinstance(sha, str) else ""
