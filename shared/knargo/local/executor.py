"""The local executor: runs a stored Workflow's DAG the way Argo's controller does.

For the subset of Argo knargo emits: the DAG template `pipeline` and one container template
per task. A task starts when each of its dependencies Succeeded (or failed with `continueOn`),
or, with `depends`, when its expression holds once the tasks it names finished; any other task
is Omitted (`knargo.local.dag`, which also gives the Workflow's phase as Argo assesses it);
independent tasks run in parallel (bounded). A template with `retryStrategy` gets a `Retry`
node and one `Pod` node per attempt, retried by its policy after its backoff (scaled down).
A template with a mutex (`synchronization.mutexes`, a job's `concurrency:`) takes it before
it starts, across every Workflow the executor runs (mutexes are per namespace, as Argo's);
while another task holds it, its node is Pending with the message and
`synchronizationStatus` Argo writes then. After every change the Workflow's status is stored
in the local cluster and
`dev.knargo.workflow.updated` (data: the Workflow) is published, as Argo Events' Sensor does.
Logs and workspaces go to `<runs>/<workflow>/<task>/`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from knargo.contract import events
from knargo.contract.events import Envelope, GitEvent
from knargo.functions.status import APPROVAL_FOR, GIT_EVENT
from knargo.local import dag
from knargo.local.cluster import LocalCluster
from knargo.local.engine import Engine
from knargo.local.files import Store
from knargo.local.nodes import WorkflowStatus
from knargo.local.pod import CannotStart, Outcome, Pod, Processes, prepare, run_attempt
from knargo.local.retry import attempts, backoff, retried
from knargo.local.secrets import Secrets
from knargo.translation.templates import ENTRYPOINT, with_defaults

__all__ = ["Executor", "Options", "log_path"]

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    runs: Path
    clone_url: str
    secrets: Secrets
    engine: Engine
    base_env: Mapping[str, str]
    parallel: int = 4
    backoff_scale: float = 0.1
    """Retry backoffs are multiplied by this (a local run should not wait 10 s)."""
    max_backoff: float = 5.0
    approve: Callable[[str, str], bool] | None = None
    """Asked (workflow name, job id) when a job waits for approval; True approves. Without
    it, a gate waits until the Workflow's node is resumed (`knargo approve`, `/approve`)."""


def log_path(runs: Path, workflow: str, task: str) -> Path:
    return runs / workflow / task / "log"


class Executor:
    """Watches the local cluster: every Workflow created is run in its own thread."""

    def __init__(
        self, cluster: LocalCluster, publish: Callable[[Envelope], None], options: Options
    ) -> None:
        self.cluster, self.publish, self.options = cluster, publish, options
        self.processes = Processes()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._resume = threading.Condition()
        self._resumed: set[tuple[str, str]] = set()
        self.shut_down: set[str] = set()
        """Workflows patched with `spec.shutdown` (a superseded run, `/cancel`)."""
        self._mutexes: dict[str, threading.Lock] = {}
        cluster.patch_watchers.append(self._patched)

    def _patched(self, workflow: dict[str, Any]) -> None:
        name = workflow["metadata"]["name"]
        if (workflow.get("spec") or {}).get("shutdown"):
            self.shut_down.add(name)
        with self._resume:
            for node_id, node in ((workflow.get("status") or {}).get("nodes") or {}).items():
                if node.get("type") == "Suspend" and node.get("phase") == "Succeeded":
                    self._resumed.add((name, node_id))
            self._resume.notify_all()

    def resumed(self, workflow: str, node: str) -> bool:
        """Wait until the gate `node` is resumed (True), or the run stops (False)."""
        with self._resume:
            while (workflow, node) not in self._resumed:
                if workflow in self.shut_down or self.processes.stopped.is_set():
                    return False
                self._resume.wait(0.2)
            return True

    def mutex(self, key: str) -> threading.Lock:
        """The mutex `<namespace>/Mutex/<name>`, shared by every run."""
        with self._lock:
            return self._mutexes.setdefault(key, threading.Lock())

    def submit(self, workflow: dict[str, Any]) -> None:
        run = _Run(self, workflow)
        thread = threading.Thread(target=run.run, name=f"knargo-{run.name}", daemon=True)
        with self._lock:
            self._threads[run.name] = thread
        thread.start()

    def idle(self) -> bool:
        with self._lock:
            return not any(t.is_alive() for t in self._threads.values())

    def wait(self, timeout: float | None = None) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)

    def stop(self) -> None:
        self.processes.stop()
        self.wait(timeout=10)


