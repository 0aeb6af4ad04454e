"""The secret catalog: which pipeline secret names exist in which scope, never their values.

A scope is a repository (`github.com/acme/api`) or one of its parent namespaces
(`github.com/acme`; on GitLab also intermediate groups such as `gitlab.com/acme/platform`).
A job's secret resolves in the repository's own scope first, then in each parent namespace,
nearest first; one repository can never reach another repository's secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Protocol

from knargo.formats import positions
from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.naming import secret_object_name

__all__ = [
    "SECRET_NAME",
    "FileCatalog",
    "SecretCatalog",
    "SecretRef",
    "load_catalog",
    "lookup_scopes",
]

SECRET_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SCOPE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[^/\s]+)+$")


@dataclass(frozen=True)
class SecretRef:
    """Where a job's secret lives: the scope it resolved in and its Kubernetes Secret."""

    scope: str
    name: str

    @property
    def object_name(self) -> str:
        return secret_object_name(self.scope, self.name)

    key = "value"


class SecretCatalog(Protocol):
    def names(self, scope: str) -> frozenset[str]:
        """The secret names defined directly in `scope` (empty when none)."""
        ...


def lookup_scopes(repository_scope: str) -> Iterator[str]:
    """`host/a/b/repo`, then `host/a/b`, then `host/a`: where a repository's secrets may live."""
    parts = repository_scope.split("/")
    for end in range(len(parts), 1, -1):
        yield "/".join(parts[:end])


def resolve(catalog: SecretCatalog, repository_scope: str, name: str) -> SecretRef | None:
    for scope in lookup_scopes(repository_scope):
        if name in catalog.names(scope):
            return SecretRef(scope, name)
    return None


def available(catalog: SecretCatalog, repository_scope: str) -> frozenset[str]:
    """Every secret name a repository can use."""
    found: set[str] = set()
    for scope in lookup_scopes(repository_scope):
        found |= catalog.names(scope)
    return frozenset(found)


@dataclass(frozen=True)
class FileCatalog:
    """A catalog read from `catalog.yaml` (`scopes: {scope: [NAME, ...]}`)."""

    scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def names(self, scope: str) -> frozenset[str]:
        return self.scopes.get(scope.lower(), frozenset())


def load_catalog(path: str | FilePath) -> tuple[FileCatalog | None, list[Diagnostic]]:
    text, problems = positions.read(path)
    return (None, problems) if text is None else parse_catalog(text, str(path))


def parse_catalog(text: str, file: str) -> tuple[FileCatalog | None, list[Diagnostic]]:
    doc, problems = positions.load(text, file)
    if doc is None or problems:
        return None, problems
    data = doc.data if doc.data is not None else {"scopes": {}}

    def error(path: positions.Path, message: str, on_key: bool = False) -> None:
        mark = doc.key_mark(path) if on_key else doc.value_mark(path)
        problems.append(Diagnostic(file, mark.line, mark.col, Severity.ERROR, message, "catalog"))

    if not isinstance(data, dict) or set(data) - {"scopes"}:
        error((), 'expected a mapping with the single key "scopes"')
        return None, problems
    scopes = data.get("scopes") or {}
    if not isinstance(scopes, dict):
        error(("scopes",), '"scopes" must map scopes to lists of secret names')
        return None, problems
    result: dict[str, frozenset[str]] = {}
    for scope, names in scopes.items():
        if not _SCOPE.match(scope):
            error(
                ("scopes", scope),
                f'invalid scope "{scope}" (expected host/owner or host/owner/repository)',
                on_key=True,
            )
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            error(("scopes", scope), f'scope "{scope}" must list secret names')
            continue
        for i, name in enumerate(names):
            if not SECRET_NAME.match(name):
                error(("scopes", scope, i), f'invalid secret name "{name}" ([A-Z_][A-Z0-9_]*)')
        result[scope.lower()] = frozenset(names)
    return (None, problems) if problems else (FileCatalog(result), [])
