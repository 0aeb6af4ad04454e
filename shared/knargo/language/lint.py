"""Check a `ci.yaml` completely: every problem, with its position, in one pass.

`check` composes the YAML with positions, validates the models (with the platform's runner
aliases and registries as context) and runs the checks that span several keys on the raw data
(so they still run when some other part of the file is invalid): `needs` targets and cycles,
secrets against the catalog, schedules that never fire.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from knargo.config import catalog as secret_catalog
from knargo.config.catalog import SecretCatalog
from knargo.config.settings import Settings
from knargo.formats import positions
from knargo.formats.diagnostics import Diagnostic, Severity, has_errors, normalize
from knargo.formats.locate import diagnostics_from, quote_list, suggest
from knargo.formats.positions import Document, Path
from knargo.language import conditions, cron, foreign, habits, matrixcheck
from knargo.language.artifacts import check_files
from knargo.language.checkout import check_checkout
from knargo.language.dialect import CiConfig, ValidationContext
from knargo.language.reachability import check_conditions

__all__ = ["Checked", "check"]

# Schedules are checked for a next run within robfig's horizon from a fixed instant, so the
# result does not depend on when lint runs.
_NEVER_FIRES_FROM = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one file: the model when valid, and every diagnostic."""

    config: CiConfig | None
    diagnostics: list[Diagnostic]


def check(
    text: str,
    file: str = "ci.yaml",
    *,
    settings: Settings | None = None,
    catalog: SecretCatalog | None = None,
    scope: str | None = None,
) -> Checked:
    """Validate `text`; secrets are checked only when both `catalog` and `scope` are given."""
    doc, found = positions.load(text, file)
    if doc is None:
        return Checked(None, normalize(found))
    if not isinstance(doc.data, dict):
        what = "the file is empty" if doc.data is None else "the file is not a mapping"
        found.append(
            Diagnostic(
                file, 1, 1, Severity.ERROR, f'{what}: expected a mapping with "jobs"', "schema"
            )
        )
        return Checked(None, normalize(found))
    _env_as_written(doc)
    matrixcheck.as_written(doc)
    context = ValidationContext(
        runners=frozenset(settings.runners) if settings else None,
        allowed_registries=tuple(settings.allowed_registries) if settings else (),
    )
    config = None
    try:
        config = CiConfig.model_validate(doc.data, context=context)
    except ValidationError as exc:
        found += diagnostics_from(exc, doc, file, CiConfig, _describe, foreign.hint)
    found += _check_needs(doc, file)
    found += check_conditions(doc, file, _jobs(doc))
    found += _check_overlap(doc, file)
    found += _check_path(doc, file)
    found += check_files(doc, file, _jobs(doc))
    if catalog is not None and scope is not None:
        found += _check_secrets(doc, file, catalog, scope)
    found += _check_schedules(doc, file)
    found += check_checkout(doc, file)
    found += matrixcheck.check(doc, file, context)
    found += _check_needed_results(doc, file)
    found += _check_schedule_names(doc, file)
    found += habits.check_expressions(doc, file)
    result = normalize(found)
    return Checked(None if has_errors(result) else config, result)


def _describe(path: Path) -> str:
    if len(path) >= 2 and path[0] == "jobs":
        rest = ".".join(str(p) for p in path[2:])
        return f' in job "{path[1]}"' + (f" ({rest})" if rest else "")
    if path:
        return " in " + ".".join(str(p) for p in path)
    return ""


