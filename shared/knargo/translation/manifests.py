"""The Argo Workflows manifests knargo emits (argoproj.io/v1alpha1), as typed dictionaries.

Only the fields knargo sets are declared, with Argo's own (camelCase) names, so mypy checks
every key and value the translator writes while the manifests stay plain data: no model to
build at import and nothing to convert before they are dumped or sent (a 1,000-job pipeline
is thousands of objects). Tests validate every manifest against Argo's published JSON schemas
and CRDs. Keys are inserted in the order people read manifests (`apiVersion`, `kind`,
`metadata`, `spec`; `name` first). Argo types some fields as IntOrString (`activeDeadlineSeconds`
of a template, `retryStrategy.limit`, `backoff.factor`); they are strings here, which both the
JSON schema and the CRD accept.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = [
    "API_VERSION",
    "Arguments",
    "Artifact",
    "ArtifactRepositoryRef",
    "Artifacts",
    "Backoff",
    "Capabilities",
    "Container",
    "ContinueOn",
    "CronWorkflow",
    "CronWorkflowSpec",
    "DAGTask",
    "DAGTemplate",
    "EnvVar",
    "EnvVarSource",
    "ExecutorConfig",
    "Metadata",
    "Mutex",
    "ObjectMeta",
    "PodGC",
    "Resources",
    "RetryStrategy",
    "S3Artifact",
    "SeccompProfile",
    "SecretKeySelector",
    "SecurityContext",
    "Synchronization",
    "TTLStrategy",
    "Template",
    "TemplateDefaults",
    "Toleration",
    "Volume",
    "VolumeMount",
    "Workflow",
    "WorkflowSpec",
]

API_VERSION = "argoproj.io/v1alpha1"


class ObjectMeta(TypedDict):
    name: NotRequired[str]
    namespace: NotRequired[str]
    labels: dict[str, str]
    annotations: dict[str, str]


class Metadata(TypedDict):
    labels: dict[str, str]
    annotations: dict[str, str]


class SecretKeySelector(TypedDict):
    name: str
    key: str


class EnvVarSource(TypedDict):
    secretKeyRef: SecretKeySelector


class EnvVar(TypedDict):
    name: str
    value: NotRequired[str]
    valueFrom: NotRequired[EnvVarSource]


class Resources(TypedDict, total=False):
    requests: dict[str, str]
    limits: dict[str, str]


class VolumeMount(TypedDict):
    name: str
    mountPath: str


class Capabilities(TypedDict):
    drop: list[str]
    add: NotRequired[list[str]]


class SeccompProfile(TypedDict):
    type: Literal["RuntimeDefault", "Unconfined"]


class SecurityContext(TypedDict):
    allowPrivilegeEscalation: bool
    capabilities: Capabilities
    seccompProfile: SeccompProfile


class Container(TypedDict):
    """A container, or the part of one a template adds to `templateDefaults`."""

    name: NotRequired[str]
    image: NotRequired[str]
    command: NotRequired[list[str]]
    env: NotRequired[list[EnvVar]]
    workingDir: NotRequired[str]
    resources: NotRequired[Resources]
    volumeMounts: NotRequired[list[VolumeMount]]
    securityContext: NotRequired[SecurityContext]


class Toleration(TypedDict, total=False):
    key: str
    operator: str
    value: str
    effect: str
    tolerationSeconds: int


class Volume(TypedDict):
    name: str
    emptyDir: dict[str, str]


class Backoff(TypedDict):
    duration: str
    factor: str


class RetryStrategy(TypedDict):
    limit: str
    retryPolicy: Literal["Always", "OnFailure", "OnError", "OnTransientError"]
    backoff: Backoff


class ContinueOn(TypedDict):
    failed: bool
    error: bool


class S3Artifact(TypedDict):
    """Only the key: the rest comes from the Workflow's artifact repository."""

    key: str


# `from` is a Python keyword: the functional form.
Artifact = TypedDict(
    "Artifact",
    {
        "name": str,
        "path": NotRequired[str],
        "from": NotRequired[str],
        "optional": NotRequired[bool],
        "s3": NotRequired[S3Artifact],
    },
)


