"""The platform configuration (`KNARGO_CONFIG`): namespace, forges, runner aliases, defaults.

Read once at start-up into a frozen `Settings`; every key but `forges` has a default. Errors
are diagnostics with the file's line and column, like those of `ci.yaml`.
"""

from __future__ import annotations

import re
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from knargo.contract.events import ForgeKind
from knargo.formats import positions
from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.durations import DurationError, parse_duration
from knargo.formats.locate import diagnostics_from, user_error

__all__ = ["Forge", "Runner", "Settings", "Toleration", "load_settings"]

# Kubernetes resource.Quantity syntax (as in the CRDs' pattern).
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _quantity(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        value = str(value)
    if isinstance(value, str) and not _QUANTITY.match(value):
        raise user_error("quantity", f'invalid resource quantity "{value}" (e.g. 500m, 2, 1Gi)')
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        populate_by_name=True,
    )


class Toleration(_Model):
    """A Kubernetes toleration, copied into pipeline pods of a runner alias."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")


class RunnerSecurity(_Model):
    """How far a runner alias relaxes the job container's default security context.

    By default a job's container cannot gain privileges (`allowPrivilegeEscalation: false`),
    has every Linux capability dropped and runs under the runtime's default seccomp profile.
    """

    allow_privilege_escalation: bool = Field(default=False, alias="allowPrivilegeEscalation")
    """Let processes gain privileges (setuid binaries such as `sudo`)."""
    capabilities: list[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]] = []
    """Capabilities added back after dropping all, e.g. `[CHOWN, SETUID, SETGID]` (apt-get)."""
    seccomp: Literal["RuntimeDefault", "Unconfined"] = "RuntimeDefault"
    """The seccomp profile type."""

    @property
    def relaxed(self) -> bool:
        return self != RunnerSecurity()


class Runner(_Model):
    """A runner alias: what a job with `runner: <alias>` gets."""

    requests: dict[str, Quantity] = {}
    """Resource requests, e.g. `{cpu: 500m, memory: 1Gi}`."""
    limits: dict[str, Quantity] = {}
    """Resource limits, e.g. `{memory: 1Gi, nvidia.com/gpu: "1"}`."""
    node_selector: dict[str, str] = Field(default={}, alias="nodeSelector")
    """Node labels the pod must land on."""
    tolerations: list[Toleration] = []
    """Taints the pod tolerates."""
    security: RunnerSecurity = RunnerSecurity()
    """What the job's container may do beyond the strict default (see docs/deploy.md)."""


class Forge(_Model):
    """A forge whose deliveries knargo accepts."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    """Names the credential files: `<name>.webhook-secret`, `<name>.token`."""
    kind: Annotated[ForgeKind, Field(strict=False)]
    """`github`, `gitlab` or `gitea` (Forgejo is `gitea`)."""
    api_url: str
    """API base URL, e.g. `https://api.github.com`, `https://gitlab.example.com/api/v4`."""
    web_url: str
    """Web URL; deliveries are matched to a forge by kind and this URL's host."""
    app_id: Annotated[int, Field(gt=0)] | None = None
    """GitHub only: the GitHub App's id. knargo then authenticates as the App (its private
    key in the credential `<name>.app-key`) with a token per installation instead of
    `<name>.token`, and reports with check runs instead of commit statuses."""
    log_comments: bool = False
    """Without check runs (a token, GitLab, Gitea): post the tail of a failed job's log once
    as a comment on the pull request (merge request) it ran for, masked as check runs are."""

    @model_validator(mode="after")
    def _app_on_github(self) -> Forge:
        if self.app_id is not None and self.kind is not ForgeKind.GITHUB:
            raise ValueError("app_id: only a forge of kind github authenticates as an App")
        return self

    @property
    def host(self) -> str:
        return self.web_url.split("://", 1)[-1].split("/", 1)[0].lower()


