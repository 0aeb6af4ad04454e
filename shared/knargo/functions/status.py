"""Commit statuses: what a pipeline's events mean for each context, and which posts are due.

Every context is `<prefix>` (the pipeline) or `<prefix>/<job>`; scheduled runs use
`<prefix> (schedule)` so they never overwrite push results. States are knargo's own
(`State`); each forge module maps them to its names. Non-final descriptions are fixed
("queued", "running") so repeated updates change nothing. `due` compares the wanted statuses
with the ones the forge has and keeps only transitions (a new state or description; a link
that only gains the Workflow's uid or node is no transition), never moving a context of the
same run (the same Workflow) backwards: queued, running, final. A skip reply (skipped, no
link: `on:` filtered this event out) only fills a context that shows nothing or another skip:
a push and a pull request of one commit share the context, and a skipped push must never turn
green what the pull request's run shows, whatever the order they arrive in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from knargo.contract.events import GitEvent, PipelineRejected, PipelineSkipped, PipelineSubmitted
from knargo.forges.github import CheckOutput
from knargo.formats.durations import format_seconds

__all__ = [
    "Current",
    "State",
    "Update",
    "due",
    "from_rejected",
    "from_skipped",
    "from_submitted",
    "from_workflow",
    "gate_states",
    "pipeline_said",
    "pipeline_status",
    "shorten",
    "skip_reason",
]

TEMPLATE_JOB = "knargo.dev/job"
CONTINUE_ON_ERROR = "knargo.dev/continue-on-error"
"""A job template's annotation: the job may fail (knargo.translation.templates)."""
SKIPPED_JOBS = "knargo.dev/skipped-jobs"
GIT_EVENT = "knargo.dev/git-event"


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in (State.QUEUED, State.RUNNING)


@dataclass(frozen=True)
class Update:
    """A status knargo wants a context of a commit to show."""

    context: str
    state: State
    description: str
    target_url: str | None = None
    output: CheckOutput | None = None
    """What a check run shows beyond its title (annotations, a log tail); commit statuses
    have no room for it."""


@dataclass(frozen=True)
class Current:
    """A status as the forge shows it (state in the forge's own words)."""

    context: str
    state: str
    description: str
    target_url: str | None


def contexts(prefix: str, event_kind: str) -> str:
    return f"{prefix} (schedule)" if event_kind == "schedule" else prefix


def from_submitted(data: PipelineSubmitted, prefix: str) -> list[Update]:
    """Every job and the pipeline queued at once, so nothing looks green too early."""
    url = data.ui_url
    return [Update(prefix, State.QUEUED, "queued", url)] + [
        Update(f"{prefix}/{job.id}", State.QUEUED, "queued", url) for job in data.jobs
    ]


def from_rejected(data: PipelineRejected, prefix: str) -> list[Update]:
    """A failing pipeline; a check run also lists every diagnostic and annotates the file
    at its line and column (GitHub shows them in the pull request's diff)."""
    listed = "\n".join(
        f"- `{d.file}:{d.line}:{d.col}`: {d.severity}: {d.message} [{d.rule}]"
        for d in data.diagnostics
    )
    annotations = tuple(
        {
            "path": d.file,
            "start_line": d.line,
            "end_line": d.line,
            "start_column": d.col,
            "end_column": d.col,
            "annotation_level": _LEVELS.get(d.severity, "notice"),
            "message": d.message,
            "title": f"knargo: {d.rule}",
        }
        for d in data.diagnostics
        if d.line >= 1 and d.col >= 1
    )
    output = CheckOutput(text=listed, annotations=annotations) if data.diagnostics else None
    return [Update(prefix, State.FAILURE, data.summary, None, output)]


_LEVELS = {"error": "failure", "warning": "warning"}
"""A diagnostic's severity → a check run annotation's level (failure, warning, notice)."""


def from_skipped(data: PipelineSkipped, prefix: str) -> list[Update]:
    """A passing "skipped" status so required checks never hang; nothing without ci.yaml;
    a pending one with the reason while the run waits (for `/ok-to-test`)."""
    if data.waiting:
        return [Update(prefix, State.QUEUED, data.reason)]
    return [Update(prefix, State.SKIPPED, f"skipped: {data.reason}")] if data.report else []


