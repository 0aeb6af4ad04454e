"""The WorkflowSpec of one run: a DAG template `pipeline` and one container template per job.

Each job template runs the checkout init container (`knargo.translation.jobpod`) and then the job's
image with its environment, secrets (`secretKeyRef`, never values), runner resources and
security context, timeout and retries. What every job's containers have alike (the checkout
container, the job container's command, mounts and shared env vars) is written once, in
`templateDefaults`, which Argo merges back into each template (`factor_defaults`,
`with_defaults`). Job pods mount no API token in the job's container: Argo's executor gets the
pipeline account's through `executor.serviceAccountName`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, cast

from knargo.config.catalog import SecretCatalog, SecretRef, resolve
from knargo.config.settings import Runner, Settings, Toleration
from knargo.contract.events import EventKind, ForgeKind, GitEvent
from knargo.formats import naming
from knargo.formats.durations import parse_duration
from knargo.language.dialect import CiConfig, Job
from knargo.translation import artifacts, checkout, jobpod, manifests, services
from knargo.translation.expansion import expand

__all__ = [
    "CONTINUE_ON_ERROR",
    "ENTRYPOINT",
    "JOB_ID",
    "LABEL",
    "SpecBuilder",
    "factor_defaults",
    "with_defaults",
]

LABEL = "knargo.dev/"
# A result of a task in a `depends` expression (`build.Succeeded`).
_RESULT = re.compile(
    r"(?<![\w-])([a-z0-9][-a-z0-9]*)\.(Succeeded|Failed|Errored|Skipped|Omitted)\b"
)
ENTRYPOINT = "pipeline"
CONTINUE_ON_ERROR = LABEL + "continue-on-error"
"""The annotation of a job's template that may fail (`continue-on-error`) in a DAG written
with `depends`, where Argo allows no `continueOn`."""
JOB_ID = LABEL + "job-id"
"""The annotation holding a job's id in ci.yaml where `knargo.dev/job` shows another name."""
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


