"""The whole chain in one process: broker, generate, report, local cluster and executor.

`generate` and `report` here are what the function shells do, minus HTTP: decode the event,
call `knargo.functions.generate.generate` / `knargo.functions.report.report` with the local
ports, return the reply. The broker routes between them by `knargo.contract.routes`; the
cluster tells the executor about each Workflow created; the executor's `workflow.updated`
events go back into the broker; dead letters go to `knargo.functions.report.dead_letter`, as
the Triggers' dead-letter sink.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from knargo.config.catalog import SecretCatalog
from knargo.config.settings import Settings
from knargo.contract import events
from knargo.contract.errors import PermanentError
from knargo.contract.events import CommentEvent, Envelope, GitEvent
from knargo.functions import comments, generate, report
from knargo.local.broker import Broker, Delivery
from knargo.local.cluster import LocalCluster
from knargo.local.conversation import LocalConversation
from knargo.local.engine import Engine
from knargo.local.executor import Executor, Options
from knargo.local.forge import GitFiles, Mirrored, Posted, StatusLog
from knargo.local.secrets import load_secrets
from knargo.local.selection import narrow

__all__ = ["Chain", "Setup"]

GIT_EVENTS = frozenset({events.GIT_PUSH, events.GIT_PULL_REQUEST})


@dataclass(frozen=True)
class Setup:
    """What one local chain runs with."""

    repository: Path
    """The local repository: ci.yaml is read from it and jobs check out from it."""
    state: Path
    """Where the cluster, logs, statuses and secrets live (`.knargo`)."""
    settings: Settings
    catalog: SecretCatalog | None = None
    engine: Engine = field(default_factory=lambda: Engine("local"))
    overrides: Mapping[str, bytes] = field(default_factory=dict)
    """Files read instead of the commit's (`knargo run CI_YAML`)."""
    job: str | None = None
    """Run only this job and what it needs."""
    real_forge: report.Statuses | None = None
    """The real forges' statuses, for the events of `real_forges` (they also go to the log)."""
    real_forges: frozenset[str] = frozenset()
    delivery: Delivery = field(default_factory=Delivery)
    parallel: int = 4
    backoff_scale: float = 0.1
    approve: Callable[[str, str], bool] | None = None
    """Asked when a job waits for approval (`knargo run`); without it, a gate waits for
    `/approve` (`knargo dev`)."""


class _Narrowed:
    """The cluster, with each Workflow narrowed to one job before it is created."""

    def __init__(self, cluster: LocalCluster, job: str) -> None:
        self.cluster, self.job = cluster, job

    def create_workflow(self, manifest: Mapping[str, Any]) -> bool:
        return self.cluster.create_workflow(narrow(manifest, self.job))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)


class Chain:
    def __init__(self, setup: Setup, on_status: Callable[[Posted], None] | None = None) -> None:
        self.setup = setup
        self.cluster = LocalCluster(setup.state / "cluster")
        self.log = StatusLog(setup.state / "statuses.jsonl", on_status)
        self.statuses: report.Statuses = (
            Mirrored(setup.real_forge, setup.real_forges, self.log)
            if setup.real_forge is not None
            else self.log
        )
        self.files = GitFiles(setup.repository, setup.overrides)
        self.workflows: generate.Workflows = (
            _Narrowed(self.cluster, setup.job) if setup.job else self.cluster
        )
        self.broker = Broker(
            {"generate": self.generate, "report": self.report},
            delivery=setup.delivery,
            dead_letter_sink=self.dead_letter,
        )
        options = Options(
            runs=setup.state / "runs",
            clone_url=setup.repository.resolve().as_uri(),
            secrets=load_secrets(setup.state / "secrets.env"),
            engine=setup.engine,
            base_env=dict(os.environ),
            parallel=setup.parallel,
            backoff_scale=setup.backoff_scale,
            approve=setup.approve,
        )
        self.executor = Executor(self.cluster, self._updated, options)
        self.cluster.watchers.append(self.executor.submit)
        self.conversation = LocalConversation(setup.state / "comments.jsonl")
        self.replies: dict[str, Envelope] = {}
        """generate's reply to each delivery id."""
        self.problems: list[str] = []
        """What report could not post, and why."""
        self.observers: list[Callable[[Envelope], None]] = []
        """Told about generate's replies and the executor's updates as they are made."""

    def _observe(self, envelope: Envelope) -> None:
        for observer in self.observers:
            try:
                observer(envelope)
            except Exception as exc:  # a broken view must not stop a run
                self.problems.append(f"observer: {type(exc).__name__}: {exc}")

    def _updated(self, envelope: Envelope) -> None:
        self._observe(envelope)
        self.broker.publish(envelope)

    def generate(self, envelope: Envelope) -> Envelope | None:
        if envelope.type == events.GIT_COMMENT:
            return self._comment(envelope)
        if envelope.type not in GIT_EVENTS:
            raise PermanentError(f"generate takes git events, not {envelope.type}")
        try:
            event = GitEvent.model_validate(envelope.data)
        except ValidationError:
            raise PermanentError("malformed GitEvent") from None
        self.conversation.saw(event)
        reply = generate.generate(
            event, self.setup.settings, self.setup.catalog, self.files, self.workflows
        )
        if self.setup.job and isinstance(reply.data, events.PipelineSubmitted):
            jobs = [j for j in reply.data.jobs if self._runs(reply.data, j.task)]
            reply = dataclasses.replace(reply, data=reply.data.model_copy(update={"jobs": jobs}))
        answer = reply.envelope()
        self.replies[event.delivery_id] = answer
        self._observe(answer)
        return answer

    def _comment(self, envelope: Envelope) -> Envelope | None:
        """A pull request comment's commands, as generate handles them."""
        try:
            comment = CommentEvent.model_validate(envelope.data)
        except ValidationError:
            raise PermanentError("malformed CommentEvent") from None
        handled = comments.handle_comment(
            comment,
            self.setup.settings,
            self.setup.catalog,
            self.files,
            self.workflows,
            self.conversation,
        )
        if handled.reply is None:
            return None
        answer = handled.reply.envelope()
        self.replies[handled.reply.event.delivery_id] = answer
        self._observe(answer)
        return answer

    def _runs(self, submitted: events.PipelineSubmitted, task: str) -> bool:
        workflow = self.cluster.get_workflow(submitted.namespace, submitted.workflow)
        templates = (workflow or {}).get("spec", {}).get("templates", [])
        return any(t["name"] == task for t in templates)

    def report(self, envelope: Envelope) -> None:
        result = report.report(envelope, self.setup.settings, self.statuses, self.cluster)
        if result.problem:
            self.problems.append(result.problem)

    def dead_letter(self, envelope: Envelope) -> None:
        report.dead_letter(envelope, self.setup.settings, self.statuses)

    def publish(
        self, event: GitEvent | CommentEvent, extensions: Mapping[str, str] | None = None
    ) -> None:
        from knargo.functions.webhook import to_cloudevent

        self.broker.publish(to_cloudevent(event, dict(extensions or {})))

    def start(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.executor.stop()
        self.broker.stop()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued and no Workflow runs; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.broker.wait(left):
                return False
            self.executor.wait(left)
            if self.executor.idle() and self.broker.idle() and self.executor.idle():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
