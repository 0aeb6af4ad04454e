"""Checks of `artifacts:` and `cache:` that span several jobs, on the raw data.

* Two jobs that one job needs must not declare overlapping artifact paths: both are restored
  into the same checkout, and which one wins would depend on the order of the restore. The
  error is reported at both paths, each naming the other's position.
* A job's script that names an artifact path of a job it does not list in `needs` gets a
  warning: a job receives only the artifacts of the jobs it needs itself (not transitively).
* Jobs that share a cache key must cache the same paths, else the cache holds the paths of
  whichever job saved it first.
* A matrix job with artifacts that a job needs gets a warning at its `artifacts` key: every
  combination's files are restored at the same paths, so same-named files overwrite each
  other (distinct subdirectories survive). A script that writes under a directory of an
  artifact path named by a matrix variable (`dist/$MATRIX_PYTHON/`) is not warned.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Any

from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.positions import Document, Path
from knargo.language import matrix

__all__ = ["check_files", "overlaps", "segments"]

_GLOB = re.compile(r"[*?\[]")


def check_files(doc: Document, file: str, jobs: dict[str, Any]) -> list[Diagnostic]:
    """Every cross-job problem of `artifacts:` and `cache:` in `jobs` (raw job mappings)."""
    return (
        _overlapping(doc, file, jobs)
        + _not_needed(doc, file, jobs)
        + _cache_keys(doc, file, jobs)
        + _matrix_artifacts(doc, file, jobs)
    )


def segments(path: str) -> list[str]:
    """`./dist/` → `["dist"]`: the path's parts as the shell sees them."""
    return [p for p in path.strip().removeprefix("./").rstrip("/").split("/") if p not in ("", ".")]


def overlaps(first: str, second: str) -> bool:
    """Whether some file could be matched by both paths (a directory holds what is under it)."""
    for a, b in zip(segments(first), segments(second), strict=False):
        if a != b and not fnmatch.fnmatchcase(a, b) and not fnmatch.fnmatchcase(b, a):
            return False
    return True


def _paths(doc: Document, job_id: str, job: dict[str, Any], key: str) -> Iterator[tuple[str, Path]]:
    """(path, position path) of a job's `artifacts.paths` or `cache.paths`, as written."""
    block = job.get(key)
    paths = block.get("paths") if isinstance(block, dict) else None
    if isinstance(paths, str):
        yield paths, ("jobs", job_id, key, "paths")
    elif isinstance(paths, list):
        for i, path in enumerate(paths):
            if isinstance(path, str):
                yield path, ("jobs", job_id, key, "paths", i)


def _needs(job: dict[str, Any], jobs: dict[str, Any]) -> list[str]:
    needs = job.get("needs")
    listed = [needs] if isinstance(needs, str) else needs if isinstance(needs, list) else []
    return list(dict.fromkeys(n for n in listed if isinstance(n, str) and n in jobs))


def _at(doc: Document, path: Path) -> str:
    mark = doc.value_mark(path)
    return f"{mark.line}:{mark.col}"


def _overlapping(doc: Document, file: str, jobs: dict[str, Any]) -> list[Diagnostic]:
    found: set[Diagnostic] = set()
    for consumer, job in jobs.items():
        needed = _needs(job, jobs)
        for i, first in enumerate(needed):
            for second in needed[i + 1 :]:
                for a, a_at in _paths(doc, first, jobs[first], "artifacts"):
                    for b, b_at in _paths(doc, second, jobs[second], "artifacts"):
                        if overlaps(a, b):
                            found.add(
                                _overlap(doc, file, (first, a, a_at), (second, b, b_at), consumer)
                            )
                            found.add(
                                _overlap(doc, file, (second, b, b_at), (first, a, a_at), consumer)
                            )
    return sorted(found)


def _overlap(
    doc: Document,
    file: str,
    this: tuple[str, str, Path],
    other: tuple[str, str, Path],
    consumer: str,
) -> Diagnostic:
    mark = doc.value_mark(this[2])
    return Diagnostic(
        file,
        mark.line,
        mark.col,
        Severity.ERROR,
        f'artifact path "{this[1]}" of job "{this[0]}" overlaps "{other[1]}" of job '
        f'"{other[0]}" ({file}:{_at(doc, other[2])}); job "{consumer}" needs both, so one '
        "would overwrite the other: give them distinct directories",
        "artifacts",
    )


