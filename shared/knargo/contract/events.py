"""The events that flow between the functions: their types and their data.

This module is the one place where event type strings are written. `GitEvent` is the
forge-neutral description of a push or pull request that `webhook` produces and every later
step consumes; its JSON field names are part of the contract (DESIGN §5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GIT_COMMENT",
    "GIT_PULL_REQUEST",
    "GIT_PUSH",
    "PIPELINE_REJECTED",
    "PIPELINE_SKIPPED",
    "PIPELINE_SUBMITTED",
    "WORKFLOW_UPDATED",
    "CommentEvent",
    "Envelope",
    "EventKind",
    "ForgeKind",
    "GitEvent",
]

GIT_PUSH = "dev.knargo.git.push"
GIT_PULL_REQUEST = "dev.knargo.git.pull_request"
PIPELINE_SUBMITTED = "dev.knargo.pipeline.submitted"
PIPELINE_REJECTED = "dev.knargo.pipeline.rejected"
PIPELINE_SKIPPED = "dev.knargo.pipeline.skipped"
WORKFLOW_UPDATED = "dev.knargo.workflow.updated"
GIT_COMMENT = "dev.knargo.git.comment"


class ForgeKind(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


class EventKind(StrEnum):
    PUSH = "push"
    TAG = "tag"
    PULL_REQUEST = "pull_request"


class GitEvent(BaseModel):
    """A push, tag push or pull request, normalised from any forge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    forge_kind: ForgeKind
    """`github`, `gitlab` or `gitea` (Forgejo is `gitea`)."""
    forge_name: str
    """The `name` of the matching forge in the configuration."""
    repository: str
    """Full name, `owner/name` (GitLab: the full namespace path)."""
    repository_url: str
    """The repository's web URL."""
    clone_url: str
    """The repository's HTTPS clone URL."""
    default_branch: str
    """The repository's default branch, as the forge reports it."""
    private: bool = False
    """Whether the repository is private (jobs then fetch with the forge token)."""
    kind: EventKind
    """`push`, `tag` or `pull_request`."""
    ref: str
    """Full ref: `refs/heads/main`, `refs/tags/v1`; for pull requests the head branch ref."""
    sha: str
    """The commit to build (for annotated tags the commit, not the tag object)."""
    before: str | None = None
    """The previous head, when known."""
    changed_paths: tuple[str, ...] = ()
    """Paths changed by the event, as far as the payload lists them."""
    changed_paths_complete: bool = False
    """Whether `changed_paths` is the complete list."""
    pr_number: int | None = None
    """Pull requests: the number (GitLab: the merge request iid)."""
    base_ref: str | None = None
    """Pull requests: the target branch ref."""
    head_repository: str | None = None
    """Pull requests: the full name of the repository the head commit lives in."""
    fork: bool = False
    """Whether the head lives in another repository (`false` for pushes)."""
    sender: str = ""
    """Who triggered the event."""
    delivery_id: str = Field(min_length=1)
    """The forge's delivery identity, used as the CloudEvent id."""
    traceparent: str | None = None
    """W3C trace context of the delivery, when one is known."""
    received_at: str | None = None
    """When the webhook received the delivery (ISO 8601, UTC), for end-to-end latency."""
    approved_by: str | None = None
    """A fork's pull request: the maintainer whose `/ok-to-test` approved this commit (`sha`),
    so that its jobs get their secrets. Only generate sets it, from an authorized comment."""
    installation_id: int | None = None
    """GitHub App: the installation the delivery came from (`installation.id`), whose token
    reads and reports for the repository."""

    @property
    def secrets_withheld(self) -> bool:
        """Whether jobs run without secrets: a fork's commit nobody approved."""
        return self.fork and self.approved_by is None

    @property
    def host(self) -> str:
        """The forge's web host, e.g. `github.com`."""
        rest = self.repository_url.split("://", 1)[-1]
        return rest.split("/", 1)[0].lower()

    @property
    def scope(self) -> str:
        """The repository's secret scope: `host/owner/name`."""
        return f"{self.host}/{self.repository}"

    @property
    def branch(self) -> str:
        """The branch name for branch pushes and pull request heads, else ``""``."""
        return _strip(self.ref, "refs/heads/") if self.kind is not EventKind.TAG else ""

    @property
    def tag(self) -> str:
        return _strip(self.ref, "refs/tags/") if self.kind is EventKind.TAG else ""

    @property
    def base_branch(self) -> str:
        return _strip(self.base_ref or "", "refs/heads/")

    @property
    def on_default_branch(self) -> bool:
        """A branch push to the repository's default branch."""
        return self.kind is EventKind.PUSH and self.branch == self.default_branch

    @property
    def cloud_event_type(self) -> str:
        return GIT_PULL_REQUEST if self.kind is EventKind.PULL_REQUEST else GIT_PUSH


