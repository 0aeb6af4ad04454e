"""Jobs as they run: one unit per job, or per combination of a job's `matrix:`.

A unit is keyed by how it is shown (`knargo.language.matrix.display_name`: the job's id or
`name`, and a combination's values: `test (3.12, ubuntu)`), which is the `knargo.dev/job`
annotation of its template and so its commit status context. Its job has the combination's
values in place of `${{ matrix.<axis> }}` (image, runner, env values, name, a service's image
and env values), the values as `MATRIX_<AXIS>` env vars, and `needs` naming units: a job that
needs a matrix job waits for every combination of it.

Task names: a job keeps its own (`knargo.formats.naming.template_names`); a combination gets
its job's name and its values, cleaned (`test-3-12-ubuntu`), plus a digest of the
combination when the cleaned form is taken (`3.1` and `3-1`, or a job of the file named
`test-3-1`, whether the event runs it or not), so names are deterministic, unique and valid
Argo task names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from knargo.formats import naming
from knargo.language import matrix
from knargo.language.dialect import Job, Service

__all__ = ["Expansion", "expand", "shown"]

_ROOM = 16  # for "-" and a digest within the 128 characters of a task name


@dataclass(frozen=True)
class Expansion:
    jobs: dict[str, Job]
    """Unit → its job, values substituted."""
    job_ids: dict[str, str]
    """Unit → the id of its job in ci.yaml."""
    names: dict[str, str]
    """Unit → its Argo template and task name."""


def expand(jobs: Mapping[str, Job], names: Mapping[str, str]) -> Expansion:
    """The units of `jobs` (already selected), in file order; `names`: the template names
    of every job of the file, by id."""
    units: dict[str, list[tuple[str, matrix.Combination | None]]] = {}
    for job_id, job in jobs.items():
        combinations = job.matrix.combinations if job.matrix else [None]
        units[job_id] = list(zip(shown({job_id: job}), combinations, strict=True))
    # Every job's own name is reserved, selected or not, so a combination is named alike
    # whichever jobs an event runs.
    taken = set(names.values())
    result = Expansion({}, {}, {})
    for job_id, job in jobs.items():
        needs = [unit for need in job.needs for unit, _ in units.get(need, [])]
        for unit, combination in units[job_id]:
            result.jobs[unit] = _concrete(job, combination, needs)
            result.job_ids[unit] = job_id
            if combination is None:
                result.names[unit] = names[job_id]
            else:
                result.names[unit] = _task_name(names[job_id], job_id, combination, taken)
                taken.add(result.names[unit])
    return result


def shown(jobs: Mapping[str, Job]) -> list[str]:
    """How each job, or each combination of a matrix job, is shown (unit names)."""
    found: list[str] = []
    for job_id, job in jobs.items():
        if job.matrix is None:
            found.append(matrix.display_name(job_id, job.name, None))
        else:
            found += matrix.display_names(job_id, job.name, job.matrix.combinations)
    return found


def _concrete(job: Job, combination: matrix.Combination | None, needs: list[str]) -> Job:
    if combination is None:
        return job if job.needs == needs else job.model_copy(update={"needs": needs})
    env = {k: matrix.substitute(v, combination) for k, v in job.env.items()}
    env.update({matrix.env_name(axis): value for axis, value in combination.items()})
    services = {n: _service(s, combination) for n, s in job.services.items()}
    return job.model_copy(
        update={
            "image": matrix.substitute(job.image, combination),
            "runner": matrix.substitute(job.runner, combination),
            "env": env,
            "services": services,
            "needs": needs,
            "matrix": None,
            "name": None,
        }
    )


def _service(service: Service, combination: matrix.Combination) -> Service:
    return service.model_copy(
        update={
            "image": matrix.substitute(service.image, combination),
            "env": {k: matrix.substitute(v, combination) for k, v in service.env.items()},
        }
    )


def _task_name(base: str, job_id: str, combination: matrix.Combination, taken: set[str]) -> str:
    stem = base[: naming.TEMPLATE_NAME_MAX - _ROOM - 8]
    values = naming.slug(
        "-".join(combination.values()), naming.TEMPLATE_NAME_MAX - _ROOM - len(stem)
    )
    candidate, length = f"{stem}-{values}", 6
    parts = [job_id, *(f"{k}={v}" for k, v in combination.items())]
    while candidate in taken:
        candidate = f"{stem}-{values}-{naming.digest(*parts, length=length)}"
        length += 2
    return candidate
