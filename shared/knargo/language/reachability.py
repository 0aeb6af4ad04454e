"""Conditions that can never hold, and jobs that can therefore never run.

Warnings, not errors: the file is valid, but a comparison with a value a variable never takes
(`event == 'tags'`, `branch == 'refs/heads/main'`) is always false, and a job that needs a job
whose `if:` excludes every event the job itself runs on is always left out (a job runs only
when every job it needs runs). Events are told apart by kind and, for pull requests, by
whether they come from a fork; other variables are left open (a condition on them may hold).
Unknown variables and functions are errors: every one of them is reported, where the model's
check stops at the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.positions import Document
from knargo.language import conditions

__all__ = ["check_conditions"]

# The event kinds each key of `on:` lets through (a push of a tag is the event "tag").
_KINDS = {"push": ("push", "tag"), "pull_request": ("pull_request",), "schedule": ("schedule",)}
# Only a pull request can come from a fork.
_FORK = {"pull_request": (False, True)}
Case = tuple[str, bool]  # an event kind, and whether it comes from a fork


def check_conditions(doc: Document, file: str, jobs: dict[str, Any]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    parsed: dict[str, conditions.Condition | None] = {}
    for job_id, source in _conditions(jobs):
        path = ("jobs", job_id, "if")
        try:
            parsed[job_id] = condition = conditions.parse(source)
        except conditions.ConditionError:
            parsed[job_id] = None  # not checked further: the model reports the first error
            for error in conditions.name_errors(source):
                found.append(_at(doc, file, path, error, Severity.ERROR, "invalid condition: "))
            continue
        for error in conditions.never_true(condition):
            found.append(_at(doc, file, path, error, Severity.WARNING, "comparison never true: "))
    found += _unreachable(doc, file, jobs, parsed)
    return found


def _conditions(jobs: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for job_id, job in jobs.items():
        if isinstance(job.get("if"), str):
            yield job_id, job["if"]


def _at(
    doc: Document,
    file: str,
    path: tuple[str, ...],
    error: conditions.ConditionError,
    severity: Severity,
    prefix: str,
) -> Diagnostic:
    mark = doc.mark_at(path, error.offset)
    return Diagnostic(file, mark.line, mark.col, severity, prefix + error.message, "expression")


def _kinds(on: Any) -> tuple[str, ...]:
    if on is None or "on" not in on:
        return ("push", "tag", "pull_request")
    value = on["on"]
    keys = [value] if isinstance(value, str) else value
    if not isinstance(keys, list | dict):
        return ()
    return tuple(kind for key in keys if isinstance(key, str) for kind in _KINDS.get(key, ()))


def _unreachable(
    doc: Document,
    file: str,
    jobs: dict[str, Any],
    parsed: dict[str, conditions.Condition | None],
) -> list[Diagnostic]:
    """Jobs that run for no event the pipeline runs on, because of what they need."""
    cases = [(kind, fork) for kind in _kinds(doc.data) for fork in _FORK.get(kind, (False,))]
    own = {
        job_id: {case for case in cases if (c := parsed.get(job_id)) is None or _holds(c, case)}
        for job_id in jobs
    }
    runs: dict[str, set[Case]] = {}

    def runs_for(job_id: str, visiting: frozenset[str] = frozenset()) -> set[Case]:
        if job_id not in runs:
            result = set(own[job_id])
            condition = parsed.get(job_id)
            if condition is not None and condition.result_aware:
                runs[job_id] = result  # it may run whatever became of the jobs it needs
                return result
            for need in _needs(jobs[job_id]):
                if need in jobs and need not in visiting:  # cycles are reported elsewhere
                    result &= runs_for(need, visiting | {job_id})
            runs[job_id] = result
        return runs[job_id]

    found = []
    for job_id, job in jobs.items():
        if not own[job_id] or runs_for(job_id):
            continue
        for i, need in enumerate(_needs(job)):
            if need in jobs and not (own[job_id] & runs_for(need)):
                path = ("jobs", job_id, "needs") + ((i,) if isinstance(job["needs"], list) else ())
                mark = doc.value_mark(path)
                message = (
                    f'job "{job_id}" never runs: it runs only for {_list(own[job_id])}, '
                    f'and the job "{need}" it needs runs {_for(runs_for(need))}'
                )
                found.append(
                    Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "needs")
                )
                break
    return found


def _holds(condition: conditions.Condition, case: Case) -> bool:
    return conditions.may_hold(condition, {"event": case[0], "fork": case[1]})


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs")
    items = [needs] if isinstance(needs, str) else needs if isinstance(needs, list) else []
    return [n for n in items if isinstance(n, str)]


def _list(cases: set[Case]) -> str:
    """`"push" and "pull_request" from a fork`: an event whose every case is in `cases` is
    named alone."""
    shown = []
    for kind in sorted({kind for kind, _ in cases}):
        forks = {fork for k, fork in cases if k == kind}
        if forks == set(_FORK.get(kind, (False,))):
            shown.append(f'"{kind}"')
        else:
            shown.append(f'"{kind}" {"from a fork" if True in forks else "not from a fork"}')
    return " and ".join(shown)


def _for(cases: set[Case]) -> str:
    return f"only for {_list(cases)}" if cases else "for no event"
