"""The checks of `matrix:` and `services:` that span keys, on the raw data, with positions.

`as_written` first turns matrix values and services' env values written as YAML numbers or
booleans into their source text, as lint does for `env`. Then `check` reports: invalid or
clashing axes, `exclude` keys that are no axis, a matrix without combinations or with more
than `MAX_COMBINATIONS`, more jobs (combinations counted) than one Workflow holds,
`${{ matrix.<axis> }}` outside the places it is replaced in or naming no axis, an image or
runner that is invalid for some combination, two jobs shown under one name, and two
services of a job on one port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.locate import quote_list
from knargo.formats.positions import Document, Path
from knargo.language import matrix
from knargo.language.dialect import ValidationContext, image_problem, runner_problem

__all__ = ["MAX_JOBS", "as_written", "check"]

# spec.templates holds the DAG template and one per job; the v4 CRD allows 200.
MAX_JOBS = 199
_ALLOWED = "image, runner, env values and name (and a service's image and env values)"


def as_written(doc: Document) -> None:
    """Matrix values and services' env values written as numbers or booleans become their
    source text (`3.10`, not `3.1`)."""
    for job_id, job in _jobs(doc).items():
        spec = job.get("matrix")
        if isinstance(spec, dict):
            for key, values in spec.items():
                if key in matrix.KEYWORDS and isinstance(values, list):
                    for i, entry in enumerate(values):
                        if isinstance(entry, dict):
                            _scalars(doc, entry, ("jobs", job_id, "matrix", key, i))
                elif isinstance(values, list):
                    _scalars(doc, values, ("jobs", job_id, "matrix", key))
        services = job.get("services")
        for name, service in services.items() if isinstance(services, dict) else ():
            env = service.get("env") if isinstance(service, dict) else None
            if isinstance(env, dict):
                _scalars(doc, env, ("jobs", job_id, "services", name, "env"))


def _scalars(doc: Document, values: dict[Any, Any] | list[Any], path: Path) -> None:
    items = values.items() if isinstance(values, dict) else enumerate(values)
    for key, value in list(items):
        if isinstance(value, bool | int | float):
            values[key] = doc.raw.get((*path, key), str(value))
        elif value is None and isinstance(values, dict):
            values[key] = ""


def _jobs(doc: Document) -> dict[str, dict[str, Any]]:
    jobs = doc.data.get("jobs")
    return {k: v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(jobs, dict) else {}


class _Found:
    def __init__(self, doc: Document, file: str) -> None:
        self.doc, self.file, self.items = doc, file, list[Diagnostic]()

    def error(self, path: Path, message: str, rule: str, *, key: bool = False) -> None:
        mark = self.doc.key_mark(path) if key else self.doc.value_mark(path)
        self.items.append(Diagnostic(self.file, mark.line, mark.col, Severity.ERROR, message, rule))

    def error_at(self, path: Path, offset: int, message: str, rule: str) -> None:
        mark = self.doc.mark_at(path, offset)
        self.items.append(Diagnostic(self.file, mark.line, mark.col, Severity.ERROR, message, rule))


def check(doc: Document, file: str, context: ValidationContext) -> list[Diagnostic]:
    found = _Found(doc, file)
    names: dict[str, str] = {}
    units, matrices = 0, False
    for job_id, job in _jobs(doc).items():
        combinations = _matrix(found, job_id, job)
        _references(found, job_id, job, combinations)
        if combinations is not None:
            _per_combination(found, job_id, job, combinations, context)
        _ports(found, job_id, job)
        units += len(combinations) if combinations is not None else 1
        matrices = matrices or combinations is not None
        name = job.get("name") if isinstance(job.get("name"), str) else None
        shown_as = (
            matrix.display_names(job_id, name, combinations)
            if combinations is not None
            else [matrix.display_name(job_id, name, None)]
        )
        for shown in shown_as:
            if shown in names and any(d.rule == "name" for d in found.items[-1:]):
                break
            if shown in names and names[shown] != job_id:
                found.error(
                    ("jobs", job_id),
                    f'job "{job_id}" is shown as "{shown}", as job "{names[shown]}" is: '
                    "give one of them another name",
                    "name",
                    key=True,
                )
            elif shown in names:
                found.error(
                    ("jobs", job_id, "name"),
                    f'two combinations of job "{job_id}" are both shown as "{shown}": '
                    "put ${{ matrix.<axis> }} of the axes that tell them apart in its name",
                    "name",
                )
            names.setdefault(shown, job_id)
    if matrices and units > MAX_JOBS:  # without a matrix, plan counts the jobs an event runs
        found.error(
            ("jobs",),
            f"the pipeline has {units} jobs, counting each matrix combination as one; Argo "
            f"Workflows accepts at most {MAX_JOBS} in one Workflow (its CRD's limit of "
            f"{MAX_JOBS + 1} templates): split the pipeline or use smaller matrices",
            "matrix",
            key=True,
        )
    return found.items


def _matrix(found: _Found, job_id: str, job: dict[str, Any]) -> list[matrix.Combination] | None:
    """The job's combinations when its matrix is well formed (None without a matrix)."""
    spec = job.get("matrix")
    if not isinstance(spec, dict):
        return None
    path: Path = ("jobs", job_id, "matrix")
    axes = {k: v for k, v in spec.items() if k not in matrix.KEYWORDS}
    envs: dict[str, str] = {}
    ok = True
    for axis in axes:
        if not matrix.AXIS.match(axis):
            found.error(
                (*path, axis),
                f'invalid matrix axis "{axis}" (letters, digits, "_" and "-", '
                'starting with a letter or "_")',
                "matrix",
                key=True,
            )
            ok = False
        elif matrix.env_name(axis) in envs:
            found.error(
                (*path, axis),
                f'matrix axes "{envs[matrix.env_name(axis)]}" and "{axis}" would both be '
                f"${matrix.env_name(axis)} in the script: rename one",
                "matrix",
                key=True,
            )
        envs.setdefault(matrix.env_name(axis), axis)
    include, exclude = _entries(spec.get("include")), _entries(spec.get("exclude"))
    for i, entry in enumerate(exclude or []):
        for key in entry:
            if key not in axes:
                found.error(
                    (*path, "exclude", i, key),
                    f'"{key}" in matrix.exclude of job "{job_id}" is not an axis '
                    f"(axes: {quote_list(axes)})",
                    "matrix",
                    key=True,
                )
    if not axes and not spec.get("include"):
        found.error(
            path,
            f'the matrix of job "{job_id}" has no axes (e.g. python: ["3.12", "3.13"])',
            "matrix",
            key=True,
        )
        return None
    well_formed = all(_values(v) for v in axes.values())
    if not (ok and well_formed and include is not None and exclude is not None):
        return None
    combinations = matrix.combinations(axes, include, exclude)
    if not combinations:
        found.error(
            path, f'the matrix of job "{job_id}" has no combinations left', "matrix", key=True
        )
    elif len(combinations) > matrix.MAX_COMBINATIONS:
        found.error(
            path,
            f'the matrix of job "{job_id}" has {len(combinations)} combinations, over the '
            f"limit of {matrix.MAX_COMBINATIONS} per job: use fewer values, or exclude some",
            "matrix",
            key=True,
        )
    return combinations


