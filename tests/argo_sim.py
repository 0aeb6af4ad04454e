"""A small simulation of how Argo's controller updates a knargo Workflow while it runs.

Given a Workflow manifest (as knargo renders it) and the outcome of each job, `run` yields
the successive Workflow objects Argo would store: the workflow Running, each DAG task's node
Pending → Running → Succeeded/Failed as its dependencies allow, tasks whose dependencies failed
Omitted, and the workflow's final phase. Node fields follow Argo's (`id`, `name`,
`displayName`, `type`, `templateName`, `phase`, `message`, `startedAt`, `finishedAt`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["run"]

START = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


def _time(step: int) -> str:
    return (START + timedelta(seconds=17 * step)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    manifest: Mapping[str, Any], outcomes: Mapping[str, str], uid: str = "uid-1"
) -> Iterator[dict[str, Any]]:
    """Snapshots of the Workflow; `outcomes` maps task names to "Succeeded" or "Failed"."""
    workflow = copy.deepcopy(dict(manifest))
    workflow["metadata"] = {**workflow["metadata"], "uid": uid, "resourceVersion": "1"}
    name = workflow["metadata"]["name"]
    dag = workflow["spec"]["templates"][0]["dag"]["tasks"]
    needs = {t["name"]: t.get("dependencies", []) for t in dag}
    tolerated = {t["name"] for t in dag if t.get("continueOn")}
    nodes: dict[str, dict[str, Any]] = {}
    status: dict[str, Any] = {"phase": "Running", "startedAt": _time(0), "nodes": nodes}
    workflow["status"] = status
    step = 0

    def snapshot() -> dict[str, Any]:
        nonlocal step
        step += 1
        workflow["metadata"]["resourceVersion"] = str(step + 1)
        return copy.deepcopy(workflow)

    yield snapshot()
    done: dict[str, str] = {}
    while len(done) < len(dag):
        for task in [t for t in needs if t not in done]:
            deps = needs[task]
            if any(done.get(d) in ("Failed", "Omitted") and d not in tolerated for d in deps):
                nodes[f"{name}-{task}"] = _node(
                    name,
                    task,
                    "Omitted",
                    step,
                    "omitted: depends condition not met",
                    kind="Skipped",
                )
                done[task] = "Omitted"
                yield snapshot()
            elif all(d in done for d in deps):
                node = _node(name, task, "Pending", step)
                nodes[node["id"]] = node
                yield snapshot()
                node.update(phase="Running")
                yield snapshot()
                outcome = outcomes.get(task, "Succeeded")
                node.update(phase=outcome, finishedAt=_time(step + 3))
                if outcome == "Failed":
                    node["message"] = "Error (exit code 1)"
                done[task] = outcome
                yield snapshot()
    failed = any(p in ("Failed",) and t not in tolerated for t, p in done.items())
    status.update(phase="Failed" if failed else "Succeeded", finishedAt=_time(step + 5))
    if failed:
        status["message"] = "child failed"
    yield snapshot()


def _node(
    workflow: str, task: str, phase: str, step: int, message: str = "", kind: str = "Pod"
) -> dict[str, Any]:
    node = {
        "id": f"{workflow}-{task}",
        "name": f"{workflow}.{task}",
        "displayName": task,
        "type": kind,
        "templateName": task,
        "phase": phase,
        "startedAt": _time(step),
    }
    if message:
        node["message"] = message
    return node