def _ancestors(job_id: str, jobs: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    stack = _needs(jobs[job_id], jobs)
    while stack:
        target = stack.pop()
        if target not in seen:
            seen.add(target)
            stack += _needs(jobs[target], jobs)
    return seen


def _mentions(script: str, path: str) -> bool:
    literal = "/".join(segments(path))
    if len(literal) < 2 or _GLOB.search(literal):
        return False
    return (
        re.search(rf"(?:^|[\s'\"=(:])(?:\./)?{re.escape(literal)}(?:$|[/\s'\";)])", script)
        is not None
    )


def _not_needed(doc: Document, file: str, jobs: dict[str, Any]) -> list[Diagnostic]:
    found = []
    for job_id, job in jobs.items():
        script = job.get("run")
        if not isinstance(script, str):
            continue
        needed, ancestors = set(_needs(job, jobs)), _ancestors(job_id, jobs)
        for producer, producer_job in jobs.items():
            if producer == job_id or producer in needed:
                continue
            own = [p for p, _ in _paths(doc, job_id, job, "artifacts")]
            for path, _ in _paths(doc, producer, producer_job, "artifacts"):
                if not _mentions(script, path) or any(overlaps(path, o) for o in own):
                    continue  # a job that keeps the path itself makes it itself
                why = (
                    f'it needs "{producer}" only through other jobs'
                    if producer in ancestors
                    else f'it does not need "{producer}"'
                )
                mark = doc.value_mark(("jobs", job_id, "run"))
                found.append(
                    Diagnostic(
                        file,
                        mark.line,
                        mark.col,
                        Severity.WARNING,
                        f'job "{job_id}" uses "{path}", an artifact of job "{producer}", but '
                        f"{why}: a job receives the artifacts of the jobs in its own needs "
                        f'only; add "{producer}" to its needs',
                        "artifacts",
                    )
                )
                break
    return found


def _cache_keys(doc: Document, file: str, jobs: dict[str, Any]) -> list[Diagnostic]:
    first: dict[str, tuple[str, list[str]]] = {}
    found = []
    for job_id, job in jobs.items():
        cache = job.get("cache")
        key = cache.get("key") if isinstance(cache, dict) else None
        if not isinstance(key, str):
            continue
        paths = sorted("/".join(segments(p)) for p, _ in _paths(doc, job_id, job, "cache"))
        if key not in first:
            first[key] = (job_id, paths)
            continue
        other, other_paths = first[key]
        if paths != other_paths:
            mark = doc.value_mark(("jobs", job_id, "cache", "key"))
            found.append(
                Diagnostic(
                    file,
                    mark.line,
                    mark.col,
                    Severity.ERROR,
                    f'cache key "{key}" of job "{job_id}" is also the key of job "{other}" '
                    f"({file}:{_at(doc, ('jobs', other, 'cache', 'key'))}) with other paths; "
                    "a key holds one set of paths: use another key",
                    "cache",
                )
            )
    return found


def _matrix_artifacts(doc: Document, file: str, jobs: dict[str, Any]) -> list[Diagnostic]:
    found = []
    for job_id, job in jobs.items():
        axes = job.get("matrix")
        paths = [p for p, _ in _paths(doc, job_id, job, "artifacts")]
        consumers = [c for c, other in jobs.items() if job_id in _needs(other, jobs)]
        if not isinstance(axes, dict) or not paths or not consumers:
            continue
        names = [matrix.env_name(a) for a in axes if a not in ("include", "exclude")]
        script = job.get("run") if isinstance(job.get("run"), str) else ""
        if any(_per_combination(str(script), path) for path in paths):
            continue
        example = "/".join(segments(paths[0])) or "dist"
        mark = doc.key_mark(("jobs", job_id, "artifacts"))
        found.append(
            Diagnostic(
                file,
                mark.line,
                mark.col,
                Severity.WARNING,
                f'job "{job_id}" has a matrix: the artifacts of each of its combinations are '
                f'restored at the same paths in job "{consumers[0]}", so files of the same '
                "name overwrite each other; write each combination's files under a directory "
                f"named for it, e.g. {example}/${names[0] if names else 'MATRIX_<AXIS>'}/",
                "artifacts",
            )
        )
    return found


def _per_combination(script: str, path: str) -> bool:
    """Whether the script writes under `path` in a directory named by a matrix variable."""
    literal = re.escape("/".join(segments(path)))
    return re.search(rf"{literal}/\$\{{?MATRIX_", script) is not None
