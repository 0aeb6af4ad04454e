"""Typed models of the Argo Workflows manifests knargo emits (argoproj.io/v1alpha1).

Only the fields knargo sets are modelled. Field order is the order humans read manifests in
(`apiVersion`, `kind`, `metadata`, `spec`; `name` first), and `to_manifest` is the one path
to plain data: camelCase keys, no empty fields. Argo types some fields as IntOrString
(`activeDeadlineSeconds` of a template, `retryStrategy.limit`, `backoff.factor`); they are
strings here, which both Argo's JSON schema and its CRDs accept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Backoff",
    "Container",
    "ContinueOn",
    "CronWorkflow",
    "CronWorkflowSpec",
    "DAGTask",
    "DAGTemplate",
    "EnvVar",
    "EnvVarSource",
    "Metadata",
    "ObjectMeta",
    "PodGC",
    "Resources",
    "RetryStrategy",
    "SecretKeySelector",
    "TTLStrategy",
    "Template",
    "Toleration",
    "Volume",
    "VolumeMount",
    "Workflow",
    "WorkflowSpec",
]

API_VERSION = "argoproj.io/v1alpha1"


class _Argo(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    def to_manifest(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(_Argo):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Metadata(_Argo):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class SecretKeySelector(_Argo):
    name: str
    key: str


class EnvVarSource(_Argo):
    secret_key_ref: SecretKeySelector


class EnvVar(_Argo):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class Resources(_Argo):
    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None


class VolumeMount(_Argo):
    name: str
    mount_path: str


class Container(_Argo):
    name: str | None = None
    image: str
    command: list[str]
    env: list[EnvVar] | None = None
    working_dir: str | None = None
    resources: Resources | None = None
    volume_mounts: list[VolumeMount] | None = None


class Toleration(_Argo):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class Volume(_Argo):
    name: str
    empty_dir: dict[str, str]


class Backoff(_Argo):
    duration: str
    factor: str


class RetryStrategy(_Argo):
    limit: str
    retry_policy: Literal["Always", "OnFailure", "OnError", "OnTransientError"]
    backoff: Backoff | None = None


class ContinueOn(_Argo):
    failed: bool = True
    error: bool = True


class DAGTask(_Argo):
    name: str
    template: str
    dependencies: list[str] | None = None
    continue_on: ContinueOn | None = None


class DAGTemplate(_Argo):
    tasks: list[DAGTask]


class Template(_Argo):
    name: str
    metadata: Metadata | None = None
    dag: DAGTemplate | None = None
    init_containers: list[Container] | None = None
    container: Container | None = None
    volumes: list[Volume] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    active_deadline_seconds: str | None = None
    retry_strategy: RetryStrategy | None = None


class PodGC(_Argo):
    strategy: Literal[
        "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"
    ]
    delete_delay_duration: str | None = None


class TTLStrategy(_Argo):
    seconds_after_completion: int


class WorkflowSpec(_Argo):
    entrypoint: str
    service_account_name: str | None = None
    active_deadline_seconds: int | None = None
    pod_gc: PodGC | None = Field(default=None, alias="podGC")
    ttl_strategy: TTLStrategy | None = None
    templates: list[Template]


class Workflow(_Argo):
    api_version: str = API_VERSION
    kind: Literal["Workflow"] = "Workflow"
    metadata: ObjectMeta
    spec: WorkflowSpec


class CronWorkflowSpec(_Argo):
    schedules: list[str]
    timezone: str | None = None
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    starting_deadline_seconds: int | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None
    workflow_metadata: ObjectMeta | None = None
    workflow_spec: WorkflowSpec


class CronWorkflow(_Argo):
    api_version: str = API_VERSION
    kind: Literal["CronWorkflow"] = "CronWorkflow"
    metadata: ObjectMeta
    spec: CronWorkflowSpec
