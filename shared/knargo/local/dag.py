"""What Argo's controller decides about a DAG's tasks, for the local executor.

* A task's dependencies are its `dependencies`, or the tasks its `depends` names.
* Once all of them finished, a task with `depends` runs when the expression holds (Argo's
  enhanced depends logic: `task.Succeeded`, `.Failed`, `.Errored`, `.Skipped`, `.Omitted`,
  `.Daemoned`, a bare `task` meaning `task.Succeeded || task.Skipped || task.Daemoned`, with
  `&&`, `||`, `!` and parentheses); a task with `dependencies` runs when none of them failed,
  erred or was omitted, unless its `continueOn` allows a failure or error (never an omission:
  Argo's `expandDependencies` widens each to `Succeeded || Skipped || Daemoned` plus
  `Failed`/`Errored` as `continueOn` says). A task that does not run is Omitted.
* The DAG's phase (Argo's `assessDAGPhase`): each task that no other task depends on ends a
  branch; the branch's phase is that task's, or, for an omitted one, the worst of the phases
  of the branches it comes from (Failed or Error before Succeeded). The DAG failed when a
  branch failed or erred and its last task's `continueOn` does not allow it. So a failure
  that a later job handles (`depends: build.Failed`) leaves the Workflow Succeeded.
* Argo refuses `continueOn` in a DAG written with `depends`: there a `continue-on-error`
  job's dependents name its failure (`lint.Failed`), and its template carries
  `knargo.dev/continue-on-error` instead. `may_fail` reads either; `tolerated` (what Argo
  itself judges by) only `continueOn`, so a failed `continue-on-error` job that ends a
  branch fails such a DAG here as in Argo, and `knargo.functions.status` passes the
  pipeline all the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BLOCKING", "dag_phase", "dependencies", "holds", "may_fail", "tolerated"]

BLOCKING = ("Failed", "Error", "Omitted")
CONTINUE_ON_ERROR = "knargo.dev/continue-on-error"
_CONTINUE_ON = {"Failed": "failed", "Error": "error"}  # an Omitted dependency always blocks
# Each result an operand may name, and the node phases it stands for.
_RESULTS = {
    "Succeeded": ("Succeeded",),
    "Failed": ("Failed",),
    "Errored": ("Error",),
    "Skipped": ("Skipped",),
    "Omitted": ("Omitted",),
    "Daemoned": (),
}
_BARE = ("Succeeded", "Skipped")  # a task named without a result (Daemoned never holds here)
_TOKEN = re.compile(r"\s*(?:(&&|\|\||!|\(|\))|([A-Za-z0-9][A-Za-z0-9-]*)(?:\.([A-Za-z]+))?)")


def _tokens(expression: str) -> list[tuple[str, str, str]]:
    found, i = [], 0
    while i < len(expression.rstrip()):
        match = _TOKEN.match(expression, i)
        if match is None or match.end() == i:
            raise ValueError(f"invalid depends expression at {i}: {expression!r}")
        op, task, result = match.groups()
        found.append((op or "", task or "", result or ""))
        i = match.end()
    return found


def dependencies(task: Mapping[str, Any]) -> list[str]:
    """The tasks `task` waits for."""
    if "depends" in task:
        return list(dict.fromkeys(t for _, t, _ in _tokens(task["depends"]) if t))
    return list(task.get("dependencies", []))


def tolerated(task: Mapping[str, Any], phase: str) -> bool:
    """Whether the task's `continueOn` allows its `phase`."""
    return bool((task.get("continueOn") or {}).get(_CONTINUE_ON.get(phase, "")))


def may_fail(task: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Whether the task's job may fail (`continue-on-error`), in either form of the DAG."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return bool(task.get("continueOn")) or annotations.get(CONTINUE_ON_ERROR) == "true"


def holds(task: Mapping[str, Any], tasks: Mapping[str, Any], results: Mapping[str, str]) -> bool:
    """Whether `task` runs, once every dependency has its final phase in `results`."""
    if "depends" not in task:
        return not any(
            results[d] in BLOCKING and not tolerated(tasks[d], results[d])
            for d in task.get("dependencies", [])
        )
    tokens = _tokens(task["depends"])
    value, end = _or(tokens, 0, results)
    if end != len(tokens):
        raise ValueError(f"invalid depends expression: {task['depends']!r}")
    return value


def _or(tokens: list[tuple[str, str, str]], i: int, results: Mapping[str, str]) -> tuple[bool, int]:
    value, i = _and(tokens, i, results)
    while i < len(tokens) and tokens[i][0] == "||":
        right, i = _and(tokens, i + 1, results)
        value = value or right
    return value, i


def _and(
    tokens: list[tuple[str, str, str]], i: int, results: Mapping[str, str]
) -> tuple[bool, int]:
    value, i = _unary(tokens, i, results)
    while i < len(tokens) and tokens[i][0] == "&&":
        right, i = _unary(tokens, i + 1, results)
        value = value and right
    return value, i


def _unary(
    tokens: list[tuple[str, str, str]], i: int, results: Mapping[str, str]
) -> tuple[bool, int]:
    op, task, result = tokens[i]
    if op == "!":
        value, i = _unary(tokens, i + 1, results)
        return not value, i
    if op == "(":
        value, i = _or(tokens, i + 1, results)
        if i >= len(tokens) or tokens[i][0] != ")":
            raise ValueError("unbalanced parentheses in a depends expression")
        return value, i + 1
    if not task:
        raise ValueError(f"unexpected {op!r} in a depends expression")
    named = (result,) if result else _BARE
    phases = {phase for name in named for phase in _RESULTS[name]}
    return results.get(task) in phases, i + 1


def dag_phase(tasks: Mapping[str, Mapping[str, Any]], results: Mapping[str, str]) -> str:
    """Succeeded or Failed, as Argo assesses a finished DAG (see the module's docstring)."""
    needs = {name: dependencies(task) for name, task in tasks.items()}
    branch: dict[str, str] = {}

    def phase_of(name: str) -> str:
        if name not in branch:
            own = results.get(name, "Omitted")
            if own in ("Omitted", "Skipped"):
                inherited = [phase_of(parent) for parent in needs[name]]
                bad = [p for p in inherited if p in ("Failed", "Error")]
                own = bad[0] if bad else "Succeeded"
            branch[name] = own
        return branch[name]

    needed = {d for deps in needs.values() for d in deps}
    for name in tasks:
        if name in needed:
            continue
        phase = phase_of(name)
        if phase in ("Failed", "Error") and not tolerated(tasks[name], phase):
            return "Failed"
    return "Succeeded"
