"""What `knargo lint --cluster` adds: warnings for jobs that pull requests from forks run
without their secrets.

Read from the document as written, so the warnings come even when another part is invalid.
Whether a job's `if:` can hold for a fork's pull request is decided by evaluating the condition
over the strings it mentions. Everything here is a function of its arguments.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from knargo.config.settings import Settings
from knargo.formats import positions
from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.language import conditions

__all__ = ["fork_warnings"]

_FORK_PULL_REQUEST: dict[str, str | bool] = {
    "event": "pull_request",
    "fork": True,
    "is_default_branch": False,
    "tag": "",
}
_STRING = re.compile(r"'((?:[^']|'')*)'|\"((?:[^\"\\]|\\.)*)\"")
_MAX_CASES = 4096


def fork_warnings(text: str, file: str, settings: Settings) -> list[Diagnostic]:
    """Warnings for jobs with `secrets:` that pull requests from forks run without them.
    Read from the document as written, so they come even when another part is invalid."""
    doc, _ = positions.load(text, file)
    if settings.fork_pull_requests != "run" or doc is None or not isinstance(doc.data, dict):
        return []
    on, jobs = doc.data.get("on"), doc.data.get("jobs")
    if on is not None and "pull_request" not in (on if isinstance(on, dict | list) else [on]):
        return []
    found = []
    for job_id, job in (jobs if isinstance(jobs, dict) else {}).items():
        secrets = job.get("secrets") if isinstance(job, dict) else None
        if not secrets or not isinstance(secrets, list | dict) or not _may_run_for_fork(job):
            continue
        mark = doc.key_mark(("jobs", job_id, "secrets"))
        names = sorted(
            {str(n) for n in (secrets.values() if isinstance(secrets, dict) else secrets)}
        )
        message = (
            f'job "{job_id}" gets no secrets ({", ".join(names)}) in pull requests from forks; '
            'add if: "!fork" to skip it there'
        )
        found.append(Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "fork"))
    return found


def _may_run_for_fork(job: dict[str, Any]) -> bool:
    """Whether the job's `if:` holds for some pull request from a fork: the variables a fork's
    pull request fixes are set, the others take every string the condition mentions."""
    source = job.get("if")
    if source is None:
        return True
    try:
        condition = conditions.parse(source) if isinstance(source, str) else None
    except conditions.ConditionError:
        condition = None
    if condition is None:
        return False  # lint reports the condition itself
    if condition.result_aware:  # results are known only while the pipeline runs
        return conditions.may_hold(condition, _FORK_PULL_REQUEST)
    free = [
        name
        for name, kind in conditions.VARIABLES.items()
        if name not in _FORK_PULL_REQUEST and kind is str and re.search(rf"\b{name}\b", source)
    ]
    candidates = sorted({"", "github", "gitlab", "gitea", *_literals(source)})
    if len(candidates) ** len(free) > _MAX_CASES:
        return True
    base = {**dict.fromkeys(conditions.VARIABLES, ""), **_FORK_PULL_REQUEST}
    return any(
        condition.evaluate(base | dict(zip(free, values, strict=True)))
        for values in itertools.product(candidates, repeat=len(free))
    )


def _literals(source: str) -> Iterator[str]:
    for match in _STRING.finditer(source):
        if match.group(1) is not None:
            yield match.group(1).replace("''", "'")
        else:
            yield re.sub(r"\\(.)", r"\1", match.group(2))
