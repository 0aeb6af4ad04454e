"""Deterministic Kubernetes and Argo names derived from repositories, events and job ids.

Argo template and task names allow `[a-zA-Z0-9-]` (no `_`), Workflow names are at most 63
characters and CronWorkflow names at most 52; label values at most 63 characters of
`[A-Za-z0-9_.-]` starting and ending alphanumeric. Every function here is a pure function of
its inputs, so the same event always yields the same names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "RESERVED_TEMPLATE_NAMES",
    "annotations_safe",
    "cron_workflow_name",
    "digest",
    "label_value",
    "repository_id",
    "secret_object_name",
    "slug",
    "template_names",
    "workflow_name",
]

WORKFLOW_NAME_MAX = 63
CRON_WORKFLOW_NAME_MAX = 52
TEMPLATE_NAME_MAX = 128
LABEL_VALUE_MAX = 63
RESERVED_TEMPLATE_NAMES = frozenset({"pipeline"})

_TEMPLATE_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")
_KIND_WORDS = {"push": "push", "tag": "tag", "pull_request": "pr", "schedule": "cron"}


def digest(*parts: str, length: int = 10) -> str:
    """A short, stable hex digest of the parts (separated so that ("ab", "c") != ("a", "bc"))."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def slug(text: str, limit: int) -> str:
    """Lower-case DNS-label characters only, no leading/trailing/double dashes, at most `limit`."""
    cleaned = _NOT_DNS.sub("-", text.lower()).strip("-")
    cleaned = re.sub("-{2,}", "-", cleaned)[:limit].strip("-")
    return cleaned or "x"


def repository_id(forge_name: str, repository: str) -> str:
    """A label-safe identity of a repository on a forge, for label selectors."""
    return digest(forge_name, repository.lower(), length=16)


def workflow_name(forge_name: str, repository: str, kind: str, sha: str, delivery_id: str) -> str:
    """`<repo>-<kind>-<sha7>-<hash>`: a redelivery of one event always gets the same name."""
    identity = digest(forge_name, repository, kind, sha, delivery_id)
    suffix = f"-{_KIND_WORDS.get(kind, 'run')}-{slug(sha, 7)}-{identity}"
    return slug(repository.rsplit("/", 1)[-1], WORKFLOW_NAME_MAX - len(suffix)) + suffix


def cron_workflow_name(forge_name: str, repository: str, index: int) -> str:
    """`<repo>-cron<index>-<hash>`: stable for the n-th schedule of a repository."""
    suffix = f"-cron{index}-{digest(forge_name, repository.lower(), length=8)}"
    return slug(repository.rsplit("/", 1)[-1], CRON_WORKFLOW_NAME_MAX - len(suffix)) + suffix


def label_value(text: str) -> str:
    """A valid label value that reads like `text` (exact values belong in annotations)."""
    cleaned = _NOT_LABEL.sub(".", text)[:LABEL_VALUE_MAX]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def template_names(job_ids: Iterable[str]) -> dict[str, str]:
    """Map job ids to Argo template/task names, deterministically and without collisions.

    An id that already is a valid name keeps it. Any other id (with `_`, a leading
    underscore, or a reserved name) becomes its cleaned form plus a digest of the original
    id, so adding or removing one job never renames another.
    """
    ids = list(job_ids)
    names: dict[str, str] = {}
    for job_id in ids:
        if _TEMPLATE_NAME.match(job_id) and job_id not in RESERVED_TEMPLATE_NAMES:
            names[job_id] = job_id
    taken = set(names.values())
    for job_id in ids:
        if job_id in names:
            continue
        base = re.sub("-{2,}", "-", job_id.replace("_", "-")).strip("-") or "job"
        if not base[0].isalpha():
            base = f"j-{base}"
        length = 6
        candidate = f"{base[: TEMPLATE_NAME_MAX - 13]}-{digest(job_id, length=length)}"
        while candidate in taken:
            length += 2
            candidate = f"{base[: TEMPLATE_NAME_MAX - 13 - length]}-{digest(job_id, length=length)}"
        names[job_id] = candidate
        taken.add(candidate)
    return {job_id: names[job_id] for job_id in ids}


def secret_object_name(scope: str, name: str) -> str:
    """The Kubernetes Secret holding a pipeline secret `name` of `scope` (`host/owner[/repo]`)."""
    readable = slug(f"{scope.split('/', 1)[-1]}-{name}", 40)
    return f"knargo-{readable}-{digest(scope.lower(), name, length=10)}"


def annotations_safe(values: Mapping[str, str]) -> dict[str, str]:
    """Values with `{{` broken up, so Argo's templating never sees a tag in them."""
    return {k: _break_tags(v) for k, v in values.items()}


def _break_tags(value: str) -> str:
    while "{{" in value:  # one pass leaves `{{{{` as `{ {{ {`
        value = value.replace("{{", "{ {")
    return value