_PHASES = {
    "Pending": State.RUNNING,
    "Running": State.RUNNING,
    "Succeeded": State.SUCCESS,
    "Failed": State.FAILURE,
    "Error": State.ERROR,
    "Omitted": State.SKIPPED,
    "Skipped": State.SKIPPED,
}


def from_workflow(
    workflow: Mapping[str, Any], prefix: str, ui_url: str
) -> tuple[GitEvent, list[Update]]:
    """The statuses a Workflow's current status means: one per job, one for the pipeline.

    Raises ValueError when the object is not a Workflow knargo made.
    """
    meta = workflow.get("metadata") or {}
    event = GitEvent.model_validate(json.loads((meta.get("annotations") or {})[GIT_EVENT]))
    kind = (meta.get("labels") or {}).get("knargo.dev/event", "")
    context = contexts(prefix, kind)
    url = _url(ui_url, meta)
    pipeline = pipeline_said(workflow)
    cancelled = _cancelled(workflow, pipeline[0])
    if cancelled is not None:
        pipeline = (State.CANCELLED, cancelled)
    updates = [Update(context, pipeline[0], pipeline[1], url)]
    updates += [
        Update(f"{context}/{job}", State.SKIPPED, PATHS_SKIPPED, url) for job in _skipped_jobs(meta)
    ]
    nodes = _task_nodes(workflow)
    gates = _gates(workflow, nodes)
    for task, job in _jobs(workflow).items():
        node = nodes.get(task)
        gate = gates.get(job) or gates.get(task)
        if gate is not None and cancelled is None and (node is None or _omitted(node)):
            updates.append(Update(f"{context}/{job}", *gate, url))
            continue
        if node is None:
            state = State.QUEUED if pipeline[0] is State.RUNNING else State.SKIPPED
            text = "queued" if state is State.QUEUED else "not run: the pipeline stopped"
            if cancelled is not None:
                state, text = State.CANCELLED, cancelled
            updates.append(Update(f"{context}/{job}", state, text, url))
            continue
        state, text = _describe(_PHASES.get(node.get("phase", ""), State.RUNNING), node, "job")
        if state is State.SKIPPED and node.get("message") in (None, "", OMITTED):
            text = f"skipped: {skip_reason(workflow, task)}"
        group = _waiting_group(workflow, task, node) if pipeline[0] is State.RUNNING else None
        if group is not None:
            state, text = State.QUEUED, f"{WAITING}concurrency group {group}"
        if cancelled is not None and state in (State.FAILURE, State.ERROR, State.RUNNING):
            state, text = State.CANCELLED, cancelled
        node_url = f"{url}{'&' if '?' in url else '?'}nodeId={node['id']}" if "id" in node else url
        updates.append(Update(f"{context}/{job}", state, text, node_url))
    return event, updates


PATHS_SKIPPED = "skipped: no changed path matches its paths"


def _skipped_jobs(meta: Mapping[str, Any]) -> list[str]:
    """The jobs the plan left out for their `paths:` (`knargo.dev/skipped-jobs`)."""
    text = (meta.get("annotations") or {}).get(SKIPPED_JOBS)
    jobs = json.loads(text) if isinstance(text, str) else []
    return [job for job in jobs if isinstance(job, str)] if isinstance(jobs, list) else []


def pipeline_status(workflow: Mapping[str, Any]) -> tuple[State, str]:
    """The pipeline's state and description: the Workflow's phase, except that a job that
    failed keeps the pipeline failed even when a job that ran after it let Argo succeed, and
    that a job that may fail (`continue-on-error`) does not fail it when Argo, judging a DAG
    written with `depends` (where it allows no `continueOn`), failed for it alone."""
    status = workflow.get("status") or {}
    pipeline = _describe(
        _PHASES.get(status.get("phase") or "Pending", State.RUNNING), status, "pipeline"
    )
    if pipeline[0] is State.SUCCESS:
        return _handled_failure(workflow, _task_nodes(workflow)) or pipeline
    if pipeline[0] is State.FAILURE and _tolerated_failure(workflow, _task_nodes(workflow)):
        return _describe(State.SUCCESS, status, "pipeline")
    return pipeline


