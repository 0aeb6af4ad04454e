"""`/retest <job>`: a plan narrowed to one job and every job that needs it.

The pipeline is planned as always and then narrowed: the DAG keeps the job and, transitively,
the jobs that need it; their dependencies on jobs left out are dropped, because those ran
before and their results stand. The Workflow is a new one (the comment's delivery names it),
so its statuses start again from pending for exactly the jobs that run.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from knargo.translation.plan import Plan, PlannedJob
from knargo.translation.templates import ENTRYPOINT

__all__ = ["dependents", "narrow_to_dependents"]


def dependents(jobs: list[PlannedJob], job: str) -> list[PlannedJob]:
    """`job` and every job that needs it, directly or not, in the plan's order."""
    keep = {job}
    changed = True
    while changed:
        changed = False
        for planned in jobs:
            if planned.id not in keep and keep.intersection(planned.needs):
                keep.add(planned.id)
                changed = True
    return [planned for planned in jobs if planned.id in keep]


def narrow_to_dependents(plan: Plan, job: str) -> Plan | None:
    """The plan running only `job` and its dependents; None when the plan has no such job."""
    if plan.workflow is None or job not in {planned.id for planned in plan.jobs}:
        return None
    kept = dependents(plan.jobs, job)
    ids = {planned.id for planned in kept}
    tasks = {planned.task for planned in kept}
    dropped = {planned.task for planned in plan.jobs} - tasks
    workflow = copy.deepcopy(plan.workflow)
    spec = workflow["spec"]
    for template in spec["templates"]:
        if template["name"] == ENTRYPOINT:
            dag = template["dag"]
            dag["tasks"] = [t for t in dag["tasks"] if t["name"] in tasks]
            for task in dag["tasks"]:
                needed = [d for d in task.get("dependencies", []) if d in tasks]
                if needed:
                    task["dependencies"] = needed
                else:
                    task.pop("dependencies", None)
    spec["templates"] = [t for t in spec["templates"] if t["name"] not in dropped]
    jobs = [PlannedJob(p.id, p.task, tuple(n for n in p.needs if n in ids)) for p in kept]
    return replace(plan, workflow=workflow, jobs=jobs, cron_workflows=[])