def _strict() -> manifests.SecurityContext:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


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
        self._checkout_options = False
        self._jobs: dict[str, Job] = config.jobs
        self._files = False
        self.job_ids: dict[str, str] = {}

    def expanded(self, jobs: dict[str, Job]) -> dict[str, Job]:
        """The units `jobs` run as (`knargo.translation.expansion`), by how each is shown."""
        expansion = expand(jobs, naming.template_names(self.config.jobs))
        self.names.update(expansion.names)
        self.job_ids.update(expansion.job_ids)
        return expansion.jobs

    def templates(self, jobs: dict[str, Job], kind: str) -> list[manifests.Template]:
        """Each job's whole template, before `factor_defaults` moves what they share."""
        self._checkout_options = checkout.with_options(self.config, jobs, self.event)
        self._jobs = jobs
        self._files = any(artifacts.uses_files(j, jobs) for j in jobs.values())
        return [self._template(i, j, kind) for i, j in jobs.items()]

    def spec(
        self, jobs: dict[str, Job], kind: str, depends: Mapping[str, str] | None = None
    ) -> manifests.WorkflowSpec:
        """The spec running `jobs` (already selected) for an event of `kind`; `depends` holds
        the `depends` expression of each job that has one (`knargo.translation.depends`)."""
        jobs = self.expanded(jobs)
        defaults, templates = factor_defaults(
            self.templates(jobs, kind), self.settings.checkout_image
        )
        withheld = [i for i, j in jobs.items() if _has_secrets(j) and self.event.secrets_withheld]
        if withheld:
            self.notes.append(
                "pull request from a fork: secrets withheld from " + ", ".join(withheld)
            )
        settings = self.settings
        spec: manifests.WorkflowSpec = {
            "entrypoint": ENTRYPOINT,
            "serviceAccountName": settings.service_account,
            # Only Argo's executor containers get a token (of this account); the job's own
            # container gets none.
            "automountServiceAccountToken": False,
            "executor": {"serviceAccountName": settings.service_account},
            "activeDeadlineSeconds": settings.seconds("workflow_timeout"),
            "podGC": {
                "strategy": "OnPodSuccess",
                "deleteDelayDuration": f"{settings.seconds('pod_retention')}s",
            },
            "ttlStrategy": {"secondsAfterCompletion": settings.seconds("retention")},
            "volumes": [
                {"name": "workspace", "emptyDir": {}},
                {"name": "knargo", "emptyDir": {}},
            ],
            "templateDefaults": defaults,
            "templates": [self._dag(jobs, depends or {}, templates), *templates],
        }
        if self._files:  # set by `templates`
            spec["artifactRepositoryRef"] = artifacts.repository_ref(self.event)
        return spec

    def _dag(
        self,
        jobs: dict[str, Job],
        depends: Mapping[str, str],
        templates: list[manifests.Template],
    ) -> manifests.Template:
        """The DAG of `jobs`. Argo's controller refuses a DAG that mixes `depends` with
        `dependencies` or `continueOn` ("invalid spec"), so when a job reads results every
        task gets `depends`: a job's needs become `X.Succeeded`, or `(X.Succeeded || X.Failed
        || X.Errored)` for a `continue-on-error` job, and a job that may fail carries
        `knargo.dev/continue-on-error` on its template, since a failed leaf now fails Argo's
        DAG (`knargo.functions.status` reads it)."""
        results = any(self.job_ids.get(i, i) in depends for i in jobs)
        tasks: list[manifests.DAGTask] = []
        for job_id, job in jobs.items():
            task: manifests.DAGTask = {"name": self.names[job_id], "template": self.names[job_id]}
            needs = [n for n in job.needs if n in jobs]  # not those left out
            if self.job_ids.get(job_id, job_id) in depends:
                task["depends"] = self._combined(depends[self.job_ids.get(job_id, job_id)])
            elif needs and results:
                task["depends"] = " && ".join(self._passed(n, jobs[n]) for n in needs)
            elif needs:
                task["dependencies"] = [self.names[n] for n in needs]
            if job.continue_on_error and not results:
                task["continueOn"] = {"failed": True, "error": True}
            if artifacts.producers(job, jobs):
                task["arguments"] = artifacts.arguments(job, jobs, self.names)
            tasks.append(task)
        if results:
            for template in templates:
                unit = self._job_of(template["name"], jobs)
                if unit is not None and jobs[unit].continue_on_error and "metadata" in template:
                    template["metadata"]["annotations"][CONTINUE_ON_ERROR] = "true"
        return {"name": ENTRYPOINT, "dag": {"tasks": tasks}}

    def _passed(self, job_id: str, job: Job) -> str:
        """What `dependencies` means for one needed job, as a `depends` operand."""
        task = self.names[job_id]
        if job.continue_on_error:
            return f"({task}.Succeeded || {task}.Failed || {task}.Errored)"
        return f"{task}.Succeeded"

    def _job_of(self, template: str, jobs: dict[str, Job]) -> str | None:
        return next((i for i in jobs if self.names[i] == template), None)

    def _combined(self, expression: str) -> str:
        """`expression` with each result of a matrix job read over all its combinations: it
        succeeded when every combination did, failed (errored, was skipped or omitted) when
        one did, as a job needing it waits for all of them."""
        tasks: dict[str, list[str]] = {}
        originals = naming.template_names(self.config.jobs)
        for unit, job_id in self.job_ids.items():
            if self.config.jobs[job_id].matrix is not None:
                tasks.setdefault(originals[job_id], []).append(self.names[unit])

        def combined(found: re.Match[str]) -> str:
            names = tasks.get(found.group(1))
            if names is None:
                return found.group(0)
            op = " && " if found.group(2) == "Succeeded" else " || "
            return "(" + op.join(f"{n}.{found.group(2)}" for n in names) + ")"

        return _RESULT.sub(combined, expression) if tasks else expression

    def _template(self, job_id: str, job: Job, kind: str) -> manifests.Template:
        """The job's whole template; `factor_defaults` then moves what all jobs share."""
        runner = self.settings.runners.get(job.runner) or self.settings.runners["default"]
        env, encoded = self._env(job_id, job, kind)
        container: manifests.Container = {
            "image": job.image,
            "command": jobpod.main_command(job.shell, self._masked(job)),
            "env": env,
            "workingDir": jobpod.WORKSPACE,
            "volumeMounts": _mounts(),
        }
        resources = _resources(runner)
        if resources:
            container["resources"] = resources
        container["securityContext"] = _security(runner)
        template: manifests.Template = {
            "name": self.names[job_id],
            "metadata": {
                "labels": {LABEL + "job": naming.label_value(job_id)},
                "annotations": {LABEL + "job": job_id},
            },
            "initContainers": [self._checkout(job, encoded)],
            "container": container,
            "activeDeadlineSeconds": str(parse_duration(job.timeout or self.settings.job_timeout)),
        }
        if runner.node_selector:
            template["nodeSelector"] = dict(runner.node_selector)
        if runner.tolerations:
            template["tolerations"] = [_toleration(t) for t in runner.tolerations]
        retry = _retry(job)
        if retry:
            template["retryStrategy"] = retry
        if self._files:
            # Every job of such a pipeline runs the same command (it does nothing more for a
            # job without files), so that `templateDefaults` holds it once.
            container["command"] = artifacts.files_command(job.shell, self._masked(job))
        if artifacts.uses_files(job, self._jobs):
            received = artifacts.inputs(job, self._jobs, self.names, self.event)
            if received["artifacts"]:
                template["inputs"] = received
            kept = artifacts.outputs(job, self.names[job_id], self.event)
            if kept["artifacts"]:
                template["outputs"] = kept
        if job.services:
            template["sidecars"] = services.sidecars(job, self._secret_env, self.event.fork)
        if self.job_ids.get(job_id, job_id) != job_id:  # a combination, or a named job
            template["metadata"]["annotations"][JOB_ID] = self.job_ids[job_id]
        return template

    def _env(self, job_id: str, job: Job, kind: str) -> tuple[list[manifests.EnvVar], str]:
        """Plain env vars, and an encoded env file for the values Argo or Kubernetes rewrite."""
        event = self.event
        values = {
            "CI": "true",
            "KNARGO": "true",
            "KNARGO_HOME": jobpod.HOME,
            "KNARGO_JOB": self.job_ids.get(job_id, job_id),
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
        values.update(artifacts.env(job, event))
        if job.working_directory:
            # Entered by the job's command, which fails when the checkout lacks it (a
            # container's workingDir would be created silently).
            values[jobpod.WORKING_DIRECTORY] = job.working_directory.strip("/")
        if self._masked(job):
            # Names only: the job's command masks their values in its output.
            values[jobpod.MASKED] = " ".join(job.secrets)
        env, encoded = _transport(values)
        if not event.secrets_withheld:
            env += [self._secret_env(e, n) for e, n in job.secrets.items()]
        return env, encoded

    def _masked(self, job: Job) -> bool:
        """Whether the job's container reads secrets, whose values its command masks."""
        return bool(job.secrets) and not self.event.secrets_withheld

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
        env: list[manifests.EnvVar] = [
            {"name": "KNARGO_SCRIPT", "value": jobpod.encode(services.with_wait(job))}
        ]
        if encoded_env:
            env.append({"name": "KNARGO_ENV", "value": encoded_env})
        values = {
            "KNARGO_HOME": jobpod.HOME,
            "KNARGO_WORKSPACE": jobpod.WORKSPACE,
            "KNARGO_CLONE_URL": event.clone_url,
            "KNARGO_SHA": event.sha,
            "KNARGO_FETCH_REF": _fetch_ref(event),
        }
        if event.private:
            values["KNARGO_GIT_USERNAME"] = _GIT_USERNAMES[event.forge_kind]
        if self._checkout_options:
            if event.private:
                values["KNARGO_GIT_SCOPE"] = checkout.credential_scope(event)
            values[jobpod.CHECKOUT] = checkout.words(checkout.job_checkout(self.config, job))
        plain, encoded = _transport(values)
        if encoded:
            env.append({"name": "KNARGO_CHECKOUT_ENV", "value": encoded})
        env += plain
        if event.private:
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
            "command": ["sh", "-c", checkout.script(self._checkout_options)],
            "env": env,
            "workingDir": jobpod.WORKSPACE,
            "volumeMounts": _mounts(),
            "securityContext": _strict(),
        }


