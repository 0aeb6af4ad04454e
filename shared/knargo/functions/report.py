"""What `report` does with one event: the commit statuses it means, posted only on change.

Replies of `generate` (`pipeline.submitted`, `.rejected`, `.skipped`) carry the GitEvent;
`workflow.updated` carries a Workflow, and `report` reads the Workflow as it is *now* from
the cluster (the event's copy when it is gone), so stale or reordered events still produce the
latest statuses. Before posting, one call reads the commit's current statuses; only
transitions are posted (`knargo.functions.status.due`). Forge answers that retrying cannot fix (401,
404, 422) are logged and acknowledged; the others are raised for the function to answer
5xx/429, so the broker redelivers.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from knargo.config.settings import Settings
from knargo.contract import events
from knargo.contract.errors import (
    ForgeError,
    ForgeUnavailable,
    NotFound,
    PermanentError,
    RateLimited,
    Unauthorized,
)
from knargo.contract.events import Envelope, GitEvent
from knargo.forges import StatusApi
from knargo.forges.github import CheckOutput, GitHubChecks
from knargo.functions import logtail, status

__all__ = ["CommitLocks", "Reported", "Statuses", "WorkflowReader", "dead_letter", "report"]


class Statuses(Protocol):
    def api(self, event: GitEvent) -> StatusApi: ...

    def current(self, event: GitEvent, sha: str) -> list[status.Current]: ...

    def post(self, event: GitEvent, sha: str, update: status.Update) -> None: ...


class WorkflowReader(Protocol):
    def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None: ...


@runtime_checkable
class Commenter(Protocol):
    """Statuses that can also comment on the event's pull request (`log_comments`)."""

    def comment(self, event: GitEvent, text: str) -> None: ...


class ArchivedLogReader(Protocol):
    """Argo's archived logs (`knargo.io.network.ArchivedLogs`), for a pod that is gone."""

    def archived_log(
        self, namespace: str, workflow: str, node: str, keep: int
    ) -> tuple[bytes, bool] | None: ...


@runtime_checkable
class LogReader(Protocol):
    """A cluster that also reads pods' logs (for a failed job's check run)."""

    def pod_log(
        self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int
    ) -> bytes | None: ...


@dataclass(frozen=True)
class Reported:
    """What was done: the statuses posted, and why nothing (more) was."""

    event: GitEvent | None
    posted: list[status.Update]
    problem: str = ""


class CommitLocks:
    """A lock per commit: events of one commit handled at once (a worker has threads) must
    not each read the same statuses and post the same transition, or post an old one last.
    A fixed set of locks, chosen by the commit, keeps the memory bounded; two commits that
    share one only wait for each other."""

    def __init__(self, size: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(size)]

    def __call__(self, event: GitEvent) -> threading.Lock:
        key = f"{event.forge_name}/{event.repository.lower()}@{event.sha}"
        return self._locks[zlib.crc32(key.encode()) % len(self._locks)]


def report(
    envelope: Envelope,
    settings: Settings,
    statuses: Statuses,
    cluster: WorkflowReader,
    locks: CommitLocks | None = None,
    archive: ArchivedLogReader | None = None,
) -> Reported:
    """Raises PermanentError for events that are not knargo's (answered 400). Reading the
    commit's statuses and posting happen under the commit's lock, when `locks` is given.
    A failed job's log comes from its pod through `cluster`, else from `archive`."""
    event, wanted, workflow = _wanted(envelope, settings, cluster)
    if not wanted:
        return Reported(event, [])
    forge = next((f for f in settings.forges if f.name == event.forge_name), None)
    comments = forge is not None and forge.log_comments and event.pr_number is not None
    with locks(event) if locks is not None else contextlib.nullcontext():
        return _post(event, wanted, statuses, workflow, cluster, comments, archive)


LOG_CONTAINER = "main"
"""The job's own container in an Argo pod (beside `init` and `wait`)."""


