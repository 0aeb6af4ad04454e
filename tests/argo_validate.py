"""The rules of Argo's controller for a Workflow's DAG templates that no JSON schema or CRD
can express (they span several tasks), as `workflow/validate/validate.go` (`validateDAG`,
`validateWorkflowFieldNames`, `verifyNoCycles`; the same in v3.7 and v4.1) checks them
before the controller runs a Workflow. A Workflow breaking one is marked Failed with
`invalid spec: <reason>` and runs nothing.

`problems(manifest)` lists every broken rule (empty for a valid Workflow or CronWorkflow);
`invalid_spec(manifest)` is the controller's message for the first one, or None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["invalid_spec", "problems"]

# validate.go: workflowFieldNameFmt "[a-zA-Z0-9][-a-zA-Z0-9]*", workflowFieldMaxLength 128,
# checked by validateWorkflowFieldNames for template names and a DAG's task names.
_FIELD_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
_MAX_NAME = 128
# A depends operand (common.GetTaskDependsLogic / dag.go's ancestry: `task` or `task.Result`).
_OPERAND = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)(?:\.([A-Za-z]+))?")
_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded"}
_RESULTS |= {"AllFailed"}
# `{{tasks.X.outputs.…}}` in a task's arguments (validateDAG's scope of task outputs).
_TASK_REF = re.compile(r"\{\{\s*tasks\.([^.\s}]+)\.")


def _spec(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = manifest.get("spec") or {}
    return spec.get("workflowSpec") or spec  # a CronWorkflow holds the Workflow's spec


def problems(manifest: Mapping[str, Any]) -> list[str]:
    """Every rule of Argo's DAG validation that `manifest` breaks, in the controller's words."""
    found: list[str] = []
    templates = _spec(manifest).get("templates") or []
    found += _names("templates", [t.get("name", "") for t in templates])
    for template in templates:
        if "dag" in template:
            found += _dag(template["name"], template["dag"].get("tasks") or [])
    return found


def invalid_spec(manifest: Mapping[str, Any]) -> str | None:
    """What Argo's controller writes as the Workflow's message when it refuses it."""
    found = problems(manifest)
    return f"invalid spec: {found[0]}" if found else None


def _names(where: str, names: list[str]) -> list[str]:
    """validateWorkflowFieldNames: each name valid, none twice."""
    found, seen = [], set()
    for i, name in enumerate(names):
        if len(name) > _MAX_NAME or not _FIELD_NAME.fullmatch(name):
            found.append(f"{where}[{i}].name: '{name}' is invalid")
        if name in seen:
            found.append(f"{where}[{i}].name '{name}' is not unique")
        seen.add(name)
    return found


def _waits_for(task: Mapping[str, Any]) -> list[str]:
    if "depends" in task:
        return list(dict.fromkeys(m.group(1) for m in _OPERAND.finditer(task["depends"])))
    return list(task.get("dependencies") or [])


def _dag(name: str, tasks: list[Mapping[str, Any]]) -> list[str]:
    found = _names(f"templates.{name}.tasks", [t.get("name", "") for t in tasks])
    # validateDAG: `usingDepends` is true when ANY task of the DAG has `depends`; then no
    # task may have `dependencies` or `continueOn`, and no task name may start with a digit.
    using_depends = any(t.get("depends") for t in tasks)
    by_name = {t.get("name", ""): t for t in tasks}
    for task in tasks:
        task_name = task.get("name", "")
        if (using_depends or task.get("dependencies")) and task_name[:1].isdigit():
            found.append(
                f"templates.{name}.tasks.{task_name} name cannot begin with a digit when using"
                " either 'depends' or 'dependencies'"
            )
        if using_depends and task.get("dependencies"):
            found.append(
                f"templates.{name} cannot use both 'depends' and 'dependencies' in the same"
                " DAG template"
            )
        if using_depends and task.get("continueOn") is not None:
            found.append(
                f"templates.{name} cannot use 'continueOn' when using 'depends'. Instead use"
                " 'dep-task.Failed'/'dep-task.Errored'"
            )
        if "depends" in task:
            for match in _OPERAND.finditer(task["depends"]):
                if match.group(2) is not None and match.group(2) not in _RESULTS:
                    found.append(
                        f"templates.{name}.tasks.{task_name} depends: unknown result"
                        f" '{match.group(2)}'"
                    )
        # validateDAG: "dependency '%s' not defined" for every task a task waits for.
        for j, dep in enumerate(_waits_for(task)):
            if dep not in by_name:
                found.append(
                    f"templates.{name}.tasks.{task_name}.dependencies[{j}] dependency"
                    f" '{dep}' not defined"
                )
        # validateDAG resolves `{{tasks.X.…}}` in a task's arguments against the outputs of
        # the DAG's tasks ("failed to resolve {{tasks.X.outputs…}}").
        for ref in _TASK_REF.findall(repr(task.get("arguments") or {})):
            if ref not in by_name:
                found.append(
                    f"templates.{name}.tasks.{task_name} failed to resolve {{{{tasks.{ref}.…}}}}"
                )
    found += _cycles(
        name, {n: [d for d in _waits_for(t) if d in by_name] for n, t in by_name.items()}
    )
    return found


def _cycles(name: str, needs: Mapping[str, list[str]]) -> list[str]:
    """verifyNoCycles: "dependency cycle detected: a->b->a"."""
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(task: str, path: list[str]) -> list[str] | None:
        if state.get(task) == 2:
            return None
        if state.get(task) == 1:
            return [*path[path.index(task) :], task]
        state[task] = 1
        for dep in needs[task]:
            cycle = visit(dep, [*path, task])
            if cycle:
                return cycle
        state[task] = 2
        return None

    for task in needs:
        cycle = visit(task, [])
        if cycle:
            return [f"templates.{name} dependency cycle detected: {'->'.join(cycle)}"]
    return []
