"""Result-aware `if:` conditions → Argo's `depends` expressions.

A condition is first evaluated with what the event decides (`event`, `branch`, …); what is
left depends on the results of needed jobs (`success()`, `failure()`, `needs.<job>.result`)
and becomes the task's `depends` (Argo's enhanced depends logic: `task.Succeeded`,
`.Failed`, `.Errored`, `.Skipped`, `.Omitted`, `&&`, `||`, `!`), never `when`: Argo evaluates
`depends` once every task it names has finished, and a task whose `depends` is false is
Omitted, so a cleanup job runs after a failure and a job that only runs on success is left
out. In Argo's words:

* `needs.X.result == 'success'`: `X.Succeeded`; `'failure'`: `X.Failed || X.Errored`;
  `'skipped'`: `X.Skipped || X.Omitted` (and true for a job the plan left out);
  `'cancelled'`: false (Argo starts no task once a Workflow is stopped);
* `success()`: every needed job succeeded (`X.Succeeded`; a `continue-on-error` job may also
  have failed; a job left out for its `paths:` counts as passed, one left out by its `if:`
  does not);
* `failure()`: some job before this one (a needed job, or one they need, …) failed, other
  than a `continue-on-error` job;
* `always()`: true; `cancelled()`: false, as above.

A condition without any of them means `success() && (condition)`. Every needed job that the
expression does not name is added as "finished" (`X.Succeeded || X.Failed || X.Errored ||
X.Skipped || X.Omitted`), so the task still waits for all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from knargo.language import conditions
from knargo.language.conditions import Binary, Call, Condition, Literal, Node, Not, Variable

__all__ = ["FINISHED", "Need", "Value", "depends"]

# What a `depends` operand can say about a task that finished, in Argo's names.
FINISHED = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted")
Value = bool | str  # a decided value, or an Argo expression still open


@dataclass(frozen=True)
class Need:
    """A job a job needs, as the plan left it: its task name when it is in the Workflow,
    else why it is not (`"if"` or `"paths"`)."""

    task: str | None
    left_out: str = ""
    continue_on_error: bool = False


def depends(
    condition: Condition | None,
    variables: Mapping[str, str | bool],
    needs: Mapping[str, Need],
    failed_before: Sequence[str],
) -> Value:
    """False when the job cannot run; True when it runs without waiting on a result; else the
    `depends` expression. `failed_before` holds the task names whose failure `failure()`
    counts (the job's ancestors in the Workflow without `continue-on-error`)."""
    context = _Context(variables, needs, failed_before)
    value: Value = True if condition is None else context.value(condition.tree)
    if condition is None or not condition.result_aware:
        value = _and(context.success(), value)
    if value is False:
        return False
    named = value if isinstance(value, str) else ""
    for need in needs.values():
        if need.task is not None and not _names(named, need.task):
            value = _and(value, _any(need.task, FINISHED))
    return value


def _names(expression: str, task: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(task)}\.", expression) is not None


def _any(task: str, results: Sequence[str]) -> str:
    return " || ".join(f"{task}.{result}" for result in results)


def _wrap(value: str, op: str) -> str:
    """`value` as an operand of `op`: parenthesised unless it is one operand, or a flat chain
    of the same operator."""
    flat = {"||": r"&&|!|\(", "&&": r"\|\||\("}[op] if op else ""
    if " " not in value or (flat and not re.search(flat, value)):
        return value
    return f"({value})"


def _and(a: Value, b: Value) -> Value:
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    return f"{_wrap(a, '&&')} && {_wrap(b, '&&')}"


def _or(a: Value, b: Value) -> Value:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return f"{_wrap(a, '||')} || {_wrap(b, '||')}"


def _not(a: Value) -> Value:
    return (not a) if isinstance(a, bool) else f"!{_wrap(a, '')}"


@dataclass(frozen=True)
class _Context:
    variables: Mapping[str, str | bool]
    needs: Mapping[str, Need]
    failed_before: Sequence[str]

    def value(self, node: Node) -> Value:
        match node:
            case Not(operand=operand):
                return _not(self.value(operand))
            case Binary(op="&&", left=left, right=right):
                return _and(self.value(left), self.value(right))
            case Binary(op="||", left=left, right=right):
                return _or(self.value(left), self.value(right))
            case Binary(op=op, left=Variable(name=name), right=Literal(value=str() as value)) | (
                Binary(op=op, left=Literal(value=str() as value), right=Variable(name=name))
            ) if conditions.NEEDS_RESULT.match(name):
                found = self.result(name, value)
                return found if op == "==" else _not(found)
            case Call(function="success"):
                return self.success()
            case Call(function="failure"):
                return _any_failed(self.failed_before)
            case Call(function="cancelled"):
                return False
            case Call(function="always"):
                return True
            case Binary(op=op, left=left, right=right) if _reads_results(node):
                a, b = self.value(left), self.value(right)  # two booleans
                same = _or(_and(a, b), _and(_not(a), _not(b)))
                return same if op == "==" else _not(same)
        return conditions.value_of(node, self.variables) is True

    def success(self) -> Value:
        value: Value = True
        for need in self.needs.values():
            if need.task is None:
                value = _and(value, need.left_out == "paths")
            elif need.continue_on_error:
                value = _and(value, _any(need.task, ("Succeeded", "Failed", "Errored")))
            else:
                value = _and(value, f"{need.task}.Succeeded")
        return value

    def result(self, name: str, result: str) -> Value:
        match = conditions.NEEDS_RESULT.match(name)
        need = self.needs.get(match.group(1) if match else "")
        if need is None:  # lint reports a job that is not needed; it never holds
            return False
        if need.task is None:
            return result == "skipped"
        results = {"success": ("Succeeded",), "failure": ("Failed", "Errored")}
        results["skipped"] = ("Skipped", "Omitted")
        found = results.get(result, ())
        return _any(need.task, found) if found else False


def _reads_results(node: Node) -> bool:
    return any(
        (isinstance(n, Call) and n.function in conditions.STATUS_FUNCTIONS)
        or (isinstance(n, Variable) and conditions.NEEDS_RESULT.match(n.name) is not None)
        for n in conditions.walk(node)
    )


def _any_failed(tasks: Sequence[str]) -> Value:
    return " || ".join(_any(task, ("Failed", "Errored")) for task in tasks) or False
