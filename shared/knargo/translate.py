"""ci.yaml + event → Argo manifests. Pure: no I/O, the same inputs give the same output.

`plan` decides what an event produces: a `Workflow` when `on:` lets the event run the
pipeline, and, for a push to the default branch, one `CronWorkflow` per `on.schedule` entry
(pinned to that commit). Each job becomes one container template and one DAG task of the
template `pipeline`; `needs` become `dependencies`. A job whose `if:` is false is left out,
and so are the jobs that need it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from knargo import argo, conditions, jobpod, naming
from knargo.catalog import SecretCatalog, SecretRef, resolve
from knargo.dialect import CiConfig, Job
from knargo.durations import parse_duration
from knargo.events import EventKind, ForgeKind, GitEvent
from knargo.filters import decide
from knargo.settings import Runner, Settings

__all__ = ["Plan", "PlannedJob", "plan", "translate"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "knargo"}
LABEL = "knargo.dev/"
ENTRYPOINT = "pipeline"
_RETRY_POLICIES: dict[str, Literal["Always", "OnFailure", "OnError", "OnTransientError"]] = {
    "always": "Always",
    "on-failure": "OnFailure",
    "on-error": "OnError",
    "on-transient-error": "OnTransientError",
}
_GIT_USERNAMES = {
    ForgeKind.GITHUB: "x-access-token",
    ForgeKind.GITLAB: "oauth2",
    ForgeKind.GITEA: "oauth2",
}
Trigger = Literal["event", "schedule"]


@dataclass(frozen=True)
class PlannedJob:
    """A job as it runs: its id in ci.yaml, its Argo task name and the ids it needs."""

    id: str
    task: str
    needs: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What one event produces. `skipped` says why there is no Workflow."""

    workflow: dict[str, Any] | None = None
    cron_workflows: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[PlannedJob] = field(default_factory=list)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def manifests(self) -> list[dict[str, Any]]:
        return ([self.workflow] if self.workflow else []) + self.cron_workflows


def translate(
    config: CiConfig, event: GitEvent, settings: Settings, catalog: SecretCatalog | None = None
) -> list[dict[str, Any]]:
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
    crons = (
        _cron_workflows(config, event, settings, catalog, notes)
        if trigger == "schedule" or event.on_default_branch
        else []
    )
    if trigger == "schedule":
        reason = None if crons else "no on.schedule entries"
        return Plan(cron_workflows=crons, skipped=reason, notes=notes)
    if config.triggers.schedule and not event.on_default_branch:
        notes.append(
            f'on.schedule takes effect only from the default branch "{event.default_branch}"'
        )
    if event.fork and settings.fork_pull_requests == "skip":
        return Plan(
            cron_workflows=crons,
            skipped="pull requests from forks are not run (fork_pull_requests: skip)",
            notes=notes,
        )
    if changed_paths is None and event.changed_paths_complete:
        changed_paths = event.changed_paths
    decision = decide(config, event, changed_paths)
    notes += decision.notes
    if not decision.run:
        return Plan(cron_workflows=crons, skipped=decision.reason, notes=notes)
    jobs = _selected_jobs(config, _variables(event, event.kind.value), notes)
    if not jobs:
        return Plan(cron_workflows=crons, skipped="no job's if: condition holds", notes=notes)
    builder = _Builder(config, event, settings, catalog, notes)
    name = naming.workflow_name(
        event.forge_name, event.repository, event.kind.value, event.sha, event.delivery_id
    )
    workflow = argo.Workflow(
        metadata=argo.ObjectMeta(
            name=name, namespace=settings.namespace, **_run_metadata(event, event.kind.value)
        ),
        spec=builder.spec(jobs),
    )
    return Plan(
        workflow=workflow.to_manifest(),
        cron_workflows=crons,
        jobs=builder.planned(jobs),
        notes=notes,
    )


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
    }


def _selected_jobs(
    config: CiConfig, variables: dict[str, str | bool], notes: list[str], runs: str = ""
) -> dict[str, Job]:
    """Jobs whose `if:` holds and whose needs are all selected (in file order)."""
    selected: dict[str, Job] = {}
    left_out: list[str] = []
    for job_id in _topological(config):
        job = config.jobs[job_id]
        holds = job.if_ is None or conditions.parse(job.if_).evaluate(variables)
        if holds and all(n in selected for n in job.needs):
            selected[job_id] = job
        else:
            left_out.append(job_id)
    if left_out:
        notes.append(
            f"{runs + ': ' if runs else ''}left out by if: conditions (or needing a job that was): "
            + ", ".join(left_out)
        )
    return {job_id: selected[job_id] for job_id in config.jobs if job_id in selected}


def _topological(config: CiConfig) -> list[str]:
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(config.jobs):
        for job_id, job in config.jobs.items():
            if job_id not in placed and all(n in placed for n in job.needs):
                done.append(job_id)
                placed.add(job_id)
    return done


