"""The WorkflowSpec of one run: a DAG template `pipeline` and one container template per job.

Each job template runs the checkout init container (`knargo.translation.jobpod`) and then the job's
image with its environment, secrets (`secretKeyRef`, never values), runner resources,
timeout and retries.
"""

from __future__ import annotations

from typing import Literal

from knargo.config.catalog import SecretCatalog, SecretRef, resolve
from knargo.config.settings import Runner, Settings, Toleration
from knargo.contract.events import EventKind, ForgeKind, GitEvent
from knargo.formats import naming
from knargo.formats.durations import parse_duration
from knargo.language.dialect import CiConfig, Job
from knargo.translation import jobpod, manifests

__all__ = ["ENTRYPOINT", "LABEL", "SpecBuilder"]

LABEL = "knargo.dev/"
ENTRYPOINT = "pipeline"
_POLICIES: dict[str, Literal["Always", "OnFailure", "OnError", "OnTransientError"]] = {
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


def _mounts() -> list[manifests.VolumeMount]:
    return [
        {"name": "workspace", "mountPath": jobpod.WORKSPACE},
        {"name": "knargo", "mountPath": jobpod.HOME},
    ]


class SpecBuilder:
    """Builds WorkflowSpecs for one event; collects notes on the way."""

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
        self._secrets: dict[str, SecretRef] = {}

    def spec(self, jobs: dict[str, Job], kind: str) -> manifests.WorkflowSpec:
        """The spec running `jobs` (already selected) for an event of `kind`."""
        templates = [self._dag(jobs)] + [self._template(i, j, kind) for i, j in jobs.items()]
        withheld = [i for i, j in jobs.items() if j.secrets and self.event.fork]
        if withheld:
            self.notes.append(
                "pull request from a fork: secrets withheld from " + ", ".join(withheld)
            )
        settings = self.settings
        return {
            "entrypoint": ENTRYPOINT,
            "serviceAccountName": settings.service_account,
            "activeDeadlineSeconds": settings.seconds("workflow_timeout"),
            "podGC": {
                "strategy": "OnPodSuccess",
                "deleteDelayDuration": f"{settings.seconds('pod_retention')}s",
            },
            "ttlStrategy": {"secondsAfterCompletion": settings.seconds("retention")},
            "templates": templates,
        }

    def _dag(self, jobs: dict[str, Job]) -> manifests.Template:
        tasks: list[manifests.DAGTask] = []
        for job_id, job in jobs.items():
            task: manifests.DAGTask = {"name": self.names[job_id], "template": self.names[job_id]}
            if job.needs:
                task["dependencies"] = [self.names[n] for n in job.needs]
            if job.continue_on_error:
                task["continueOn"] = {"failed": True, "error": True}
            tasks.append(task)
        return {"name": ENTRYPOINT, "dag": {"tasks": tasks}}

    def _template(self, job_id: str, job: Job, kind: str) -> manifests.Template:
        runner = self.settings.runners.get(job.runner) or self.settings.runners["default"]
        env, encoded = self._env(job_id, job, kind)
        workdir = jobpod.WORKSPACE
        if job.working_directory:
            workdir += "/" + job.working_directory.strip("/")
        container: manifests.Container = {
            "image": job.image,
            "command": jobpod.main_command(job.shell),
            "env": env,
            "workingDir": workdir,
            "volumeMounts": _mounts(),
        }
        resources = _resources(runner)
        if resources:
            container["resources"] = resources
        template: manifests.Template = {
            "name": self.names[job_id],
            "metadata": {
                "labels": {LABEL + "job": naming.label_value(job_id)},
                "annotations": {LABEL + "job": job_id},
            },
            "initContainers": [self._checkout(job, encoded)],
            "container": container,
            "volumes": [{"name": "workspace", "emptyDir": {}}, {"name": "knargo", "emptyDir": {}}],
            "activeDeadlineSeconds": str(parse_duration(job.timeout or self.settings.job_timeout)),
        }
        if runner.node_selector:
            template["nodeSelector"] = dict(runner.node_selector)
        if runner.tolerations:
            template["tolerations"] = [_toleration(t) for t in runner.tolerations]
        retry = _retry(job)
        if retry:
            template["retryStrategy"] = retry
        return template

    def _env(self, job_id: str, job: Job, kind: str) -> tuple[list[manifests.EnvVar], str]:
        """Plain env vars, and an encoded env file for the values Argo would rewrite."""
        event = self.event
        values = {
            "CI": "true",
            "KNARGO": "true",
            "KNARGO_HOME": jobpod.HOME,
            "KNARGO_JOB": job_id,
            "KNARGO_EVENT": kind,
            "KNARGO_REPOSITORY": event.repository,
            "KNARGO_REF": event.ref,
            "KNARGO_SHA": event.sha,
            # The checkout belongs to another user than the job may run as.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }
        if event.pr_number is not None:
            values["KNARGO_PULL_REQUEST"] = str(event.pr_number)
        values.update(self.config.env)
        values.update(job.env)
        env: list[manifests.EnvVar] = []
        risky: dict[str, str] = {}
        for name, value in values.items():
            if jobpod.needs_encoding(value):
                risky[name] = value
            else:
                env.append({"name": name, "value": value})
        if not event.fork:
            env += [self._secret_env(e, n) for e, n in job.secrets.items()]
        return env, jobpod.encode(jobpod.env_file(risky)) if risky else ""

    def _secret_env(self, env_name: str, secret: str) -> manifests.EnvVar:
        ref = self._secrets.get(secret)
        if ref is None:
            ref = self._secrets[secret] = self._resolve(secret)
        return {
            "name": env_name,
            "valueFrom": {"secretKeyRef": {"name": ref.object_name, "key": ref.key}},
        }

    def _resolve(self, name: str) -> SecretRef:
        found = resolve(self.catalog, self.event.scope, name) if self.catalog else None
        if found is None:
            self.notes.append(
                f"secret {name}: assumed in the repository's own scope {self.event.scope}"
            )
            return SecretRef(self.event.scope, name)
        return found

    def _checkout(self, job: Job, encoded_env: str) -> manifests.Container:
        event = self.event
        env: list[manifests.EnvVar] = [{"name": "KNARGO_SCRIPT", "value": jobpod.encode(job.run)}]
        if encoded_env:
            env.append({"name": "KNARGO_ENV", "value": encoded_env})
        env += [
            {"name": "KNARGO_HOME", "value": jobpod.HOME},
            {"name": "KNARGO_WORKSPACE", "value": jobpod.WORKSPACE},
            {"name": "KNARGO_CLONE_URL", "value": event.clone_url},
            {"name": "KNARGO_SHA", "value": event.sha},
            {"name": "KNARGO_FETCH_REF", "value": _fetch_ref(event)},
        ]
        if event.private:
            env.append({"name": "KNARGO_GIT_USERNAME", "value": _GIT_USERNAMES[event.forge_kind]})
            env.append(
                {
                    "name": "KNARGO_GIT_TOKEN",
                    "valueFrom": {
                        "secretKeyRef": {"name": f"knargo-forge-{event.forge_name}", "key": "token"}
                    },
                }
            )
        return {
            "name": "checkout",
            "image": self.settings.checkout_image,
            "command": ["sh", "-c", jobpod.INIT_SCRIPT],
            "env": env,
            "workingDir": jobpod.WORKSPACE,
            "volumeMounts": _mounts(),
        }


def _fetch_ref(event: GitEvent) -> str:
    if event.kind is not EventKind.PULL_REQUEST or event.pr_number is None:
        return event.ref
    if event.forge_kind is ForgeKind.GITLAB:
        return f"refs/merge-requests/{event.pr_number}/head"
    return f"refs/pull/{event.pr_number}/head"


def _resources(runner: Runner) -> manifests.Resources:
    resources: manifests.Resources = {}
    if runner.requests:
        resources["requests"] = dict(runner.requests)
    if runner.limits:
        resources["limits"] = dict(runner.limits)
    return resources


def _toleration(toleration: Toleration) -> manifests.Toleration:
    result: manifests.Toleration = {}
    if toleration.key is not None:
        result["key"] = toleration.key
    result["operator"] = toleration.operator
    if toleration.value is not None:
        result["value"] = toleration.value
    if toleration.effect is not None:
        result["effect"] = toleration.effect
    if toleration.toleration_seconds is not None:
        result["tolerationSeconds"] = toleration.toleration_seconds
    return result


def _retry(job: Job) -> manifests.RetryStrategy | None:
    if job.retries is None or job.retries.limit == 0:
        return None
    return {
        "limit": str(job.retries.limit),
        "retryPolicy": _POLICIES[job.retries.policy],
        "backoff": {"duration": f"{parse_duration(job.retries.backoff)}s", "factor": "2"},
    }
