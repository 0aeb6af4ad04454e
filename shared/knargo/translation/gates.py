"""Approval gates: `approval: true` or `environment:` on a job → an Argo `suspend` node before it.

A gated job's DAG task gets a gate task of its own, which needs what the job needs and runs a
`suspend: {}` template; the job then needs the gate too. The gate is a node of type `Suspend`
that stays `Running` until someone resumes it: `/approve` in the pull request or `knargo
approve` (knargo.functions.approvals), which do what `argo resume` does. Its template
carries the job's id (`knargo.dev/approval-for`) and environment (`knargo.dev/environment`)
for report, which posts "waiting for approval" on the job's context meanwhile.

A suspend node has no deadline of its own that fails it (a suspend `duration` would *resume*
it when it runs out): a gate waits at most as long as the run may last, the Workflow's
`activeDeadlineSeconds` (`workflow_timeout`), after which Argo fails it and report posts the
job as not approved in time.
"""

from __future__ import annotations

from collections.abc import Mapping

from knargo.formats import naming
from knargo.language.dialect import Job
from knargo.translation import manifests
from knargo.translation.templates import ENTRYPOINT, LABEL

__all__ = ["APPROVAL_FOR", "ENVIRONMENT", "add_gates", "gate_name"]

APPROVAL_FOR = LABEL + "approval-for"
ENVIRONMENT = LABEL + "environment"


def gate_name(task: str, taken: set[str]) -> str:
    """`<task>-approval`, or with a digest of the task when a job already has that name."""
    name = f"{task[:110]}-approval"
    return name if name not in taken else f"{task[:99]}-approval-{naming.digest(task)}"


def add_gates(
    spec: manifests.WorkflowSpec,
    jobs: dict[str, Job],
    names: dict[str, str],
    job_ids: Mapping[str, str] | None = None,
) -> None:
    """Put a gate before every gated job of `spec` (in place). `job_ids`: unit → job id of
    the units the jobs run as (`knargo.translation.expansion`); a job with a `matrix:` gets
    one gate before all its combinations, so one approval lets them all run."""
    gated = [job_id for job_id, job in jobs.items() if job.gated]
    if not gated:
        return
    taken = {template["name"] for template in spec["templates"]}
    dag = next(t for t in spec["templates"] if t["name"] == ENTRYPOINT)["dag"]
    tasks = {task["name"]: task for task in dag["tasks"]}
    units: dict[str, list[str]] = {}
    for unit, job_id in (job_ids or {}).items():
        if names.get(unit) in tasks:
            units.setdefault(job_id, []).append(names[unit])
    # Argo refuses a DAG mixing `depends` with `dependencies`: keep to the one it uses.
    uses_depends = any("depends" in task for task in dag["tasks"])
    for job_id in gated:
        gate = gate_name(names[job_id], taken)
        taken.add(gate)
        annotations = {APPROVAL_FOR: job_id}
        if jobs[job_id].environment:
            annotations[ENVIRONMENT] = str(jobs[job_id].environment)
        spec["templates"].append(
            {"name": gate, "metadata": {"labels": {}, "annotations": annotations}, "suspend": {}}
        )
        gate_task: manifests.DAGTask = {"name": gate, "template": gate}
        # The combinations of a job need the same tasks (and share its `depends`).
        first = tasks[units.get(job_id, [names[job_id]])[0]]
        if first.get("depends"):
            gate_task["depends"] = first["depends"]
        elif first.get("dependencies"):
            gate_task["dependencies"] = list(first["dependencies"])
        dag["tasks"].append(gate_task)
        for name in units.get(job_id, [names[job_id]]):
            task = tasks[name]
            if task.get("depends"):
                task["depends"] = f"({task['depends']}) && {gate}.Succeeded"
            elif uses_depends:
                task["depends"] = f"{gate}.Succeeded"
            else:
                task["dependencies"] = [*task.get("dependencies", []), gate]