def _dag_tasks(workflow: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], bool]]:
    """Each DAG task, and whether its job may fail: `continueOn`, or in a DAG written with
    `depends` its template's `knargo.dev/continue-on-error` annotation."""
    spec = workflow.get("spec") or {}
    templates = spec.get("templates") or (spec.get("workflowSpec") or {}).get("templates") or []
    annotated = {
        t.get("name"): ((t.get("metadata") or {}).get("annotations") or {}).get(CONTINUE_ON_ERROR)
        == "true"
        for t in templates
    }
    tasks = [t for template in templates for t in (template.get("dag") or {}).get("tasks") or []]
    return [
        (t, bool(t.get("continueOn")) or annotated.get(t.get("template"), False)) for t in tasks
    ]


def _handled_failure(
    workflow: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]
) -> tuple[State, str] | None:
    """A Workflow Argo calls Succeeded although a job failed: a later job ran because of the
    failure (`if: failure()`), so the failed branch does not end the DAG (Argo judges the
    DAG by its last tasks only). A failed job keeps the pipeline failed, unless it may fail
    (`continue-on-error`)."""
    jobs = _jobs(workflow)
    for task, may_fail in _dag_tasks(workflow):
        phase = (nodes.get(task.get("name", "")) or {}).get("phase")
        allowed = task.get("continueOn") or ({"failed": True, "error": True} if may_fail else {})
        if (phase == "Failed" and not allowed.get("failed")) or (
            phase == "Error" and not allowed.get("error")
        ):
            return State.FAILURE, f"failed: job {jobs.get(task['name'], task['name'])} failed"
    return None


def _tolerated_failure(workflow: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> bool:
    """A Workflow Argo failed only because jobs that may fail did: every task finished, and
    each that failed or erred is a `continue-on-error` job (never for a stopped run)."""
    tasks = _dag_tasks(workflow)
    if not tasks or (workflow.get("spec") or {}).get("shutdown"):
        return False
    failed = False
    for task, may_fail in tasks:
        phase = (nodes.get(task.get("name", "")) or {}).get("phase")
        if phase not in ("Succeeded", "Failed", "Error", "Skipped", "Omitted"):
            return False
        if phase in ("Failed", "Error"):
            if not may_fail:
                return False
            failed = True
    return failed


CANCELLED = "knargo.dev/cancelled"
WAITING = "waiting for "
"""How the description of a job that waits (for approval, for its concurrency group) starts."""
APPROVAL_FOR = "knargo.dev/approval-for"
ENVIRONMENT = "knargo.dev/environment"
"""The annotations of an approval gate's template (knargo.translation.gates)."""


def pipeline_said(workflow: Mapping[str, Any]) -> tuple[State, str]:
    """`pipeline_status` with Argo's `child '<task>' failed` in knargo's words: the job by
    its shown name, and for an approval gate the job it guards and why it did not run."""
    state, text = pipeline_status(workflow)
    match = _CHILD.search(text)
    if match is None:
        return state, text
    gates = _gate_tasks(workflow, _task_nodes(workflow))
    if match[1] in gates:
        job, (_, why) = gates[match[1]]
        return state, text.replace(match[0], f"job {job} {why}")
    return state, text.replace(match[0], f"job {_jobs(workflow).get(match[1], match[1])} failed")


_CHILD = re.compile(r"child '([^']*)' failed")


OMITTED = "omitted: depends condition not met"
"""What Argo says of a task it left out (its `depends`, or a dependency that did not pass)."""
NEEDS_FAILED = "a job it needs did not pass"
IF_FALSE = "its if: did not hold"
_OPERAND = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)\.(?:Succeeded|Failed|Errored|Skipped|Omitted)")