class Artifacts(TypedDict):
    """A template's `inputs` or `outputs`, or a DAG task's `arguments`: artifacts only."""

    artifacts: list[Artifact]


Arguments = Artifacts


class ArtifactRepositoryRef(TypedDict):
    configMap: str
    key: str


class DAGTask(TypedDict):
    name: str
    template: str
    dependencies: NotRequired[list[str]]
    continueOn: NotRequired[ContinueOn]
    arguments: NotRequired[Arguments]
    depends: NotRequired[str]


class DAGTemplate(TypedDict):
    tasks: list[DAGTask]


class Mutex(TypedDict):
    name: str


class Synchronization(TypedDict):
    mutexes: list[Mutex]
    """`mutexes`, not the singular `mutex`: Argo 4 knows only the list (3.6 added it)."""


class Template(TypedDict):
    name: str
    metadata: NotRequired[Metadata]
    dag: NotRequired[DAGTemplate]
    initContainers: NotRequired[list[Container]]
    container: NotRequired[Container]
    nodeSelector: NotRequired[dict[str, str]]
    tolerations: NotRequired[list[Toleration]]
    activeDeadlineSeconds: NotRequired[str]
    retryStrategy: NotRequired[RetryStrategy]
    inputs: NotRequired[Artifacts]
    outputs: NotRequired[Artifacts]
    sidecars: NotRequired[list[Sidecar]]
    suspend: NotRequired[dict[str, str]]
    """An approval gate: the node waits until resumed (knargo.translation.gates)."""
    synchronization: NotRequired[Synchronization]
    """A job's concurrency group (knargo.translation.mutexes)."""


class PodGC(TypedDict):
    strategy: Literal[
        "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"
    ]
    deleteDelayDuration: str


class TTLStrategy(TypedDict):
    secondsAfterCompletion: int


class TemplateDefaults(TypedDict):
    """What Argo merges into every template (a strategic merge patch, the template wins)."""

    initContainers: list[Container]
    container: Container


class ExecutorConfig(TypedDict):
    serviceAccountName: str


class WorkflowSpec(TypedDict):
    entrypoint: str
    serviceAccountName: str
    automountServiceAccountToken: bool
    executor: ExecutorConfig
    activeDeadlineSeconds: int
    podGC: PodGC
    ttlStrategy: TTLStrategy
    volumes: list[Volume]
    templateDefaults: TemplateDefaults
    templates: list[Template]
    artifactRepositoryRef: NotRequired[ArtifactRepositoryRef]


class Workflow(TypedDict):
    apiVersion: str
    kind: Literal["Workflow"]
    metadata: ObjectMeta
    spec: WorkflowSpec


class CronWorkflowSpec(TypedDict):
    schedules: list[str]
    timezone: str
    concurrencyPolicy: Literal["Allow", "Forbid", "Replace"]
    successfulJobsHistoryLimit: int
    failedJobsHistoryLimit: int
    workflowMetadata: ObjectMeta
    workflowSpec: WorkflowSpec


class CronWorkflow(TypedDict):
    apiVersion: str
    kind: Literal["CronWorkflow"]
    metadata: ObjectMeta
    spec: CronWorkflowSpec


class ContainerPort(TypedDict):
    containerPort: int
    protocol: Literal["TCP"]


class SubPathMount(TypedDict):
    name: str
    mountPath: str
    subPath: str


class ExecAction(TypedDict):
    command: list[str]


class LifecycleHandler(TypedDict):
    exec: ExecAction


class Lifecycle(TypedDict):
    postStart: LifecycleHandler


class SidecarSecurityContext(TypedDict):
    allowPrivilegeEscalation: bool
    seccompProfile: SeccompProfile


class Sidecar(TypedDict):
    """A service of a job: a container beside the main one (`template.sidecars`)."""

    name: str
    image: str
    env: NotRequired[list[EnvVar]]
    ports: NotRequired[list[ContainerPort]]
    volumeMounts: list[SubPathMount]
    lifecycle: Lifecycle
    securityContext: SidecarSecurityContext