def _strip(ref: str, prefix: str) -> str:
    return ref[len(prefix) :] if ref.startswith(prefix) else ref


@dataclass(frozen=True)
class Envelope:
    """A CloudEvent's attributes and JSON data, independent of any SDK.

    `knargo.contract.cloudevent` converts it to and from the SDK's events.
    """

    type: str
    source: str
    id: str
    data: Any
    subject: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)

    @property
    def traceparent(self) -> str | None:
        return self.extensions.get("traceparent")


class _Reply(BaseModel):
    # Built on first use: the webhook imports this module but never sends a reply.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    event: GitEvent
    """The event the pipeline ran (or did not run) for."""
    notes: list[str] = []
    """Remarks about the decision, e.g. schedules ignored on a feature branch."""


class JobInfo(BaseModel):
    """A job of a submitted pipeline."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str
    """The job as shown in statuses: its id in ci.yaml, its `name`, or one combination of its
    matrix (`test (3.12, ubuntu)`)."""
    task: str
    """The Argo DAG task (and template) name."""
    needs: list[str] = []
    """Job ids it needs."""


class PipelineSubmitted(_Reply):
    """`dev.knargo.pipeline.submitted`: a Workflow exists for the event (new or redelivered)."""

    namespace: str
    workflow: str
    ui_url: str
    """The Argo UI page of the Workflow."""
    jobs: list[JobInfo]
    created: bool
    """False when the Workflow already existed (a redelivery)."""
    schedules: list[str] = []
    """CronWorkflows applied for this push to the default branch."""


class DiagnosticInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    file: str
    line: int
    col: int
    severity: str
    rule: str
    message: str


class PipelineRejected(_Reply):
    """`dev.knargo.pipeline.rejected`: the pipeline cannot run; report posts a failing status."""

    summary: str
    """The first error with its position, and `(+N more)`."""
    diagnostics: list[DiagnosticInfo] = []


class PipelineSkipped(_Reply):
    """`dev.knargo.pipeline.skipped`: nothing runs for the event."""

    reason: str
    report: bool = True
    """Whether report posts a passing "skipped" status (not when there is no ci.yaml)."""
    waiting: bool = False
    """Nothing runs *yet*: report posts a pending status with the reason (a fork's pull
    request waiting for `/ok-to-test`)."""


class CommentEvent(BaseModel):
    """A new comment on a pull request (GitLab: a note on a merge request), normalised from
    any forge. Its commands are read by `generate`, which asks the forge for the pull
    request's head commit when it acts: the payloads of GitHub and Gitea do not carry it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    forge_kind: ForgeKind
    """`github`, `gitlab` or `gitea` (Forgejo is `gitea`)."""
    forge_name: str
    """The `name` of the matching forge in the configuration."""
    repository: str
    """Full name of the pull request's base repository."""
    repository_url: str
    """The base repository's web URL."""
    clone_url: str
    """The base repository's HTTPS clone URL."""
    default_branch: str
    """The base repository's default branch."""
    private: bool = False
    """Whether the base repository is private."""
    pr_number: int
    """The pull request's number (GitLab: the merge request iid)."""
    comment_id: str
    """The forge's id of the comment."""
    body: str
    """The comment's text."""
    author: str
    """The login of who wrote the comment."""
    author_id: int | None = None
    """The forge's numeric id of the author, when the payload has it (GitLab's members API
    asks for it)."""
    delivery_id: str = Field(min_length=1)
    """The forge's delivery identity, used as the CloudEvent id."""
    traceparent: str | None = None
    """W3C trace context of the delivery, when one is known."""
    received_at: str | None = None
    """When the webhook received the delivery (ISO 8601, UTC)."""
    head_sha: str | None = None
    """The pull request's head commit when the comment was written, when the payload says
    (GitLab's `merge_request.last_commit`)."""
    created_at: str | None = None
    """When the comment was written, as the forge wrote it."""
    installation_id: int | None = None
    """GitHub App: the installation the delivery came from (`installation.id`)."""

    @property
    def host(self) -> str:
        rest = self.repository_url.split("://", 1)[-1]
        return rest.split("/", 1)[0].lower()

    @property
    def sha(self) -> str:
        """No commit yet: `generate` reads the head commit when it acts."""
        return ""

    @property
    def ref(self) -> str:
        """The CloudEvent subject: the pull request, as `pull/<number>`."""
        return f"pull/{self.pr_number}"

    @property
    def cloud_event_type(self) -> str:
        return GIT_COMMENT