class _Run:
    def __init__(self, executor: Executor, workflow: dict[str, Any]) -> None:
        self.executor, self.options = executor, executor.options
        meta = workflow["metadata"]
        self.name, self.namespace = meta["name"], meta["namespace"]
        self.scope = GitEvent.model_validate(json.loads(meta["annotations"][GIT_EVENT])).scope
        spec = workflow["spec"]
        defaults = spec.get("templateDefaults")
        self.templates = {t["name"]: with_defaults(defaults, t) for t in spec["templates"]}
        self.tasks = {t["name"]: t for t in self.templates[ENTRYPOINT]["dag"]["tasks"]}
        self.status = WorkflowStatus(self.name)
        self.results: dict[str, str] = {}
        self.node_of: dict[str, str] = {}
        self._lock = threading.Lock()
        self.store = Store(self.options.runs.parent)
        self.by_task = {t: self.templates[d["template"]] for t, d in self.tasks.items()}

    def change(self, edit: Callable[[WorkflowStatus], T]) -> T:
        """Apply `edit`, store the status and publish the Workflow as it is now."""
        with self._lock:
            result = edit(self.status)
            stored = self.executor.cluster.update_workflow_status(
                self.namespace, self.name, self.status.snapshot()
            )
            self.executor.publish(
                Envelope(
                    type=events.WORKFLOW_UPDATED,
                    source=f"knargo-local/{self.namespace}/workflows",
                    id=str(uuid.uuid4()),
                    data=stored,
                    subject=self.name,
                )
            )
        return result

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the controller's own failure: end the Workflow visibly
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self.change(lambda s: s.finish("Error", reason))

    def _run(self) -> None:
        self.store.expire()
        self.change(lambda s: s.start())
        pending = list(self.tasks)
        with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
            running: dict[Future[str], str] = {}
            while pending or running:
                for task in [] if self._shut_down() else self._ready(pending):
                    pending.remove(task)
                    running[pool.submit(self.task, task)] = task
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    self.results[running.pop(future)] = future.result()
        failed = [
            t
            for t, p in self.results.items()
            if p in ("Failed", "Error") and not dag.may_fail(self.tasks[t], self.by_task[t])
        ]
        # In a DAG with `depends`, Argo fails for a failed job that may fail too: name it
        # when no other job failed.
        failed = failed or [t for t, p in self.results.items() if p in ("Failed", "Error")]
        phase = dag.dag_phase(self.tasks, self.results)
        message = f"child '{failed[0]}' failed" if failed and phase == "Failed" else ""
        if pending and self._shut_down():  # `spec.shutdown: Terminate` (a superseded run)
            message = "Stopped with strategy 'Terminate'"
        if pending:  # stopped before they could start
            message = message or "stopped: knargo was interrupted"
            phase = "Failed"
        self.change(lambda s: s.finish(phase, message))

    def _shut_down(self) -> bool:
        """Whether the Workflow was told to stop (`spec.shutdown`): no task starts any more;
        tasks already running finish (Argo's Terminate would kill them)."""
        return self.name in self.executor.shut_down

    def _stopped(self) -> bool:
        return self._shut_down() or self.executor.processes.stopped.is_set()

    def _ready(self, pending: list[str]) -> list[str]:
        """Omit the tasks whose finished dependencies did not pass (Argo evaluates a task's
        dependencies once all of them are fulfilled); the tasks that can start now."""
        omitted = True
        while omitted:  # an omitted task may settle the tasks that need it
            omitted = False
            for task in list(pending):
                needs = dag.dependencies(self.tasks[task])
                if all(d in self.results for d in needs) and not dag.holds(
                    self.tasks[task], self.tasks, self.results
                ):
                    pending.remove(task)
                    self.results[task] = "Omitted"
                    parents = self._parents(task)
                    self.node_of[task] = self.change(
                        partial(WorkflowStatus.omit, task=task, parents=parents)
                    )
                    omitted = True
        if self.executor.processes.stopped.is_set():
            return []
        return [
            task
            for task in pending
            if all(d in self.results for d in dag.dependencies(self.tasks[task]))
        ]

    def _parents(self, task: str) -> list[str]:
        return [self.node_of[d] for d in dag.dependencies(self.tasks[task])]

    def task(self, task: str) -> str:
        template = self.templates[self.tasks[task]["template"]]
        if "suspend" in template:
            return self._gate(task, template)
        mutexes = (template.get("synchronization") or {}).get("mutexes") or []
        keys = sorted({f"{self.namespace}/Mutex/{m['name']}" for m in mutexes})
        held: list[threading.Lock] = []
        try:
            for key in keys:  # in one order, so two tasks never wait for each other
                lock = self.executor.mutex(key)
                if not self._take(task, template, key, lock):
                    return "Failed"
                held.append(lock)
            return self._work(task, template)
        finally:
            for lock in reversed(held):
                lock.release()

    def _take(self, task: str, template: Mapping[str, Any], key: str, lock: threading.Lock) -> bool:
        """Take the mutex `key`; while another task holds it, the task's node is Pending and
        says so as Argo's does. False when the run stops meanwhile."""
        if lock.acquire(blocking=False):
            return True
        node = self.node_of.get(task)
        kind = "Retry" if template.get("retryStrategy") else "Pod"
        parents = self._parents(task)

        def waiting(status: WorkflowStatus) -> str:
            # One change: a Pending node without its lock status would read as running.
            identity = node or status.add(task, kind, "Pending", parents)
            status.nodes[identity]["message"] = f"Waiting for {key} lock. Lock status: 0/1"
            status.nodes[identity]["synchronizationStatus"] = {"waiting": key}
            return identity

        node = self.node_of[task] = self.change(waiting)
        while True:
            taken = lock.acquire(timeout=0.2)
            if self._stopped():  # told to stop while waiting: the job never starts
                if taken:
                    lock.release()
                why = "Stopped with strategy 'Terminate'" if self._shut_down() else "stopped"
                self.change(partial(WorkflowStatus.set, identity=node, phase="Failed", message=why))
                return False
            if taken:
                break

        def acquired(status: WorkflowStatus) -> None:
            status.nodes[node].pop("message", None)
            status.nodes[node].pop("synchronizationStatus", None)

        self.change(acquired)
        return True

    def _work(self, task: str, template: Mapping[str, Any]) -> str:
        pod = prepare(template, self.scope, self.options.secrets, self.options.base_env)
        retry = template.get("retryStrategy") or {}
        parents = self._parents(task)
        waited = self.node_of.get(task)  # the node that waited for a mutex
        if not retry:
            node = self.node_of[task] = waited or self._add(task, "Pod", parents)
            return self._attempt(task, pod, node, 0)
        if waited is not None:
            self.change(lambda s: s.set(waited, "Running"))
        group = self.node_of[task] = waited or self._add(task, "Retry", parents)
        last = attempts(retry) - 1
        for attempt in range(last + 1):
            node = self._add(task, "Pod", [group], attempt)
            phase = self._attempt(task, pod, node, attempt)
            if attempt == last or not retried(retry, phase):
                break
            wait = backoff(retry, attempt, self.options.backoff_scale, self.options.max_backoff)
            if self.executor.processes.stopped.wait(wait):
                break
        message = self.status.nodes[node].get("message", "")
        self.change(lambda s: s.set(group, phase, message))
        return phase

    def _gate(self, task: str, template: Mapping[str, Any]) -> str:
        """An approval gate: a Suspend node, Running until approved (Succeeded) or refused."""
        job = ((template.get("metadata") or {}).get("annotations") or {}).get(APPROVAL_FOR, task)
        node = self.node_of[task] = self._add(task, "Suspend", self._parents(task))
        self.change(lambda s: s.set(node, "Running"))
        ask = self.options.approve
        approved = (
            ask(self.name, job) if ask is not None else self.executor.resumed(self.name, node)
        )
        phase = "Succeeded" if approved else "Failed"
        message = "Resumed by: knargo run" if approved else "not approved"
        self.change(lambda s: s.set(node, phase, message))
        return phase

    def _add(self, task: str, kind: str, parents: list[str], attempt: int | None = None) -> str:
        phase = "Running" if kind == "Retry" else "Pending"
        return self.change(
            partial(
                WorkflowStatus.add,
                task=task,
                kind=kind,
                phase=phase,
                parents=parents,
                attempt=attempt,
            )
        )

    def _attempt(self, task: str, pod: Pod, node: str, attempt: int) -> str:
        directory = self.options.runs / self.name / task / f"attempt-{attempt}"
        path = log_path(self.options.runs, self.name, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as log:
            if attempt:
                log.write(f"knargo: retry {attempt}\n".encode())
            directory.mkdir(parents=True, exist_ok=True)
            isolated = self.options.engine.isolated
            self.store.restore(
                pod.template, self.tasks[task], self.by_task, self.name, directory, copy=isolated
            )
            try:
                outcome = run_attempt(
                    pod,
                    directory,
                    log,
                    clone_url=self.options.clone_url,
                    engine=self.options.engine,
                    processes=self.executor.processes,
                    on_running=lambda: self.change(lambda s: s.set(node, "Running")),
                )
            except CannotStart as exc:  # e.g. no `sh` in PATH, or the engine's binary vanished
                log.write(f"knargo: {exc}\n".encode())
                outcome = Outcome("Error", str(exc))
            self.store.save(pod.template, self.name, directory)
        self.change(lambda s: s.set(node, outcome.phase, outcome.message))
        return outcome.phase
