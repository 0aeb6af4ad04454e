"""ci.yaml + event → Argo manifests. Pure: no I/O, the same inputs give the same output.

`plan` decides what an event produces: a `Workflow` when `on:` lets the event run the
pipeline, and, for a push to the default branch, one `CronWorkflow` per `on.schedule` entry
(pinned to that commit). Each job becomes one container template and one DAG task of the
template `pipeline` (`knargo.translation.templates`); `needs` become `dependencies`.
Which jobs run is `knargo.translation.selection`'s: a job whose `if:` is false for the event is
left out (and so are the jobs that need it, unless their `if:` reads results), a job whose
`paths:` did not change is left out without blocking anyone, and a condition on the results of
needed jobs becomes the task's `depends` (`knargo.translation.depends`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from knargo.config.catalog import SecretCatalog
from knargo.config.settings import Settings
from knargo.contract.events import EventKind, GitEvent
from knargo.formats import naming
from knargo.language import conditions
from knargo.language.dialect import CiConfig, Schedule
from knargo.translation import manifests
from knargo.translation.filters import decide
from knargo.translation.gates import add_gates
from knargo.translation.mutexes import add_mutexes
from knargo.translation.selection import IF, PATHS, Selection, select
from knargo.translation.templates import LABEL, SpecBuilder

__all__ = ["Plan", "PlannedJob", "plan", "translate"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "knargo"}
SKIPPED_JOBS = LABEL + "skipped-jobs"
# etcd's default request limit is 1.5 MiB; leave room for the status Argo adds.
MAX_MANIFEST_BYTES = 1024 * 1024
# spec.templates and dag.tasks carry maxItems: 200 in the Argo Workflows v4 CRD.
MAX_TEMPLATES = 200
Trigger = Literal["event", "schedule"]
Manifest = manifests.Workflow | manifests.CronWorkflow


@dataclass(frozen=True)
class PlannedJob:
    """A job as it runs: its id in ci.yaml, its Argo task name and the ids it needs."""

    id: str
    task: str
    needs: tuple[str, ...]
    job_id: str = ""
    """The id in ci.yaml of the job it is a unit of (a combination of a `matrix:` job)."""


@dataclass(frozen=True)
class Plan:
    """What one event produces. `skipped` says why there is no Workflow.

    The manifests are plain data to read, send or dump; parts of them (the spec of several
    CronWorkflows) may be shared, so copy before changing one.
    """

    workflow: manifests.Workflow | None = None
    cron_workflows: list[manifests.CronWorkflow] = field(default_factory=list)
    jobs: list[PlannedJob] = field(default_factory=list)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    rejected: str | None = None
    """Why the pipeline cannot be submitted although it is valid (then there are no manifests)."""
    skipped_jobs: list[str] = field(default_factory=list)
    """Jobs left out because no changed path matches their `paths:` (reported as skipped)."""

    @property
    def manifests(self) -> list[Manifest]:
        found: list[Manifest] = [self.workflow] if self.workflow else []
        return found + list(self.cron_workflows)


def translate(
    config: CiConfig, event: GitEvent, settings: Settings, catalog: SecretCatalog | None = None
) -> list[Manifest]:
    """Every manifest `event` produces (paths filters count as matched if paths are unknown)."""
    return plan(config, event, settings, catalog).manifests


def plan(
    config: CiConfig,
    event: GitEvent,
    settings: Settings,
    catalog: SecretCatalog | None = None,
    *,
    changed_paths: Sequence[str] | None = None,
    trigger: Trigger = "event",
) -> Plan:
    """Decide and translate. `changed_paths` None: use the event's list if it is complete."""
    notes: list[str] = []
    builder = SpecBuilder(config, event, settings, catalog, notes)
    crons = (
        _cron_workflows(config, event, settings, builder)
        if trigger == "schedule" or event.on_default_branch
        else []
    )
    if trigger == "schedule":
        too_large = _too_large(list(crons))
        if too_large:
            return Plan(rejected=too_large, notes=notes)
        return Plan(
            cron_workflows=crons, skipped=None if crons else "no on.schedule entries", notes=notes
        )
    if config.triggers.schedule and not event.on_default_branch:
        notes.append(
            f'on.schedule takes effect only from the default branch "{event.default_branch}"'
        )
    if event.fork and settings.fork_pull_requests == "skip":
        return Plan(
            cron_workflows=crons,
            notes=notes,
            skipped="pull requests from forks are not run (fork_pull_requests: skip)",
        )
    if changed_paths is None and event.changed_paths_complete:
        changed_paths = event.changed_paths
    decision = decide(config, event, changed_paths)
    notes += decision.notes
    if not decision.run:
        return Plan(cron_workflows=crons, skipped=decision.reason, notes=notes)
    kind = event.kind.value
    selection = _selected_jobs(
        config,
        builder.names,
        _variables(event, kind),
        notes,
        changed_paths=changed_paths,
        paths_apply=event.kind is not EventKind.TAG,
    )
    jobs = selection.jobs
    if not jobs:
        reason = "no job's if: condition holds"
        if PATHS in selection.left_out.values():
            reason = "no job runs: each job's if: is false or its paths did not change"
        return Plan(cron_workflows=crons, skipped=reason, notes=notes)
    name = naming.workflow_name(
        event.forge_name, event.repository, kind, event.sha, event.delivery_id
    )
    run = _run_metadata(event, kind)
    skipped_jobs = [i for i, why in selection.left_out.items() if why == PATHS]
    if skipped_jobs:
        run["annotations"][SKIPPED_JOBS] = json.dumps(skipped_jobs, separators=(",", ":"))
    workflow: manifests.Workflow = {
        "apiVersion": manifests.API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": settings.namespace, **run},
        "spec": builder.spec(jobs, kind, selection.depends),
    }
    add_gates(workflow["spec"], jobs, builder.names, builder.job_ids)
    add_mutexes(workflow["spec"], config.jobs, event)
    too_large = _too_large([workflow, *crons])
    if too_large:
        return Plan(rejected=too_large, notes=notes)
    units = builder.expanded(jobs)
    planned = [
        PlannedJob(i, builder.names[i], tuple(j.needs), builder.job_ids.get(i, i))
        for i, j in units.items()
    ]
    return Plan(
        workflow=workflow,
        cron_workflows=crons,
        jobs=planned,
        notes=notes,
        skipped_jobs=skipped_jobs,
    )