def _has_secrets(job: Job) -> bool:
    return bool(job.secrets) or any(s.secrets for s in job.services.values())


def _transport(values: dict[str, str]) -> tuple[list[manifests.EnvVar], str]:
    """Plain env vars for the values nothing rewrites; the others as one encoded env file."""
    plain: list[manifests.EnvVar] = []
    risky: dict[str, str] = {}
    for name, value in values.items():
        if jobpod.needs_encoding(value):
            risky[name] = value
        else:
            plain.append({"name": name, "value": value})
    return plain, jobpod.encode(jobpod.env_file(risky)) if risky else ""


# A job's own values stay in its template even when every job has the same.
_OWN_ENV = frozenset({"KNARGO_SCRIPT", "KNARGO_ENV", "KNARGO_JOB"})


def factor_defaults(
    templates: list[manifests.Template], default_image: str
) -> tuple[manifests.TemplateDefaults, list[manifests.Template]]:
    """Move what every job's containers share into `templateDefaults`.

    Argo merges `templateDefaults` into each template with a strategic merge patch (lists of
    containers, env vars and volume mounts merged by `name`, other values replaced). Only a
    field or env var that every template has, with the same value, moves, so merging gives
    each template back exactly: nothing from the defaults meets a different value of its own.
    The image stays in each template (the JSON schema wants one in the defaults too:
    `default_image`, which no template uses). Template-level fields stay, since the defaults
    also reach the DAG template, where a deadline is invalid.
    """
    inits = [cast(dict[str, Any], t["initContainers"][0]) for t in templates]
    mains = [cast(dict[str, Any], t["container"]) for t in templates]
    init_shared = _shared(inits, frozenset({"name"}))
    main_shared = _shared(mains, frozenset({"image"}))
    result: list[manifests.Template] = []
    for template, init, main in zip(templates, inits, mains, strict=True):
        own = dict(template)
        patch = _without(init, init_shared)
        if set(patch) == {"name"}:
            del own["initContainers"]
        else:
            own["initContainers"] = [cast(manifests.Container, patch)]
        own["container"] = cast(manifests.Container, _without(main, main_shared))
        result.append(cast(manifests.Template, own))
    defaults: manifests.TemplateDefaults = {
        "initContainers": [cast(manifests.Container, {"name": inits[0]["name"], **init_shared})],
        "container": cast(manifests.Container, {"image": default_image, **main_shared}),
    }
    return defaults, result