def _with_log(
    update: status.Update,
    workflow: Mapping[str, Any] | None,
    cluster: WorkflowReader,
    archive: ArchivedLogReader | None = None,
) -> status.Update:
    """A failed job's update with the tail of its log for the check run, masked
    (`knargo.functions.logtail`); unchanged for anything else."""
    failed = update.state in (status.State.FAILURE, status.State.ERROR)
    query = parse_qs(urlsplit(update.target_url or "").query)
    if not failed or workflow is None or update.output is not None or "nodeId" not in query:
        return update
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    node = nodes.get(query["nodeId"][0])
    if not isinstance(node, Mapping) or node.get("type") not in ("Pod", "Retry"):
        return update
    if node.get("type") == "Retry":  # the log of its last attempt
        attempts = [nodes.get(child) for child in node.get("children") or []]
        node = next((a for a in reversed(attempts) if isinstance(a, Mapping)), None)
        if node is None:
            return update
    meta = workflow.get("metadata") or {}
    limit = 4 * logtail.MAX_BYTES
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    pod = logtail.pod_name(name, node)
    data = (
        cluster.pod_log(namespace, pod, LOG_CONTAINER, logtail.MAX_LINES, limit)
        if isinstance(cluster, LogReader)
        else None
    )
    cut = {"cut_at_end": data is not None and len(data) >= limit}
    if data is None and archive is not None and _archived(node):
        archived = archive.archived_log(namespace, name, str(node.get("id") or ""), limit)
        data, cut = (
            (None, cut) if archived is None else (archived[0], {"cut_at_start": archived[1]})
        )
    if data is None:
        text = "The job's log is gone with its pod; the link shows what Argo archived."
        return replace(update, output=CheckOutput(text=text))
    tail = logtail.masked_tail(data.decode("utf-8", "replace"), [], **cut)
    fence = "`" * max(3, _longest_backticks(tail) + 1)
    text = f"The last lines of the job's log:\n\n{fence}text\n{tail}\n{fence}"
    return replace(update, output=CheckOutput(text=text))


def _archived(node: Mapping[str, Any]) -> bool:
    """Whether Argo archived the node's log (its `main-logs` output artifact)."""
    artifacts = (node.get("outputs") or {}).get("artifacts") or []
    return any(isinstance(a, Mapping) and a.get("name") == "main-logs" for a in artifacts)


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _post(
    event: GitEvent,
    wanted: list[status.Update],
    statuses: Statuses,
    workflow: Mapping[str, Any] | None = None,
    cluster: WorkflowReader | None = None,
    comments: bool = False,
    archive: ArchivedLogReader | None = None,
) -> Reported:
    try:
        api = statuses.api(event)
        current = statuses.current(event, event.sha)
    except (RateLimited, ForgeUnavailable):
        raise
    except (PermanentError, ForgeError) as exc:
        return Reported(event, [], str(exc))
    posts = status.due(
        current,
        wanted,
        {status.State(k): v for k, v in api.states.items()},
        api.final_states,
        api.description_limit,
    )
    checks = isinstance(api, GitHubChecks)
    if cluster is not None and (checks or comments):
        posts = [_with_log(update, workflow, cluster, archive) for update in posts]
    done: list[status.Update] = []
    for update in posts:
        try:
            statuses.post(event, event.sha, update)
        except (Unauthorized, NotFound) as exc:
            return Reported(event, done, str(exc))
        except (RateLimited, ForgeUnavailable):
            raise
        except ForgeError as exc:  # 422 and the like: this status is wrong, post the others
            return Reported(event, done, str(exc))
        done.append(update)
        if not checks and update.output is not None and isinstance(statuses, Commenter):
            _comment_log(event, update, statuses)
    return Reported(event, done)


def _comment_log(event: GitEvent, update: status.Update, statuses: Commenter) -> None:
    """A failed job's log tail as one pull request comment, posted with the job's failed
    status: a redelivered or stale event is no transition and posts neither again. A comment
    the forge refuses leaves the status posted."""
    assert update.output is not None
    run = (update.target_url or "").split("?", 1)[0]
    text = f"**{update.context}** failed: {update.description}\n\n{update.output.text}"
    try:
        statuses.comment(event, f"{text}\n\n[The run in Argo]({run})" if run else text)
    except (RateLimited, ForgeUnavailable):
        raise
    except (PermanentError, ForgeError):
        return