def _values(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _entries(value: Any) -> list[dict[str, str]] | None:
    if value is None:
        return []
    if isinstance(value, list) and all(
        isinstance(e, dict) and all(isinstance(v, str) for v in e.values()) for e in value
    ):
        return value
    return None


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _substituted(path: Path) -> bool:
    """Whether `${{ matrix.<axis> }}` is replaced at `path` (relative to the job)."""
    if path in (("image",), ("runner",), ("name",)):
        return True
    if len(path) == 2 and path[0] == "env":
        return True
    service = len(path) >= 3 and path[0] == "services"
    return service and (path[2:] == ("image",) or (len(path) == 4 and path[2] == "env"))


def _references(
    found: _Found, job_id: str, job: dict[str, Any], combinations: list[matrix.Combination] | None
) -> None:
    spec = job.get("matrix")
    known = (
        {k for c in combinations for k in c}
        if combinations is not None
        else set(spec) - set(matrix.KEYWORDS)
        if isinstance(spec, dict)
        else set()
    )
    for path, text in _strings(job, ()):
        if path[:1] == ("matrix",):
            continue
        for axis, offset in matrix.references(text):
            where = ("jobs", job_id, *path)
            if not _substituted(path):
                hint = f"; in the script use ${matrix.env_name(axis)}" if path == ("run",) else ""
                found.error_at(
                    where,
                    offset,
                    f'"${{{{ matrix.{axis} }}}}" is not replaced in '
                    f"{'.'.join(str(p) for p in path)}: matrix values can be used only in "
                    f"{_ALLOWED}{hint}",
                    "matrix",
                )
            elif not isinstance(spec, dict):
                found.error_at(
                    where, offset, f'job "{job_id}" has no matrix for "matrix.{axis}"', "matrix"
                )
            elif axis not in known and combinations is not None:
                found.error_at(
                    where,
                    offset,
                    f'unknown matrix key "{axis}" in job "{job_id}" (keys: {quote_list(known)})',
                    "matrix",
                )


def _per_combination(
    found: _Found,
    job_id: str,
    job: dict[str, Any],
    combinations: list[matrix.Combination],
    context: ValidationContext,
) -> None:
    """An image or runner that is valid as written may not be for every combination."""
    checks: list[tuple[Path, str, Callable[[str, ValidationContext], str | None]]] = [
        (("image",), "image", image_problem),
        (("runner",), "runner", runner_problem),
    ]
    services = job.get("services")
    for name, service in services.items() if isinstance(services, dict) else ():
        if isinstance(service, dict):
            checks.append((("services", name, "image"), "image", image_problem))
    for path, rule, problem_of in checks:
        value: Any = job
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str) or not matrix.REFERENCE.search(value):
            continue
        for combination in combinations:
            problem = problem_of(matrix.substitute(value, combination), context)
            if problem:
                values = ", ".join(combination.values())
                found.error(("jobs", job_id, *path), f"{problem} (matrix: {values})", rule)
                break


def _ports(found: _Found, job_id: str, job: dict[str, Any]) -> None:
    services = job.get("services")
    taken: dict[int, str] = {}
    for name, service in services.items() if isinstance(services, dict) else ():
        ports = service.get("ports") if isinstance(service, dict) else None
        for i, port in enumerate(ports if isinstance(ports, list) else []):
            if isinstance(port, int) and port in taken:
                found.error(
                    ("jobs", job_id, "services", name, "ports", i),
                    f'services "{taken[port]}" and "{name}" of job "{job_id}" both use port '
                    f"{port}: they share localhost",
                    "services",
                )
            elif isinstance(port, int):
                taken[port] = name