_DEFAULT_RUNNERS = {
    "default": Runner(requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "1Gi"}),
}
SAMPLE_RUNNERS = {
    **_DEFAULT_RUNNERS,
    "large": Runner(requests={"cpu": "4", "memory": "8Gi"}, limits={"cpu": "4", "memory": "8Gi"}),
    "gpu": Runner(
        requests={"cpu": "8", "memory": "32Gi"},
        limits={"nvidia.com/gpu": "1"},
        node_selector={"accelerator": "nvidia"},
        tolerations=[Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
    ),
}
PUBLIC_FORGES = (
    Forge(
        name="github",
        kind=ForgeKind.GITHUB,
        api_url="https://api.github.com",
        web_url="https://github.com",
    ),
    Forge(
        name="gitlab",
        kind=ForgeKind.GITLAB,
        api_url="https://gitlab.com/api/v4",
        web_url="https://gitlab.com",
    ),
    Forge(
        name="codeberg",
        kind=ForgeKind.GITEA,
        api_url="https://codeberg.org/api/v1",
        web_url="https://codeberg.org",
    ),
)


class Settings(_Model):
    """knargo's configuration file."""

    namespace: str = "ci"
    """Where Workflows and CronWorkflows are created."""
    service_account: str = "knargo-pipeline"
    """The service account pipeline pods run as."""
    argo_ui_url: str = "http://localhost:2746"
    """Base URL of the Argo UI, for links in commit statuses."""
    ci_file: str = "ci.yaml"
    """Path of the pipeline file in repositories."""
    status_context: str = "knargo"
    """Commit status contexts: `<prefix>` and `<prefix>/<job>`."""
    fork_pull_requests: Literal["run", "skip", "approve"] = "run"
    """`run` pull requests from forks (without secrets), `skip` them, or `approve`: run a
    fork's commit only after a maintainer's `/ok-to-test` (then with secrets)."""
    forges: list[Forge] = Field(min_length=1)
    """The forges deliveries may come from."""
    runners: dict[str, Runner] = Field(default_factory=lambda: dict(_DEFAULT_RUNNERS))
    """Runner aliases; jobs without `runner:` get `default`."""
    allowed_registries: list[str] = []
    """If set, job images must start with one of these prefixes (e.g. `ghcr.io/acme/`)."""
    job_timeout: str = "1h"
    """Timeout of a job without `timeout:`."""
    workflow_timeout: str = "6h"
    """Deadline of a whole pipeline run."""
    retention: str = "7d"
    """How long a finished Workflow object is kept (then deleted by Argo's TTL)."""
    pod_retention: str = "10m"
    """How long the pod of a successful job is kept (failed jobs keep theirs until the TTL)."""
    checkout_image: str = "alpine/git:2.47.2"
    """Image of the init container that checks out the commit (needs `sh`, `git`, `base64`)."""
    argo_server_url: str | None = None
    """Argo Server's URL as report reaches it (e.g. `https://argo-server.argo:2746`), to read a
    failed job's archived log when its pod is gone (`archiveLogs`); none: not read. With
    Argo Server's `client` auth mode, the credential `argo.token` is sent as its bearer token."""

    @field_validator("job_timeout", "workflow_timeout", "retention", "pod_retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except DurationError as exc:
            raise user_error("duration", str(exc)) from None
        return value

    @classmethod
    def embedded(cls) -> Settings:
        """Used when no configuration file is given: the public forges, sample runners."""
        return cls(forges=list(PUBLIC_FORGES), runners=dict(SAMPLE_RUNNERS))

    def forge_for_host(self, host: str) -> Forge | None:
        return next((f for f in self.forges if f.host == host.lower()), None)

    def seconds(
        self, key: Literal["job_timeout", "workflow_timeout", "retention", "pod_retention"]
    ) -> int:
        return parse_duration(getattr(self, key))


def load_settings(path: str | FilePath) -> tuple[Settings | None, list[Diagnostic]]:
    """Read a configuration file; the diagnostics say what is wrong and where."""
    text, problems = positions.read(path)
    return (None, problems) if text is None else parse_settings(text, str(path))


def parse_settings(text: str, file: str) -> tuple[Settings | None, list[Diagnostic]]:
    doc, diagnostics = positions.load(text, file)
    if doc is None or diagnostics:
        return None, diagnostics
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        return None, [Diagnostic(file, 1, 1, Severity.ERROR, "expected a mapping", "schema")]
    try:
        return Settings.model_validate(data), []
    except ValidationError as exc:
        return None, diagnostics_from(exc, doc, file, Settings, _describe)


def _describe(path: positions.Path) -> str:
    return f" in {'.'.join(str(p) for p in path)}" if path else ""