def skip_reason(workflow: Mapping[str, Any], task: str) -> str:
    """Why Argo left `task` out, in knargo's words: every task it depends on passed, so its
    `if:` did not hold (e.g. `failure()` after an all-green run); else a needed job did not
    pass."""
    spec = workflow.get("spec") or {}
    templates = spec.get("templates") or (spec.get("workflowSpec") or {}).get("templates") or []
    tasks = [t for template in templates for t in (template.get("dag") or {}).get("tasks") or []]
    found: Mapping[str, Any] = next((t for t in tasks if t.get("name") == task), {})
    needs = set(found.get("dependencies") or []) | set(_OPERAND.findall(found.get("depends", "")))
    nodes = _task_nodes(workflow)
    passed = all((nodes.get(need) or {}).get("phase") == "Succeeded" for need in needs)
    return IF_FALSE if passed and needs else NEEDS_FAILED


def _omitted(node: Mapping[str, Any]) -> bool:
    """A job's node Argo left out (its `depends` did not hold)."""
    return node.get("phase") in ("Omitted", "Skipped")


def gate_states(workflow: Mapping[str, Any]) -> dict[str, tuple[State, str]]:
    """Job id → what its approval gate says (waiting, or failed: not approved), for the
    gates that have a node."""
    return _gates(workflow, _task_nodes(workflow))


def _gates(
    workflow: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[State, str]]:
    """Job id, and task of each combination of a matrix job, → what its approval gate says,
    for the gates that have a node: waiting, or failed (refused, or the run's deadline passed
    while it waited)."""
    gate_tasks = _gate_tasks(workflow, nodes)
    found = dict(gate_tasks.values())
    for template in (workflow.get("spec") or {}).get("templates") or []:
        for task in (template.get("dag") or {}).get("tasks") or []:
            gate = next((g for g in task.get("dependencies") or [] if g in gate_tasks), None)
            gate = gate or next(
                (g for g in gate_tasks if f"{g}.Succeeded" in task.get("depends", "")), None
            )
            if gate is not None:
                found[task["name"]] = gate_tasks[gate][1]
    return found


def _gate_tasks(
    workflow: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[str, tuple[State, str]]]:
    """Gate task → its job id and what the gate says (`_gates`)."""
    spec = workflow.get("spec") or {}
    found: dict[str, tuple[str, tuple[State, str]]] = {}
    for template in spec.get("templates") or []:
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        job, node = annotations.get(APPROVAL_FOR), nodes.get(template.get("name", ""))
        if not job or node is None:
            continue
        environment = annotations.get(ENVIRONMENT)
        where = f" ({environment})" if environment else ""
        phase = node.get("phase") or "Running"
        name = template["name"]
        if phase == "Running":
            found[name] = (job, (State.QUEUED, f"{WAITING}approval{where}"))
        elif phase in ("Failed", "Error"):
            message = node.get("message") or ""
            why = "not approved in time" if "deadline" in message.lower() else message
            found[name] = (job, (State.FAILURE, f"{why or 'not approved'}{where}"))
    return found


CONCURRENCY = "knargo.dev/concurrency"
"""A job template's concurrency group (knargo.translation.mutexes)."""


def _waiting_group(
    workflow: Mapping[str, Any], template: str, node: Mapping[str, Any]
) -> str | None:
    """The group a job's node waits for, while Argo keeps it Pending for its mutex: the node
    has `synchronizationStatus.waiting`, or (older controllers) the message Argo writes then,
    `Waiting for <namespace>/Mutex/<name> lock. Lock status: 0/1`."""
    if node.get("phase") != "Pending":
        return None
    waiting = (node.get("synchronizationStatus") or {}).get("waiting")
    message = node.get("message") or ""
    if not waiting and not (message.startswith("Waiting for ") and "/Mutex/" in message):
        return None
    spec = workflow.get("spec") or {}
    for found in spec.get("templates") or []:
        if found.get("name") == template:
            group = ((found.get("metadata") or {}).get("annotations") or {}).get(CONCURRENCY)
            return group if isinstance(group, str) and group else None
    return None


def _cancelled(workflow: Mapping[str, Any], state: State) -> str | None:
    """Why a run that was shut down (`spec.shutdown`) and has ended was cancelled: the
    `knargo.dev/cancelled` annotation, else "cancelled"; None for any other run."""
    shutdown = (workflow.get("spec") or {}).get("shutdown")
    if not shutdown or not state.final or state in (State.SUCCESS, State.SKIPPED):
        return None
    annotations = (workflow.get("metadata") or {}).get("annotations") or {}
    reason = annotations.get(CANCELLED)
    return f"cancelled: {reason}" if isinstance(reason, str) and reason else "cancelled"


