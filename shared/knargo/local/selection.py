"""`knargo run --job ID`: a Workflow narrowed to one job and the jobs it needs.

`ID` is a job as shown (`test (3.12, ubuntu)`, one combination of a matrix) or a job's id in
ci.yaml (`test`: every combination of it).

The Workflow is translated as always and then narrowed here, before it is submitted: DAG
tasks and templates of other jobs are removed, so the run, its statuses and its nodes only
show the jobs that run. A job that the event does not run (unknown, or left out by `if:`)
is an error that names the jobs there are.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from knargo.contract.errors import PermanentError
from knargo.functions.status import TEMPLATE_JOB
from knargo.local.dag import dependencies
from knargo.translation.templates import ENTRYPOINT, JOB_ID

__all__ = ["job_tasks", "narrow"]


def job_tasks(spec: Mapping[str, Any]) -> dict[str, str]:
    """Job id → DAG task name, from the templates' `knargo.dev/job` annotations."""
    found = {}
    for template in spec["templates"]:
        job = ((template.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_JOB)
        if job:
            found[job] = template["name"]
    return found


def narrow(manifest: Mapping[str, Any], job: str) -> dict[str, Any]:
    """A copy of the Workflow running only `job` and, transitively, what it needs."""
    workflow = copy.deepcopy(dict(manifest))
    spec = workflow["spec"]
    tasks = job_tasks(spec)
    todo = [tasks[job]] if job in tasks else _units(spec, job)
    if not todo:
        jobs = ", ".join(sorted(tasks)) or "none"
        raise PermanentError(f'job "{job}" does not run for this event (jobs that run: {jobs})')
    dag = next(t for t in spec["templates"] if t["name"] == ENTRYPOINT)["dag"]
    needs = {task["name"]: dependencies(task) for task in dag["tasks"]}
    keep: set[str] = set()
    while todo:
        task = todo.pop()
        if task not in keep:
            keep.add(task)
            todo += needs[task]
    dag["tasks"] = [task for task in dag["tasks"] if task["name"] in keep]
    spec["templates"] = [
        t for t in spec["templates"] if t["name"] == ENTRYPOINT or t["name"] in keep
    ]
    return workflow


def _units(spec: Mapping[str, Any], job_id: str) -> list[str]:
    """The tasks of every combination of the job `job_id` (or of the job shown by its name)."""
    return [
        t["name"]
        for t in spec["templates"]
        if ((t.get("metadata") or {}).get("annotations") or {}).get(JOB_ID) == job_id
    ]
