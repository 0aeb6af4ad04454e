"""What `generate` does with one event: ci.yaml at the commit → Workflow (and CronWorkflows).

`generate` reads the file and the changed paths through a `Files` port and submits through a
`Workflows` port (knargo.io.network and knargo.io.kube in production, fakes in tests), and always
answers with a reply: `pipeline.submitted`, `pipeline.rejected` or `pipeline.skipped`.
Problems the user must fix (an invalid file, a token the forge refuses) become
`pipeline.rejected`; problems that retrying may fix (forge or Kubernetes unavailable, rate
limits) are raised for the function to answer 5xx/429, so the broker redelivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from knargo.config.catalog import SecretCatalog
from knargo.config.settings import Settings
from knargo.contract import events
from knargo.contract.errors import PermanentError, TooLarge, Unauthorized
from knargo.contract.events import Envelope, EventKind, GitEvent
from knargo.formats import naming
from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.functions import superseding
from knargo.language.dialect import CiConfig
from knargo.language.lint import check
from knargo.translation.concurrency import RunGroup, labelled, run_group
from knargo.translation.plan import MANAGED_BY, plan
from knargo.translation.rerun import narrow_to_dependents
from knargo.translation.selection import reads_changed_paths
from knargo.translation.templates import LABEL

__all__ = ["MAX_FILE_BYTES", "Files", "Reply", "Workflows", "generate"]

MAX_FILE_BYTES = 1024 * 1024
WAITING = "waiting for /ok-to-test by a maintainer"


class Files(Protocol):
    def read_file(self, event: GitEvent, path: str, limit: int) -> bytes | None: ...

    def changed_paths(self, event: GitEvent) -> list[str] | None: ...

    def commits_between(self, event: GitEvent, base: str, head: str) -> int | None: ...


class Workflows(Protocol):
    def create_workflow(self, manifest: Mapping[str, Any]) -> bool: ...

    def cron_workflows(self, namespace: str, selector: str) -> dict[str, dict[str, Any]]: ...

    def apply_cron_workflow(self, manifest: Mapping[str, Any]) -> None: ...

    def delete_cron_workflow(self, namespace: str, name: str) -> None: ...

    def list_workflows(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    def patch_workflow(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool: ...

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def json_patch_workflow(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> bool: ...


@dataclass(frozen=True)
class Reply:
    """The reply event: its type and data (which carries the GitEvent)."""

    type: str
    data: BaseModel
    event: GitEvent

    def envelope(self) -> Envelope:
        """Source = repository URL, subject = ref, id derived from the delivery and type, so
        a redelivered event gets an identical reply."""
        extensions = {"traceparent": self.event.traceparent} if self.event.traceparent else {}
        return Envelope(
            type=self.type,
            source=self.event.repository_url,
            id=naming.digest(self.event.delivery_id, self.type, length=32),
            data=self.data.model_dump(mode="json"),
            subject=self.event.ref,
            extensions=extensions,
        )


def generate(
    event: GitEvent,
    settings: Settings,
    catalog: SecretCatalog | None,
    files: Files,
    cluster: Workflows,
    *,
    job: str | None = None,
) -> Reply:
    """The reply for `event`; `job` narrows the run to that job and the jobs that need it
    (`/retest <job>`)."""
    if event.fork and settings.fork_pull_requests == "skip":
        return _skipped(event, "pull requests from forks are not run (fork_pull_requests: skip)")
    if event.secrets_withheld and settings.fork_pull_requests == "approve":
        return Reply(
            events.PIPELINE_SKIPPED,
            events.PipelineSkipped(event=event, reason=WAITING, waiting=True),
            event,
        )
    file = settings.ci_file
    try:
        content = files.read_file(event, file, MAX_FILE_BYTES)
    except TooLarge:
        return _rejected(
            event, [_problem(file, f"{file} is larger than {MAX_FILE_BYTES // 1024} KiB", "size")]
        )
    except Unauthorized as exc:
        refused = (
            f"shows no repository {event.repository} to knargo's token"
            if exc.status == 404
            else "refused knargo's token"
        )
        return _rejected(
            event,
            [
                _problem(
                    file,
                    f'cannot read {file}: forge "{event.forge_name}" {refused} (check the '
                    f"{_credential(settings, event)})",
                    "forge",
                )
            ],
        )
    if content is None:
        if event.on_default_branch:
            _reconcile(event, settings, [], files, cluster)
        return _skipped(event, f"no {file}", report=False)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return _rejected(event, [_problem(file, f"{file} is not UTF-8 text", "syntax")])
    checked = check(text, file, settings=settings, catalog=catalog, scope=event.scope)
    if checked.config is None:
        return _rejected(event, checked.diagnostics)
    return _run(event, settings, catalog, checked.config, files, cluster, job)


def _run(
    event: GitEvent,
    settings: Settings,
    catalog: SecretCatalog | None,
    config: CiConfig,
    files: Files,
    cluster: Workflows,
    job: str | None = None,
) -> Reply:
    changed = (
        None
        if not _filters_paths(config, event)
        else (
            list(event.changed_paths)
            if event.changed_paths_complete
            else files.changed_paths(event)
        )
    )
    result = plan(config, event, settings, catalog, changed_paths=changed)
    if job is not None:
        narrowed = narrow_to_dependents(result, job)
        if narrowed is None:
            return _skipped(event, f'job "{job}" does not run for this event', report=False)
        result = narrowed
    if result.rejected:
        return _rejected(event, [_problem(settings.ci_file, result.rejected, "size")], result.notes)
    schedules: list[str] = []
    notes = result.notes
    if event.on_default_branch:
        schedules, kept = _reconcile(event, settings, result.cron_workflows, files, cluster)
        notes = [*result.notes, *kept]
    if result.workflow is None:
        return _skipped(event, result.skipped or "nothing to run", notes=notes)
    workflow, group = result.workflow, run_group(config, event)
    if group is not None:
        workflow = labelled(workflow, group)
        if group.cancel_in_progress:
            runs = cluster.list_workflows(settings.namespace, group.selector)
            newer = superseding.newer_commit(superseding.orders(event, runs, files))
            if newer is not None:
                reason = f"superseded by {newer[:7]}, a newer commit of {group.name}"
                return _skipped(event, reason, report=False, notes=notes)
    try:
        created = cluster.create_workflow(workflow)
    except PermanentError as exc:  # the API server refused the manifest itself
        return _rejected(event, [_problem(settings.ci_file, str(exc), "cluster")], notes)
    meta = workflow["metadata"]
    name, namespace = meta.get("name", ""), meta.get("namespace", settings.namespace)
    if group is not None and group.cancel_in_progress:
        notes = [*notes, *_supersede(event, group, files, cluster, namespace, name)]
    return Reply(
        events.PIPELINE_SUBMITTED,
        events.PipelineSubmitted(
            event=event,
            notes=notes,
            namespace=namespace,
            workflow=name,
            ui_url=f"{settings.argo_ui_url.rstrip('/')}/workflows/{namespace}/{name}",
            jobs=[events.JobInfo(id=j.id, task=j.task, needs=list(j.needs)) for j in result.jobs],
            created=created,
            schedules=schedules,
        ),
        event,
    )


def _supersede(
    event: GitEvent,
    group: RunGroup,
    files: Files,
    cluster: Workflows,
    namespace: str,
    name: str,
) -> list[str]:
    """After the run exists: terminate its group's older runs, and the run itself when a
    newer one appeared meanwhile (another generate handling a newer commit at the same
    moment read the group before this run existed). Notes for the reply."""
    runs = cluster.list_workflows(namespace, group.selector)
    ordered = superseding.orders(event, runs, files)
    older = superseding.older_runs(runs, ordered)
    reason = f"superseded by {event.sha[:7]}"
    stopped = superseding.terminate(cluster, namespace, older, reason, frozenset({name}))
    notes = [f"concurrency: terminated {', '.join(stopped)} ({group.name})"] if stopped else []
    newer = superseding.newer_commit(ordered)
    if newer is not None:
        mine = [run for run in runs if (run.get("metadata") or {}).get("name") == name]
        if superseding.terminate(cluster, namespace, mine, f"superseded by {newer[:7]}"):
            notes.append(f"concurrency: terminated this run, superseded by {newer[:7]}")
    return notes


def _filters_paths(config: CiConfig, event: GitEvent) -> bool:
    if event.kind is not EventKind.TAG and reads_changed_paths(config):
        return True  # a job's paths:, paths-ignore: or changed()
    triggers = config.triggers
    if event.kind is EventKind.PULL_REQUEST:
        return triggers.pull_request is not None and triggers.pull_request.paths is not None
    return (
        event.kind is EventKind.PUSH
        and triggers.push is not None
        and triggers.push.paths is not None
    )


def _reconcile(
    event: GitEvent, settings: Settings, desired: list[Any], files: Files, cluster: Workflows
) -> tuple[list[str], list[str]]:
    """Apply the CronWorkflows the file declares; delete the repository's others. Never
    backwards: when the commit is an ancestor of one the schedules are pinned to (a push
    delivered late, or again), nothing changes. Returns the names applied, and a note when
    the schedules were kept."""
    repository_id = naming.repository_id(event.forge_name, event.repository)
    selector = ",".join(
        f"{k}={v}" for k, v in {**MANAGED_BY, LABEL + "repository-id": repository_id}.items()
    )
    existing = cluster.cron_workflows(settings.namespace, selector)
    newer = _newer_pin(event, existing, files)
    if newer is not None:
        return [], [
            f"on.schedule: the schedules stay pinned to {newer[:12]}, which already contains "
            f"this commit ({event.sha[:12]})"
        ]
    names = []
    for manifest in desired:
        cluster.apply_cron_workflow(manifest)
        names.append(manifest["metadata"]["name"])
    for name in sorted(set(existing) - set(names)):
        cluster.delete_cron_workflow(settings.namespace, name)
    return names, []


def _newer_pin(
    event: GitEvent, existing: Mapping[str, Mapping[str, Any]], files: Files
) -> str | None:
    """A commit the existing CronWorkflows are pinned to that descends from the event's.

    A commit that is neither (after a force push) is not newer: the schedules follow the
    branch. When the forge cannot say, neither."""
    pins = set()
    for cron in existing.values():
        pin = ((cron.get("metadata") or {}).get("annotations") or {}).get(LABEL + "sha")
        if isinstance(pin, str) and pin and pin != event.sha:
            pins.add(pin)
    return next((p for p in sorted(pins) if files.commits_between(event, p, event.sha) == 0), None)


def _credential(settings: Settings, event: GitEvent) -> str:
    """What gives knargo its access to the repository, in words for a rejection."""
    forge = next((f for f in settings.forges if f.name == event.forge_name), None)
    if forge is not None and forge.app_id is not None:
        return f"GitHub App's installation on {event.repository} and its permissions"
    return f"{event.forge_name}.token credential"


def _problem(file: str, message: str, rule: str) -> Diagnostic:
    return Diagnostic(file, 1, 1, Severity.ERROR, message, rule)


def _rejected(
    event: GitEvent, diagnostics: list[Diagnostic], notes: list[str] | None = None
) -> Reply:
    errors = [d for d in diagnostics if d.severity is Severity.ERROR] or diagnostics
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    summary = f"{errors[0].file}:{errors[0].line}:{errors[0].col}: {errors[0].message}{more}"
    return Reply(
        events.PIPELINE_REJECTED,
        events.PipelineRejected(
            event=event,
            notes=notes or [],
            summary=summary,
            diagnostics=[events.DiagnosticInfo(**d.to_dict()) for d in diagnostics],
        ),
        event,
    )


def _skipped(
    event: GitEvent, reason: str, *, report: bool = True, notes: list[str] | None = None
) -> Reply:
    return Reply(
        events.PIPELINE_SKIPPED,
        events.PipelineSkipped(event=event, notes=notes or [], reason=reason, report=report),
        event,
    )