def _too_large(manifests: list[Manifest]) -> str | None:
    """Kubernetes stores an object in etcd, which refuses values over 1.5 MiB by default;
    Argo Workflows v4's CRD accepts at most 200 templates (and DAG tasks) in one spec."""
    for manifest in manifests:
        spec: Any = manifest["spec"]
        templates = len(spec.get("workflowSpec", spec)["templates"])
        if templates > MAX_TEMPLATES:
            return (
                f"the pipeline has {templates - 1} jobs; Argo Workflows accepts at most "
                f"{MAX_TEMPLATES} templates in a {manifest['kind']} (its CRD's limit), so at most "
                f"{MAX_TEMPLATES - 1} jobs: split the pipeline or use fewer jobs"
            )
        size = len(json.dumps(manifest, separators=(",", ":")))
        if size > MAX_MANIFEST_BYTES:
            return (
                f"the pipeline renders to a {manifest['kind']} of {size / 2**20:.1f} MiB, "
                f"over the {MAX_MANIFEST_BYTES / 2**20:.0f} MiB Kubernetes can store; "
                "use fewer or smaller jobs"
            )
    return None


def _variables(event: GitEvent, kind: str) -> dict[str, str | bool]:
    return {
        "event": kind,
        "ref": event.ref,
        "branch": event.branch,
        "tag": event.tag,
        "base_branch": event.base_branch,
        "default_branch": event.default_branch,
        "sha": event.sha,
        "repository": event.repository,
        "forge": event.forge_kind.value,
        "fork": event.fork,
        "is_default_branch": event.on_default_branch,
        "schedule": "",
    }


def _selected_jobs(
    config: CiConfig,
    names: Mapping[str, str],
    variables: dict[str, str | bool],
    notes: list[str],
    runs: str = "",
    *,
    changed_paths: Sequence[str] | None = None,
    paths_apply: bool = False,
) -> Selection:
    """The jobs that run (`knargo.translation.selection`), with notes on those left out."""
    selection = select(
        config, _topological(config), variables, names, changed_paths, paths_apply=paths_apply
    )
    notes += selection.notes
    prefix = f"{runs}: " if runs else ""
    by_if = [i for i, why in selection.left_out.items() if why == IF]
    if by_if:
        notes.append(
            f"{prefix}left out by if: conditions (or needing a job that was): " + ", ".join(by_if)
        )
    by_paths = [i for i, why in selection.left_out.items() if why == PATHS]
    if by_paths:
        notes.append(
            f"{prefix}left out, no changed path matches their paths: " + ", ".join(by_paths)
        )
    return selection