def _run_metadata(event: GitEvent, kind: str) -> dict[str, dict[str, str]]:
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


def _brace_safe_json(data: object) -> str:
    """Compact JSON in which a `{{` inside a string is written as escapes Argo leaves alone."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True).replace("{{", "\\u007b\\u007b")


class _Builder:
    """Builds the WorkflowSpec for one event; collects notes on the way."""

    def __init__(
        self,
        config: CiConfig,
        event: GitEvent,
        settings: Settings,
        catalog: SecretCatalog | None,
        notes: list[str],
    ) -> None:
        self.config, self.event, self.settings = config, event, settings
        self.catalog, self.notes = catalog, notes
        self.names = naming.template_names(config.jobs)
        self.withheld: list[str] = []

    def spec(self, jobs: dict[str, Job], kind: str | None = None) -> argo.WorkflowSpec:
        templates = [self._dag(jobs)] + [self._template(i, j, kind) for i, j in jobs.items()]
        if self.withheld:
            self.notes.append(
                "pull request from a fork: secrets withheld from " + ", ".join(self.withheld)
            )
        return argo.WorkflowSpec(
            entrypoint=ENTRYPOINT,
            service_account_name=self.settings.service_account,
            active_deadline_seconds=self.settings.seconds("workflow_timeout"),
            pod_gc=argo.PodGC(
                strategy="OnPodSuccess",
                delete_delay_duration=f"{self.settings.seconds('pod_retention')}s",
            ),
            ttl_strategy=argo.TTLStrategy(
                seconds_after_completion=self.settings.seconds("retention")
            ),
            templates=templates,
        )

    def planned(self, jobs: dict[str, Job]) -> list[PlannedJob]:
        return [PlannedJob(i, self.names[i], tuple(j.needs)) for i, j in jobs.items()]

    def _dag(self, jobs: dict[str, Job]) -> argo.Template:
        tasks = [
            argo.DAGTask(
                name=self.names[job_id],
                template=self.names[job_id],
                dependencies=[self.names[n] for n in job.needs] or None,
                continue_on=argo.ContinueOn() if job.continue_on_error else None,
            )
            for job_id, job in jobs.items()
        ]
        return argo.Template(name=ENTRYPOINT, dag=argo.DAGTemplate(tasks=tasks))

    def _template(self, job_id: str, job: Job, kind: str | None) -> argo.Template:
        runner = self.settings.runners.get(job.runner) or self.settings.runners["default"]
        env, encoded = self._env(job_id, job, kind)
        mounts = [
            argo.VolumeMount(name="workspace", mount_path=jobpod.WORKSPACE),
            argo.VolumeMount(name="knargo", mount_path=jobpod.HOME),
        ]
        workdir = jobpod.WORKSPACE + (
            f"/{job.working_directory.strip('/')}" if job.working_directory else ""
        )
        timeout = parse_duration(job.timeout or self.settings.job_timeout)
        return argo.Template(
            name=self.names[job_id],
            metadata=argo.Metadata(
                labels={LABEL + "job": naming.label_value(job_id)},
                annotations={LABEL + "job": job_id},
            ),
            init_containers=[self._checkout(job, encoded, mounts)],
            container=argo.Container(
                image=job.image,
                command=jobpod.main_command(job.shell),
                env=env,
                working_dir=workdir,
                resources=_resources(runner),
                volume_mounts=mounts,
            ),
            volumes=[
                argo.Volume(name="workspace", empty_dir={}),
                argo.Volume(name="knargo", empty_dir={}),
            ],
            node_selector=runner.node_selector or None,
            tolerations=[
                argo.Toleration(**t.model_dump(by_alias=False)) for t in runner.tolerations
            ]
            or None,
            active_deadline_seconds=str(timeout),
            retry_strategy=_retry(job),
        )

    def _env(self, job_id: str, job: Job, kind: str | None) -> tuple[list[argo.EnvVar], str]:
        """Plain env vars, and an env file (encoded) for values Argo would rewrite."""
        event = self.event
        values = {
            "CI": "true",
            "KNARGO": "true",
            "KNARGO_HOME": jobpod.HOME,
            "KNARGO_JOB": job_id,
            "KNARGO_EVENT": kind or event.kind.value,
            "KNARGO_REPOSITORY": event.repository,
            "KNARGO_REF": event.ref,
            "KNARGO_SHA": event.sha,
            # The checkout belongs to another user than the job may run as.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
            **self.config.env,
            **job.env,
        }
        if event.pr_number is not None:
            values["KNARGO_PULL_REQUEST"] = str(event.pr_number)
        plain = {k: v for k, v in values.items() if not jobpod.needs_encoding(v)}
        risky = {k: v for k, v in values.items() if jobpod.needs_encoding(v)}
        env = [argo.EnvVar(name=k, value=v) for k, v in plain.items()]
        env += self._secrets(job_id, job)
        return env, jobpod.encode(jobpod.env_file(risky)) if risky else ""

    def _secrets(self, job_id: str, job: Job) -> list[argo.EnvVar]:
        if not job.secrets:
            return []
        if self.event.fork:
            self.withheld.append(job_id)
            return []
        return [
            argo.EnvVar(
                name=env_name,
                value_from=argo.EnvVarSource(
                    secret_key_ref=argo.SecretKeySelector(name=ref.object_name, key=ref.key)
                ),
            )
            for env_name, ref in ((e, self._resolve(n)) for e, n in job.secrets.items())
        ]

    def _resolve(self, name: str) -> SecretRef:
        found = resolve(self.catalog, self.event.scope, name) if self.catalog else None
        if found is None:
            note = f"secret {name}: assumed in the repository's own scope {self.event.scope}"
            if note not in self.notes:
                self.notes.append(note)
            return SecretRef(self.event.scope, name)
        return found

    def _checkout(
        self, job: Job, encoded_env: str, mounts: list[argo.VolumeMount]
    ) -> argo.Container:
        event = self.event
        env = {
            "KNARGO_SCRIPT": jobpod.encode(job.run),
            "KNARGO_ENV": encoded_env,
            "KNARGO_HOME": jobpod.HOME,
            "KNARGO_WORKSPACE": jobpod.WORKSPACE,
            "KNARGO_CLONE_URL": event.clone_url,
            "KNARGO_SHA": event.sha,
            "KNARGO_FETCH_REF": _fetch_ref(event),
        }
        variables = [argo.EnvVar(name=k, value=v) for k, v in env.items() if v or k != "KNARGO_ENV"]
        if event.private:
            variables += [
                argo.EnvVar(name="KNARGO_GIT_USERNAME", value=_GIT_USERNAMES[event.forge_kind]),
                argo.EnvVar(
                    name="KNARGO_GIT_TOKEN",
                    value_from=argo.EnvVarSource(
                        secret_key_ref=argo.SecretKeySelector(
                            name=f"knargo-forge-{event.forge_name}", key="token"
                        )
                    ),
                ),
            ]
        return argo.Container(
            name="checkout",
            image=self.settings.checkout_image,
            command=["sh", "-c", jobpod.INIT_SCRIPT],
            env=variables,
            working_dir=jobpod.WORKSPACE,
            volume_mounts=mounts,
        )


def _fetch_ref(event: GitEvent) -> str:
    if event.kind is not EventKind.PULL_REQUEST or event.pr_number is None:
        return event.ref
    if event.forge_kind is ForgeKind.GITLAB:
        return f"refs/merge-requests/{event.pr_number}/head"
    return f"refs/pull/{event.pr_number}/head"


def _resources(runner: Runner) -> argo.Resources | None:
    if not runner.requests and not runner.limits:
        return None
    return argo.Resources(
        requests=dict(runner.requests) or None, limits=dict(runner.limits) or None
    )


def _retry(job: Job) -> argo.RetryStrategy | None:
    if job.retries is None or job.retries.limit == 0:
        return None
    return argo.RetryStrategy(
        limit=str(job.retries.limit),
        retry_policy=_RETRY_POLICIES[job.retries.policy],
        backoff=argo.Backoff(duration=f"{parse_duration(job.retries.backoff)}s", factor="2"),
    )


def _cron_workflows(
    config: CiConfig,
    event: GitEvent,
    settings: Settings,
    catalog: SecretCatalog | None,
    notes: list[str],
) -> list[dict[str, Any]]:
    schedules = config.triggers.schedule
    if not schedules:
        return []
    jobs = _selected_jobs(config, _variables(event, "schedule"), notes, "scheduled runs")
    if not jobs:
        notes.append("on.schedule: no job's if: condition holds for scheduled runs")
        return []
    builder = _Builder(config, event, settings, catalog, notes)
    spec = builder.spec(jobs, kind="schedule")
    run = _run_metadata(event, "schedule")
    result = []
    for index, entry in enumerate(schedules):
        labels = {
            **MANAGED_BY,
            LABEL + "repository-id": run["labels"][LABEL + "repository-id"],
            LABEL + "forge": run["labels"][LABEL + "forge"],
            LABEL + "schedule": str(index),
        }
        manifest = argo.CronWorkflow(
            metadata=argo.ObjectMeta(
                name=naming.cron_workflow_name(event.forge_name, event.repository, index),
                namespace=settings.namespace,
                labels=labels,
                annotations=naming.annotations_safe(
                    {
                        LABEL + "repository": event.repository,
                        LABEL + "sha": event.sha,
                        LABEL + "cron": entry.cron,
                    }
                ),
            ),
            spec=argo.CronWorkflowSpec(
                schedules=[entry.cron],
                timezone=entry.timezone,
                concurrency_policy="Forbid",
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                workflow_metadata=argo.ObjectMeta(**run),
                workflow_spec=spec,
            ),
        )
        result.append(manifest.to_manifest())
    return result