def _shared(containers: list[dict[str, Any]], kept: frozenset[str]) -> dict[str, Any]:
    """The fields (but `kept`) and env vars every container has alike."""
    first, others = containers[0], containers[1:]
    shared: dict[str, Any] = {}
    for key, value in first.items():
        if key in kept:
            continue
        if key == "env":
            env = [
                e
                for e in value
                if e["name"] not in _OWN_ENV and all(e in o.get("env", ()) for o in others)
            ]
            if env:
                shared["env"] = env
        elif all(key in o and o[key] == value for o in others):
            shared[key] = value
    return shared


def _without(container: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    own = {k: v for k, v in container.items() if k == "env" or k not in shared}
    if "env" in own:
        env = [e for e in own["env"] if e not in shared.get("env", ())]
        if env:
            own["env"] = env
        else:
            del own["env"]
    return own


def with_defaults(
    defaults: Mapping[str, Any] | None, template: Mapping[str, Any]
) -> dict[str, Any]:
    """`template` as Argo runs it: `defaults` merged in as by `factor_defaults`'s rules.

    The subset of Kubernetes' strategic merge that knargo's manifests use: mappings merge
    key by key, lists of named items (containers, env vars, volume mounts, volumes) merge by
    `name`, any other value of the template replaces the default. Only container templates
    take the defaults' containers (Argo keeps a template's type).
    """
    if not defaults:
        return dict(template)
    merged = _merge(dict(defaults), template)
    if "container" not in template:
        merged.pop("container", None)
        merged.pop("initContainers", None)
    return cast(dict[str, Any], merged)


def _merge(default: Any, value: Any) -> Any:
    if isinstance(default, Mapping) and isinstance(value, Mapping):
        merged = dict(default)
        for key, item in value.items():
            merged[key] = _merge(default[key], item) if key in default else item
        return merged
    if _named(default) and _named(value):
        by_name = {item["name"]: item for item in default}
        for item in value:
            by_name[item["name"]] = _merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return value


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, Mapping) and "name" in item for item in value
    )


def _security(runner: Runner) -> manifests.SecurityContext:
    relaxed = runner.security
    context = _strict()
    if relaxed.allow_privilege_escalation:
        context["allowPrivilegeEscalation"] = True
    if relaxed.capabilities:
        context["capabilities"] = {"drop": ["ALL"], "add": list(relaxed.capabilities)}
    if relaxed.seccomp != "RuntimeDefault":
        context["seccompProfile"] = {"type": relaxed.seccomp}
    return context


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