def _topological(config: CiConfig) -> list[str]:
    """Job ids, each after the jobs it needs (Kahn's algorithm, file order among equals)."""
    waiting = {job_id: len(set(job.needs)) for job_id, job in config.jobs.items()}
    dependents: dict[str, list[str]] = {job_id: [] for job_id in config.jobs}
    for job_id, job in config.jobs.items():
        for need in set(job.needs):
            dependents[need].append(job_id)
    ready = [job_id for job_id, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        job_id = ready.pop(0)
        order.append(job_id)
        for dependent in dependents[job_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return order


class _RunMetadata(TypedDict):
    labels: dict[str, str]
    annotations: dict[str, str]


def _run_metadata(event: GitEvent, kind: str) -> _RunMetadata:
    labels = {
        **MANAGED_BY,
        LABEL + "forge": naming.label_value(event.forge_name),
        LABEL + "repository": naming.label_value(event.repository.replace("/", ".")),
        LABEL + "repository-id": naming.repository_id(event.forge_name, event.repository),
        LABEL + "event": kind,
        LABEL + "sha": naming.label_value(event.sha[:40]),
    }
    if event.pr_number is not None:
        labels[LABEL + "pull-request"] = str(event.pr_number)
    annotations = {
        LABEL + "repository": event.repository,
        LABEL + "repository-url": event.repository_url,
        LABEL + "ref": event.ref,
        LABEL + "sha": event.sha,
        LABEL + "delivery-id": event.delivery_id,
        LABEL + "git-event": _brace_safe_json(
            event.model_dump(mode="json", exclude={"changed_paths"}, exclude_none=True)
        ),
    }
    if event.traceparent:
        annotations[LABEL + "traceparent"] = event.traceparent
    return {"labels": labels, "annotations": naming.annotations_safe(annotations)}


def _brace_safe_json(data: Any) -> str:
    """Compact JSON in which a `{{` inside a string is written as escapes Argo leaves alone."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return text.replace("{{", "\\u007b\\u007b")


def _cron_workflows(
    config: CiConfig, event: GitEvent, settings: Settings, builder: SpecBuilder
) -> list[manifests.CronWorkflow]:
    schedules = config.triggers.schedule
    if not schedules:
        return []
    specs = _schedule_specs(config, event, builder)
    if not specs:
        return []
    run = _run_metadata(event, "schedule")
    result: list[manifests.CronWorkflow] = []
    for index, entry in enumerate(schedules):
        spec = specs.get(entry.label)
        if spec is None:
            continue
        labels = {
            **MANAGED_BY,
            LABEL + "forge": run["labels"][LABEL + "forge"],
            LABEL + "repository-id": run["labels"][LABEL + "repository-id"],
            LABEL + "schedule": str(index),
        }
        annotations = naming.annotations_safe(
            {
                LABEL + "repository": event.repository,
                LABEL + "sha": event.sha,
                LABEL + "cron": entry.cron,
            }
            | ({LABEL + "schedule-name": entry.name} if entry.name is not None else {})
        )
        cron_spec: manifests.CronWorkflowSpec = {
            "schedules": [entry.cron],
            # Argo's default is the controller's local time; ci.yaml's default is UTC.
            "timezone": entry.timezone or "UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "workflowMetadata": {"labels": run["labels"], "annotations": run["annotations"]},
            "workflowSpec": spec,
        }
        result.append(
            {
                "apiVersion": manifests.API_VERSION,
                "kind": "CronWorkflow",
                "metadata": {
                    "name": naming.cron_workflow_name(event.forge_name, event.repository, index),
                    "namespace": settings.namespace,
                    "labels": labels,
                    "annotations": annotations,
                },
                "spec": cron_spec,
            }
        )
    return result


def _reads_schedule(config: CiConfig) -> bool:
    """Whether some job's `if:` reads the `schedule` variable."""
    for job in config.jobs.values():
        tree = conditions.parse(job.if_).tree if job.if_ is not None else None
        if tree is not None and any(
            isinstance(node, conditions.Variable) and node.name == "schedule"
            for node in conditions.walk(tree)
        ):
            return True
    return False


def _schedule_specs(
    config: CiConfig, event: GitEvent, builder: SpecBuilder
) -> dict[str, manifests.WorkflowSpec]:
    """The WorkflowSpec of each schedule, by its label: one for all of them unless an `if:`
    reads `schedule`; schedules for which no job runs have none."""
    notes, schedules = builder.notes, config.triggers.schedule
    groups: list[tuple[str, list[Schedule]]] = [("scheduled runs", list(schedules))]
    if _reads_schedule(config):
        groups = [(f'scheduled runs of "{entry.label}"', [entry]) for entry in schedules]
    specs: dict[str, manifests.WorkflowSpec] = {}
    for runs, entries in groups:
        variables = _variables(event, "schedule") | {"schedule": entries[0].label}
        selection = _selected_jobs(config, builder.names, variables, notes, runs)
        if not selection.jobs:
            notes.append(f"on.schedule: no job's if: condition holds for {runs}")
            continue
        spec = builder.spec(selection.jobs, "schedule", selection.depends)
        specs.update((entry.label, spec) for entry in entries)
    return specs