def _url(ui_url: str, meta: Mapping[str, Any]) -> str:
    base = f"{ui_url.rstrip('/')}/workflows/{meta.get('namespace', '')}/{meta.get('name', '')}"
    return f"{base}?uid={meta['uid']}" if meta.get("uid") else base


def _jobs(workflow: Mapping[str, Any]) -> dict[str, str]:
    """Task name → job id, from the templates' `knargo.dev/job` annotations."""
    spec = workflow.get("spec") or {}
    templates = spec.get("templates") or (spec.get("workflowSpec") or {}).get("templates") or []
    jobs = {}
    for template in templates:
        job = ((template.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_JOB)
        if job:
            jobs[template["name"]] = job
    return jobs


def _task_nodes(workflow: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The node of each DAG task (a retried task's own node, not its attempts)."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    found = {}
    for node in nodes.values():
        if node.get("type") in ("Pod", "Retry", "Skipped", "Suspend") and node.get(
            "displayName"
        ) == (node.get("templateName")):
            found[node["displayName"]] = node
    return found


def _describe(state: State, node: Mapping[str, Any], what: str) -> tuple[State, str]:
    if state is State.RUNNING:
        return state, "running"
    if state is State.SUCCESS:
        took = _duration(node)
        return state, f"passed in {took}" if took else "passed"
    if state is State.SKIPPED:
        return state, "skipped: " + (node.get("message") or "a job it needs did not pass")
    message = node.get("message") or ("failed" if state is State.FAILURE else "error")
    return state, message if what == "job" else f"failed: {message}"


def _duration(node: Mapping[str, Any]) -> str:
    try:
        started = datetime.fromisoformat(node["startedAt"].replace("Z", "+00:00"))
        finished = datetime.fromisoformat(node["finishedAt"].replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return ""
    return format_seconds(max(0, round((finished - started).total_seconds())))


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters (not bytes), cut on a character with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _run(url: str | None) -> str | None:
    return url.split("?", 1)[0] if url else None


def _rank(status: Current | Update, final_states: frozenset[str] = frozenset()) -> int:
    """queued < waiting (for approval, for a concurrency group) < running < final: within
    one run a context only moves forward, so generate's reply (every job queued), which may
    arrive after the Workflow's first updates, never hides what a job waits for."""
    if isinstance(status, Update):
        if status.state.final:
            return 3
        if status.state is State.RUNNING:
            return 2
    elif status.state in final_states:
        return 3
    elif status.description == "running":
        return 2
    return int(status.description.startswith(WAITING))


def _is_reply_skip(update: Update) -> bool:
    """A `pipeline.skipped` reply: skipped, and no run (no link) behind it."""
    return update.state is State.SKIPPED and not update.target_url


def due(
    current: Iterable[Current],
    wanted: Iterable[Update],
    forge_state: Mapping[State, str],
    final_states: frozenset[str],
    limit: int,
) -> list[Update]:
    """The posts that change something, in order; descriptions cut to the forge's limit."""
    latest = {c.context.lower(): c for c in current}
    posts = []
    for update in wanted:
        update = Update(
            update.context,
            update.state,
            shorten(update.description, limit),
            update.target_url,
            update.output,
        )
        shown = latest.get(update.context.lower())
        if (
            _is_reply_skip(update)
            and shown is not None
            and (shown.target_url or shown.state != forge_state[State.SKIPPED])
        ):
            continue  # a skip only stands in for a run: it never replaces a result
        if shown is not None:
            same_run = _run(shown.target_url) == _run(update.target_url)
            same = (
                same_run
                and shown.state == forge_state[update.state]
                and shown.description == update.description
            )
            regress = same_run and _rank(shown, final_states) > _rank(update)
            if same or regress:
                continue
        posts.append(update)
        latest[update.context.lower()] = Current(
            update.context, forge_state[update.state], update.description, update.target_url
        )
    return posts
