"""Which jobs of a pipeline an event runs, and what each waits for.

A job is left out when its `paths:`/`paths-ignore:` match no changed path (branch pushes and
pull requests only: tags and schedules have no changed paths, and unknown paths count as
matched), or when its `if:` cannot hold for the event (`knargo.translation.depends`: a
condition without a status function also needs every needed job to have succeeded, so a job
that needs a job left out by its `if:` is left out too). A job left out for its paths blocks
nobody: `success()` counts it as passed and `needs.<job>.result` is `skipped`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from knargo.language import conditions
from knargo.language.dialect import CiConfig, Job
from knargo.language.globs import PatternList
from knargo.translation.depends import Need, depends

__all__ = ["IF", "PATHS", "Selection", "reads_changed_paths", "select"]

IF = "if"
PATHS = "paths"


@dataclass(frozen=True)
class Selection:
    """The jobs that run (file order), the `depends` of the result-aware ones, the jobs left
    out and why (`IF` or `PATHS`), and notes on assumptions."""

    jobs: dict[str, Job]
    depends: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=512)
def _condition(source: str) -> conditions.Condition:
    return conditions.parse(source)


def select(
    config: CiConfig,
    order: Sequence[str],
    variables: Mapping[str, str | bool],
    names: Mapping[str, str],
    changed_paths: Sequence[str] | None,
    *,
    paths_apply: bool,
) -> Selection:
    """`order` lists the job ids with each after the jobs it needs; `names` maps job ids to
    task names; `changed_paths` None: unknown."""
    selection = Selection({})
    if paths_apply and changed_paths is not None:
        variables = {**variables, conditions.CHANGED: "\0".join(changed_paths)}
    elif paths_apply and any(_reads_changed(job) for job in config.jobs.values()):
        selection.notes.append("changed paths unknown: changed() counted as true")
    selected: set[str] = set()
    ancestors: dict[str, set[str]] = {}
    for job_id in order:
        job = config.jobs[job_id]
        ancestors[job_id] = set(job.needs).union(*(ancestors[n] for n in job.needs))
        if paths_apply and not _paths_match(job_id, job, changed_paths, selection.notes):
            selection.left_out[job_id] = PATHS
            continue
        needs = {
            n: Need(
                names[n] if n in selected else None,
                selection.left_out.get(n, ""),
                config.jobs[n].continue_on_error,
            )
            for n in job.needs
        }
        failed_before = [
            names[a]
            for a in config.jobs
            if a in ancestors[job_id] and a in selected and not config.jobs[a].continue_on_error
        ]
        condition = _condition(job.if_) if job.if_ is not None else None
        value = depends(condition, variables, needs, failed_before)
        if value is False:
            selection.left_out[job_id] = IF
            continue
        selected.add(job_id)
        if condition is not None and condition.result_aware and isinstance(value, str):
            selection.depends[job_id] = value
    selection.jobs.update((i, j) for i, j in config.jobs.items() if i in selected)
    return selection


def _reads_changed(job: Job) -> bool:
    if job.if_ is None:
        return False
    tree = _condition(job.if_).tree
    return any(
        isinstance(n, conditions.Call) and n.function == "changed" for n in conditions.walk(tree)
    )


def reads_changed_paths(config: CiConfig) -> bool:
    """Whether a job's `paths:`, `paths-ignore:` or `changed()` needs the changed paths."""
    return any(
        job.paths is not None or job.paths_ignore is not None or _reads_changed(job)
        for job in config.jobs.values()
    )


def _paths_match(job_id: str, job: Job, changed: Sequence[str] | None, notes: list[str]) -> bool:
    if job.paths is None and job.paths_ignore is None:
        return True
    if changed is None:
        notes.append(f"changed paths unknown: jobs.{job_id} paths counted as matched")
        return True
    if job.paths_ignore is not None:
        ignored = PatternList(tuple(job.paths_ignore))
        changed = [path for path in changed if not ignored.matches(path)]
    if job.paths is None:
        return bool(changed)
    return PatternList(tuple(job.paths)).matches_any(changed)