def _wanted(
    envelope: Envelope, settings: Settings, cluster: WorkflowReader
) -> tuple[GitEvent, list[status.Update], Mapping[str, Any] | None]:
    """The event, the statuses it means, and the Workflow they were read from (if any)."""
    prefix = settings.status_context
    try:
        if envelope.type == events.PIPELINE_SUBMITTED:
            submitted = events.PipelineSubmitted.model_validate(envelope.data)
            return submitted.event, status.from_submitted(submitted, prefix), None
        if envelope.type == events.PIPELINE_REJECTED:
            rejected = events.PipelineRejected.model_validate(envelope.data)
            return rejected.event, status.from_rejected(rejected, prefix), None
        if envelope.type == events.PIPELINE_SKIPPED:
            skipped = events.PipelineSkipped.model_validate(envelope.data)
            return skipped.event, status.from_skipped(skipped, prefix), None
    except ValueError:
        raise PermanentError(f"malformed {envelope.type} data") from None
    if envelope.type == events.WORKFLOW_UPDATED:
        workflow = _current_workflow(envelope.data, cluster)
        try:
            event, updates = status.from_workflow(workflow, prefix, settings.argo_ui_url)
        except (KeyError, TypeError, ValueError):
            raise PermanentError("not a Workflow made by knargo") from None
        return event, updates, workflow
    raise PermanentError(f"unexpected event type {envelope.type!r}")


def _current_workflow(body: Any, cluster: WorkflowReader) -> Mapping[str, Any]:
    """The Workflow as the cluster has it now, else the event's copy."""
    if not isinstance(body, Mapping):
        raise PermanentError("the event carries no Workflow")
    meta = body.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise PermanentError("the Workflow has no name or namespace")
    return cluster.get_workflow(namespace, name) or body


DEAD_LETTER = "could not be processed"


def dead_letter(
    envelope: Envelope, settings: Settings, statuses: Statuses, locks: CommitLocks | None = None
) -> Reported:
    """An event the broker gave up on: where it names a commit, mark the pipeline context
    with an error, unless a final status is already there (a later event got through)."""
    event = _named_event(envelope)
    if event is None:
        return Reported(None, [], "the event names no commit")
    code = envelope.extensions.get("knativeerrorcode", "")
    reason = f"{DEAD_LETTER}: {envelope.type} failed after retries"
    update = status.Update(
        settings.status_context, status.State.ERROR, reason + (f" (HTTP {code})" if code else "")
    )
    with locks(event) if locks is not None else contextlib.nullcontext():
        return _mark(event, update, statuses)


def _mark(event: GitEvent, update: status.Update, statuses: Statuses) -> Reported:
    try:
        api = statuses.api(event)
        shown = {c.context.lower(): c for c in statuses.current(event, event.sha)}
        current = shown.get(update.context.lower())
        if current is not None and current.state in api.final_states:
            return Reported(event, [], "the pipeline already has a final status")
        statuses.post(
            event,
            event.sha,
            status.Update(
                update.context,
                update.state,
                status.shorten(update.description, api.description_limit),
            ),
        )
    except (RateLimited, ForgeUnavailable):
        raise
    except (PermanentError, ForgeError) as exc:
        return Reported(event, [], str(exc))
    return Reported(event, [update])


def _named_event(envelope: Envelope) -> GitEvent | None:
    data = envelope.data
    try:
        if envelope.type in (events.GIT_PUSH, events.GIT_PULL_REQUEST):
            return GitEvent.model_validate(data)
        if envelope.type == events.WORKFLOW_UPDATED:
            return status.from_workflow(data, "", "")[0]
        if isinstance(data, Mapping) and isinstance(data.get("event"), Mapping):
            return GitEvent.model_validate(data["event"])
    except (KeyError, TypeError, ValueError):
        return None
    return None
