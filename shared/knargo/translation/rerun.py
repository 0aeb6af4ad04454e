"""`/retest <job>`: a plan narrowed to one job and every job that needs it.

The pipeline is planned as always and then narrowed: the DAG keeps the job (every combination
of a `matrix:` job named by its id, or one combination named as its status shows it) and,
transitively, the jobs that need it. Their plain dependencies on jobs left out are dropped,
because those ran before and passed (a `needs` that had failed would have kept them from
running). Three things the kept jobs still read from other tasks keep those tasks in the run,
so that no Workflow names a task it does not have:

* the jobs whose `files:` a kept job receives run again (transitively), so the artifacts it
  gets are this commit's, from this run;
* the jobs a kept job's `if:` reads the results of (its `depends` expression) run again, so
  the expression reads real results;
* a kept job with `approval:` or `environment:` keeps its gate: it waits for approval again.

The Workflow is a new one (the comment's delivery names it), so its statuses start again from
pending for exactly the jobs that run.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace

from knargo.translation import manifests
from knargo.translation.gates import APPROVAL_FOR
from knargo.translation.plan import Plan, PlannedJob
from knargo.translation.templates import ENTRYPOINT

__all__ = ["dependents", "narrow_to_dependents"]

_RESULT = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)\.(?:Succeeded|Failed|Errored|Skipped|Omitted)")
_PASSED = re.compile(
    r"([A-Za-z0-9][-A-Za-z0-9]*)\.Succeeded"
    r"|\(([A-Za-z0-9][-A-Za-z0-9]*)\.Succeeded \|\| \2\.Failed \|\| \2\.Errored\)"
)
_FROM = re.compile(r"\{\{tasks\.([A-Za-z0-9][-A-Za-z0-9]*)\.outputs\.")


def dependents(jobs: list[PlannedJob], job: str) -> list[PlannedJob]:
    """`job` (a unit, or every combination of the job with that id) and every job that needs
    it, directly or not, in the plan's order."""
    keep = {planned.id for planned in jobs if job in (planned.id, planned.job_id)}
    changed = True
    while changed:
        changed = False
        for planned in jobs:
            if planned.id not in keep and keep.intersection(planned.needs):
                keep.add(planned.id)
                changed = True
    return [planned for planned in jobs if planned.id in keep]


def _plain(depends: str) -> list[str] | None:
    """The needed tasks of a `depends` that only says what `dependencies` would (a plain job
    in a DAG where another job reads results: `a.Succeeded && (b.Succeeded || b.Failed ||
    b.Errored)`, `knargo.translation.templates`); None for an expression that reads results."""
    found = []
    for part in depends.split(" && ") if depends else []:
        match = _PASSED.fullmatch(part)
        if match is None:
            return None
        found.append(match.group(1) or match.group(2))
    return found


def _read(task: manifests.DAGTask, gates: set[str]) -> set[str]:
    """The tasks `task` cannot run without: its gate, the tasks its `depends` reads and those
    whose artifacts it receives (not its plain dependencies, which passed before)."""
    found = {name for name in task.get("dependencies", []) if name in gates}
    plain = _plain(task.get("depends", ""))
    if plain is None:
        found.update(_RESULT.findall(task.get("depends", "")))
    else:
        found.update(name for name in plain if name in gates)
    for artifact in task.get("arguments", {}).get("artifacts", []):
        found.update(_FROM.findall(str(artifact.get("from", ""))))
    return found


def narrow_to_dependents(plan: Plan, job: str) -> Plan | None:
    """The plan running only `job` and its dependents, with what they read (the module's
    doc); None when the plan has no such job."""
    if plan.workflow is None:
        return None
    start = dependents(plan.jobs, job)
    if not start:
        return None
    workflow = copy.deepcopy(plan.workflow)
    spec = workflow["spec"]
    dag = next(t for t in spec["templates"] if t["name"] == ENTRYPOINT)["dag"]
    by_name = {task["name"]: task for task in dag["tasks"]}
    gates = {
        t["name"]
        for t in spec["templates"]
        if t.get("metadata", {}).get("annotations", {}).get(APPROVAL_FOR)
    }
    keep = {planned.task for planned in start}
    pending = list(keep)
    while pending:
        for name in sorted(_read(by_name[pending.pop()], gates) - keep):
            keep.add(name)
            pending.append(name)
    planned_tasks = {planned.task for planned in plan.jobs}
    dag["tasks"] = [t for t in dag["tasks"] if t["name"] in keep]
    for task in dag["tasks"]:
        needed = [d for d in task.get("dependencies", []) if d in keep]
        if needed:
            task["dependencies"] = needed
        else:
            task.pop("dependencies", None)
        plain = _plain(task.get("depends", ""))
        if task.get("depends") and plain is not None:  # the same, in a DAG of `depends`
            operands = zip(task["depends"].split(" && "), plain, strict=True)
            parts = [operand for operand, name in operands if name in keep]
            if parts:
                task["depends"] = " && ".join(parts)
            else:
                task.pop("depends", None)
    dropped = (planned_tasks | gates) - keep
    spec["templates"] = [t for t in spec["templates"] if t["name"] not in dropped]
    kept = [planned for planned in plan.jobs if planned.task in keep]
    ids = {planned.id for planned in kept}
    jobs = [replace(p, needs=tuple(n for n in p.needs if n in ids)) for p in kept]
    return replace(plan, workflow=workflow, jobs=jobs, cron_workflows=[])