def _jobs(doc: Document) -> dict[str, Any]:
    jobs = doc.data.get("jobs")
    return {k: v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(jobs, dict) else {}


def _env_as_written(doc: Document) -> None:
    """Env values written as YAML numbers or booleans become their source text (`1.10`)."""
    for path, env in _envs(doc):
        for key, value in env.items():
            if value is None or isinstance(value, bool | int | float):
                env[key] = doc.raw.get((*path, key), "") if value is not None else ""


def _envs(doc: Document) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The top-level `env` and each job's, where they are mappings."""
    paths: list[Path] = [("env",)] + [("jobs", job_id, "env") for job_id in _jobs(doc)]
    for path in paths:
        env = doc.data
        for part in path:
            env = env.get(part) if isinstance(env, dict) else None
        if isinstance(env, dict):
            yield path, env


def _needs_entries(doc: Document) -> Iterator[tuple[str, str, Path]]:
    for job_id, job in _jobs(doc).items():
        needs = job.get("needs")
        if isinstance(needs, str):
            yield job_id, needs, ("jobs", job_id, "needs")
        elif isinstance(needs, list):
            for i, target in enumerate(needs):
                if isinstance(target, str):
                    yield job_id, target, ("jobs", job_id, "needs", i)


def _check_needs(doc: Document, file: str) -> list[Diagnostic]:
    jobs = _jobs(doc)
    found: list[Diagnostic] = []
    edges: dict[str, list[tuple[str, Path]]] = {job_id: [] for job_id in jobs}
    for job_id, target, path in _needs_entries(doc):
        if target in jobs:
            edges[job_id].append((target, path))
            continue
        mark = doc.value_mark(path)
        found.append(
            Diagnostic(
                file,
                mark.line,
                mark.col,
                Severity.ERROR,
                f'job "{job_id}" needs unknown job "{target}" (jobs: {quote_list(jobs)})'
                + suggest(target, jobs),
                "needs",
            )
        )
    for cycle, path in _cycles(edges):
        mark = doc.value_mark(path)
        found.append(
            Diagnostic(
                file,
                mark.line,
                mark.col,
                Severity.ERROR,
                "dependency cycle: " + " → ".join(cycle),
                "cycle",
            )
        )
    return found


def _cycles(edges: dict[str, list[tuple[str, Path]]]) -> list[tuple[list[str], Path]]:
    """The shortest cycle through the first job (in file order) of each cyclic component."""
    order = {job_id: i for i, job_id in enumerate(edges)}
    cycles = []
    for component in _components(edges):
        start = min(component, key=order.__getitem__)
        parent: dict[str, tuple[str, Path]] = {}
        queue, closing = [start], None
        while queue and closing is None:
            node = queue.pop(0)
            for target, path in edges[node]:
                if target == start:
                    closing = (node, path)
                    break
                if target in component and target not in parent:
                    parent[target] = (node, path)
                    queue.append(target)
        if closing is None:
            continue
        chain, node = [start], closing[0]
        while node != start:
            chain.append(node)
            node = parent[node][0]
        chain.append(start)
        cycle = [start, *reversed(chain[1:-1]), start]
        first_path = closing[1] if len(cycle) == 2 else parent[cycle[1]][1]
        cycles.append((cycle, first_path))
    return cycles


def _components(edges: dict[str, list[tuple[str, Path]]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = [t for t, _ in edges[node]]
            if i < len(targets):
                work.append((node, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


def _secret_items(job_id: str, job: dict[str, Any]) -> list[tuple[Any, Any, Path]]:
    """(env var name, secret name, path of the entry) of a job's `secrets`, as written."""
    secrets = job.get("secrets")
    if isinstance(secrets, list):
        return [(n, n, ("jobs", job_id, "secrets", i)) for i, n in enumerate(secrets)]
    if isinstance(secrets, dict):
        return [(k, n, ("jobs", job_id, "secrets", k)) for k, n in secrets.items()]
    return []


def _check_overlap(doc: Document, file: str) -> list[Diagnostic]:
    """A variable set by both `env` and `secrets` of one job is ambiguous."""
    found = []
    for job_id, job in _jobs(doc).items():
        env = job.get("env") if isinstance(job.get("env"), dict) else {}
        for env_name, _, path in _secret_items(job_id, job):
            if isinstance(env_name, str) and env_name in env:
                mark = doc.value_mark(path)
                found.append(
                    Diagnostic(
                        file,
                        mark.line,
                        mark.col,
                        Severity.ERROR,
                        f'"{env_name}" is set by both env and secrets in job "{job_id}"',
                        "env",
                    )
                )
    return found


def _check_path(doc: Document, file: str) -> list[Diagnostic]:
    """`env: {PATH: ...}` replaces the image's PATH: the shell itself may not be found."""
    found = []
    for path, env in _envs(doc):
        if "PATH" in env:
            mark = doc.key_mark((*path, "PATH"))
            message = (
                "PATH replaces the image's own, so the shell and the job's programs may not be "
                'found: extend it in the script instead (export PATH="/opt/tool/bin:$PATH")'
            )
            found.append(Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "env"))
    return found


def _check_secrets(
    doc: Document, file: str, catalog: SecretCatalog, scope: str
) -> list[Diagnostic]:
    known = secret_catalog.available(catalog, scope)
    found = []
    for job_id, job in _jobs(doc).items():
        for _, name, path in _secret_items(job_id, job):
            if (
                isinstance(name, str)
                and secret_catalog.SECRET_NAME.match(name)
                and name not in known
            ):
                mark = doc.value_mark(path)
                found.append(
                    Diagnostic(
                        file,
                        mark.line,
                        mark.col,
                        Severity.ERROR,
                        f'unknown secret "{name}" for {scope} (defined: {quote_list(known)})'
                        + suggest(name, known),
                        "secret",
                    )
                )
    return found


def _check_schedules(doc: Document, file: str) -> list[Diagnostic]:
    on = doc.data.get("on")
    entries = on.get("schedule") if isinstance(on, dict) else None
    found = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("cron"), str):
            continue
        zone = entry.get("timezone")
        try:
            schedule = cron.parse_standard(
                entry["cron"],
                allow_tz_prefix=False,
                timezone=zone if isinstance(zone, str) else None,
            )
        except cron.CronError:
            continue  # reported by the model
        if schedule.next(_NEVER_FIRES_FROM) is None:
            mark = doc.value_mark(("on", "schedule", i, "cron"))
            found.append(
                Diagnostic(
                    file,
                    mark.line,
                    mark.col,
                    Severity.WARNING,
                    f'schedule "{entry["cron"]}" never fires',
                    "cron",
                )
            )
    return found


def _check_needed_results(doc: Document, file: str) -> list[Diagnostic]:
    """`needs.<job>.result` in `if:` names a job the job needs."""
    found = []
    for job_id, job in _jobs(doc).items():
        source = job.get("if")
        try:
            tree = conditions.parse(source).tree if isinstance(source, str) else None
        except conditions.ConditionError:
            continue  # reported by the model
        needs = {target for owner, target, _ in _needs_entries(doc) if owner == job_id}
        nodes = list(conditions.walk(tree)) if tree is not None else []
        negated = {id(n.operand) for n in nodes if isinstance(n, conditions.Not)}
        for node in nodes:
            never = _never_true_status(node, needs) if id(node) not in negated else ""
            if never:
                mark = doc.mark_at(("jobs", job_id, "if"), node.offset)
                found.append(
                    Diagnostic(file, mark.line, mark.col, Severity.WARNING, never, "expression")
                )
            match = conditions.NEEDS_RESULT.match(getattr(node, "name", ""))
            if isinstance(node, conditions.Variable) and match and match[1] not in needs:
                mark = doc.mark_at(("jobs", job_id, "if"), node.offset)
                message = (
                    f'{node.name}: job "{job_id}" does not need "{match[1]}"; add it to '
                    f"needs, or read the result of a job it needs ({quote_list(needs) or 'none'})"
                )
                found.append(
                    Diagnostic(file, mark.line, mark.col, Severity.ERROR, message, "needs")
                )
    return found


def _never_true_status(node: conditions.Node, needs: set[str]) -> str:
    """Why a status function can never be true here, or ""."""
    if not isinstance(node, conditions.Call):
        return ""
    if node.function == "cancelled":
        return (
            "cancelled() is never true: Argo starts no job once a pipeline is stopped, "
            "so no job runs after a cancellation"
        )
    if node.function == "failure" and not needs:
        return (
            "failure() is never true in a job that needs no job: add the jobs it follows to needs"
        )
    return ""


def _schedule_labels(doc: Document) -> list[str]:
    """What `schedule` can hold: each on.schedule entry's name, or its cron text."""
    on = doc.data.get("on")
    entries = on.get("schedule") if isinstance(on, dict) else None
    labels = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            label = entry.get("name", entry.get("cron"))
            if isinstance(label, str):
                labels.append(cron.normalize(label) if "name" not in entry else label)
    return labels


def _check_schedule_names(doc: Document, file: str) -> list[Diagnostic]:
    """Names are unique; `schedule == 'x'` where no on.schedule entry is x."""
    found = []
    on = doc.data.get("on")
    entries = on.get("schedule") if isinstance(on, dict) else None
    names = [e.get("name") if isinstance(e, dict) else None for e in entries or []]
    for i, name in enumerate(names if isinstance(entries, list) else []):
        if isinstance(name, str) and name in names[:i]:
            mark = doc.value_mark(("on", "schedule", i, "name"))
            message = (
                f'two schedules are called "{name}": give each its own name, so that if: '
                "can tell them apart"
            )
            found.append(Diagnostic(file, mark.line, mark.col, Severity.ERROR, message, "schedule"))
    labels = sorted(set(_schedule_labels(doc)))
    for job_id, job in _jobs(doc).items():
        try:
            source = job.get("if")
            tree = conditions.parse(source).tree if isinstance(source, str) else None
        except conditions.ConditionError:
            continue
        for node in conditions.walk(tree) if tree is not None else ():
            if not isinstance(node, conditions.Binary) or node.op not in ("==", "!="):
                continue
            pair = {type(node.left): node.left, type(node.right): node.right}
            variable, literal = pair.get(conditions.Variable), pair.get(conditions.Literal)
            if (
                isinstance(variable, conditions.Variable)
                and variable.name == "schedule"
                and isinstance(literal, conditions.Literal)
                and isinstance(literal.value, str)
                and literal.value not in labels
            ):
                mark = doc.mark_at(("jobs", job_id, "if"), literal.offset)
                message = (
                    f'no on.schedule entry is "{literal.value}": schedule holds an entry\'s '
                    f"name, or its cron text ({quote_list(labels) or 'no schedules'})"
                    + suggest(literal.value, labels)
                )
                found.append(
                    Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "schedule")
                )
    return found
