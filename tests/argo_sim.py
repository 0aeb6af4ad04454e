"""A small simulation of how Argo's controller updates a knargo Workflow while it runs.

Given a Workflow manifest (as knargo renders it) and the outcome of each job, `run` yields
the successive Workflow objects Argo would store: the workflow Running, each DAG task's node
Pending → Running → Succeeded/Failed as its dependencies allow, tasks whose dependencies failed
(or whose `depends` expression is false) Omitted, and the workflow's final phase as Argo
assesses a DAG: by the branches its last tasks end, an omitted task taking the failure of the
branch it comes from. Node fields follow Argo's (`id`, `name`,
`displayName`, `type`, `templateName`, `phase`, `message`, `startedAt`, `finishedAt`).
A task in `held` whose template takes a mutex (`synchronization.mutexes`) finds it held by
another Workflow: its node stays Pending with what Argo's controller writes then (message
`Waiting for <namespace>/Mutex/<name> lock. Lock status: 0/1`, `synchronizationStatus.waiting`)
until the lock is released, then runs.
A Workflow that breaks a rule of the controller's validation (`argo_validate`: e.g. a DAG
mixing `depends` with `dependencies` or `continueOn`, which the API server accepts) is failed
at once with `invalid spec: …` and runs nothing, as Argo's controller does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from argo_validate import invalid_spec

__all__ = ["argo_depends", "run"]

START = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


def _time(step: int) -> str:
    return (START + timedelta(seconds=17 * step)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    manifest: Mapping[str, Any],
    outcomes: Mapping[str, str],
    uid: str = "uid-1",
    held: Collection[str] = (),
) -> Iterator[dict[str, Any]]:
    """Snapshots of the Workflow; `outcomes` maps task names to "Succeeded" or "Failed"."""
    workflow = copy.deepcopy(dict(manifest))
    workflow["metadata"] = {**workflow["metadata"], "uid": uid, "resourceVersion": "1"}
    name = workflow["metadata"]["name"]
    dag = workflow["spec"]["templates"][0]["dag"]["tasks"]
    needs = {t["name"]: _waits_for(t) for t in dag}
    by_name = {t["name"]: t for t in dag}
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    namespace = workflow["metadata"].get("namespace", "argo")
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

    refused = invalid_spec(manifest)
    if refused is not None:  # operator.go: markWorkflowFailed(ctx, "invalid spec: …")
        status.update(phase="Failed", message=refused, finishedAt=_time(1))
        yield snapshot()
        return
    yield snapshot()
    done: dict[str, str] = {}
    while len(done) < len(dag):
        for task in [t for t in needs if t not in done]:
            deps = needs[task]
            expression = by_name[task].get("depends")
            if all(d in done for d in deps) and expression is not None:
                blocked = not argo_depends(expression, done)
            else:
                blocked = any(
                    done.get(d) == "Omitted" or (done.get(d) == "Failed" and d not in tolerated)
                    for d in deps
                )
            if blocked:
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
                mutexes = (templates[by_name[task]["template"]].get("synchronization") or {}).get(
                    "mutexes"
                )
                if task in held and mutexes:
                    lock = f"{namespace}/Mutex/{mutexes[0]['name']}"
                    node["message"] = f"Waiting for {lock} lock. Lock status: 0/1"
                    node["synchronizationStatus"] = {"waiting": lock}
                    yield snapshot()
                    del node["message"], node["synchronizationStatus"]  # acquired
                yield snapshot()
                node.update(phase="Running")
                yield snapshot()
                outcome = outcomes.get(task, "Succeeded")
                node.update(phase=outcome, finishedAt=_time(step + 3))
                if outcome == "Failed":
                    node["message"] = "Error (exit code 1)"
                done[task] = outcome
                yield snapshot()
    failed = _dag_failed(needs, done, tolerated)
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


_OPERAND = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)(?:\.([A-Za-z]+))?")


def _waits_for(task: Mapping[str, Any]) -> list[str]:
    if "depends" in task:
        return list(dict.fromkeys(m.group(1) for m in _OPERAND.finditer(task["depends"])))
    return list(task.get("dependencies", []))


def argo_depends(expression: str, phases: Mapping[str, str]) -> bool:
    """Argo's enhanced depends logic as its documentation states it: `task.Result` holds when
    the task ended with that result (Errored is the phase Error), a bare `task` means
    `task.Succeeded || task.Skipped || task.Daemoned`; `&&`, `||`, `!`, parentheses."""
    names = {"Errored": "Error"}

    def operand(match: re.Match[str]) -> str:
        task, result = match.group(1), match.group(2)
        if result is None:
            return str(phases.get(task) in ("Succeeded", "Skipped"))
        return str(phases.get(task) == names.get(result, result))

    text = _OPERAND.sub(operand, expression)
    text = text.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
    assert re.fullmatch(r"(?:\s|\(|\)|True|False|and|or|not)*", text), text
    return bool(eval(text, {"__builtins__": {}}))


def _dag_failed(
    needs: Mapping[str, list[str]], done: Mapping[str, str], tolerated: set[str]
) -> bool:
    """Argo's assessDAGPhase: a branch ends in each task nothing depends on; an omitted task's
    branch phase is the first failure among the branches it comes from."""

    def branch(task: str) -> str:
        if done[task] != "Omitted":
            return done[task]
        failed = [p for p in map(branch, needs[task]) if p in ("Failed", "Error")]
        return failed[0] if failed else "Succeeded"

    needed = {d for deps in needs.values() for d in deps}
    leaves = [t for t in needs if t not in needed]
    return any(branch(t) in ("Failed", "Error") and t not in tolerated for t in leaves)
