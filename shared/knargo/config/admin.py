"""What the secrets commands decide, without I/O: `knargo secrets` and the catalog.

Pipeline secrets: a scope and a name become a Kubernetes Secret (key `value`, managed-by label,
annotations for scope, name and update time) plus an entry in the catalog ConfigMap, written
back deterministically. Runner aliases are checked in `knargo.config.runnercheck` (with
`knargo.config.quantities`), fork warnings of `lint --cluster` in
`knargo.language.forkcheck`. The CLI reads and
writes the cluster through `knargo.io.kube`; everything here is a function of its arguments.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from knargo.config.catalog import SECRET_NAME, SecretRef, parse_catalog
from knargo.config.settings import Settings
from knargo.contract.errors import KnargoError
from knargo.formats import positions
from knargo.formats.diagnostics import Diagnostic
from knargo.formats.naming import secret_object_name
from knargo.formats.yamltext import dump_all

__all__ = [
    "CATALOG_CONFIG_MAP",
    "CATALOG_KEY",
    "CONFIG_CONFIG_MAP",
    "CONFIG_KEY",
    "MANAGED_BY",
    "InvalidInput",
    "SecretRow",
    "catalog_config_map",
    "catalog_text",
    "configured_namespace",
    "foreign_secret",
    "parse_scope",
    "read_catalog",
    "secret_manifest",
    "secret_name",
    "secret_rows",
    "secret_value",
    "with_secret",
    "without_secret",
]

CATALOG_CONFIG_MAP, CATALOG_KEY = "knargo-secret-catalog", "catalog.yaml"
CONFIG_CONFIG_MAP, CONFIG_KEY = "knargo-config", "config.yaml"
MANAGED_BY = {"app.kubernetes.io/managed-by": "knargo"}
PART_OF = {"app.kubernetes.io/part-of": "knargo"}
SCOPE_ANNOTATION = "knargo.dev/secret-scope"
NAME_ANNOTATION = "knargo.dev/secret-name"
UPDATED_ANNOTATION = "knargo.dev/updated-at"
MAX_VALUE_BYTES = 1024 * 1024  # what one Kubernetes Secret holds
_SCOPE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[^/\s]+)+$")
Scopes = dict[str, frozenset[str]]


class InvalidInput(KnargoError):
    """A scope, name or value the commands refuse; the message says why (never the value)."""


# --- names and values -----------------------------------------------------------------------


def parse_scope(text: str) -> str:
    """`host/owner` or `host/owner/repository` (GitLab: `host/group/subgroup/...`), lower-case."""
    scope = text.strip().strip("/").lower()
    host, _, rest = scope.partition("/")
    segments = rest.split("/")
    if (
        not _SCOPE.match(scope)
        or not ("." in host or ":" in host or host.split(":")[0] == "localhost")
        or any(s in (".", "..") for s in segments)
    ):
        raise InvalidInput(
            f'invalid scope "{text}": expected HOST/OWNER or HOST/OWNER/REPOSITORY, '
            "the forge host included (e.g. github.com/acme/api)"
        )
    return scope


def secret_name(text: str) -> str:
    """A name as `secrets:` in ci.yaml uses it: environment-variable rules."""
    if not SECRET_NAME.match(text):
        raise InvalidInput(
            f'invalid secret name "{text}": secret names follow environment-variable rules '
            "([A-Z_][A-Z0-9_]*: upper-case letters, digits and _, not starting with a digit)"
        )
    return text


def secret_value(raw: bytes) -> bytes:
    """The value as read: one trailing newline (`\\n` or `\\r\\n`) dropped, empty refused."""
    value = raw[:-2] if raw.endswith(b"\r\n") else raw.removesuffix(b"\n")
    if not value:
        raise InvalidInput("empty value refused: give the value on stdin or with --from-file")
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidInput(
            f"the value is {len(value):,} bytes; a Kubernetes Secret holds at most "
            f"{MAX_VALUE_BYTES:,}"
        )
    return value


def configured_namespace(text: str) -> str | None:
    """The pipeline namespace a configuration file names (`ci` when it names none); None when
    the file cannot be read."""
    doc, problems = positions.load(text, CONFIG_KEY)
    if doc is None or problems:
        return None
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        return None
    namespace = data.get("namespace", Settings.model_fields["namespace"].default)
    return namespace if isinstance(namespace, str) and namespace else None


# --- the catalog ConfigMap ------------------------------------------------------------------


def read_catalog(
    config_map: Mapping[str, Any] | None, label: str
) -> tuple[Scopes | None, list[Diagnostic]]:
    """The scopes of a catalog ConfigMap (none yet: empty); diagnostics when it is invalid."""
    text = ((config_map or {}).get("data") or {}).get(CATALOG_KEY)
    if text is None:
        return {}, []
    catalog, problems = parse_catalog(text, label)
    return (dict(catalog.scopes), []) if catalog is not None else (None, problems)


def with_secret(scopes: Scopes, scope: str, name: str) -> Scopes:
    return {**scopes, scope: scopes.get(scope, frozenset()) | {name}}


def without_secret(scopes: Scopes, scope: str, name: str) -> Scopes:
    left = {**scopes, scope: scopes.get(scope, frozenset()) - {name}}
    return {s: names for s, names in left.items() if names}


def catalog_text(scopes: Scopes) -> str:
    """`catalog.yaml`: scopes and names sorted, so equal catalogs are equal text."""
    ordered = {scope: sorted(scopes[scope]) for scope in sorted(scopes) if scopes[scope]}
    body = dump_all([{"scopes": ordered}]).removeprefix("---\n")
    return "# Written by `knargo secrets`: names only, never values.\n" + body


def catalog_config_map(
    namespace: str, scopes: Scopes, live: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The catalog ConfigMap to write: a new one, or the live one at its resourceVersion with
    only `catalog.yaml` changed (its labels, annotations and other keys are someone else's,
    e.g. the deployment's)."""
    meta = (live or {}).get("metadata") or {}
    labels = meta.get("labels") if live is not None else {**PART_OF, **MANAGED_BY}
    metadata: dict[str, Any] = {"name": CATALOG_CONFIG_MAP, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    if meta.get("resourceVersion"):
        metadata["resourceVersion"] = meta["resourceVersion"]
    data = {**((live or {}).get("data") or {}), CATALOG_KEY: catalog_text(scopes)}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


# --- the Secrets ----------------------------------------------------------------------------


def secret_manifest(
    namespace: str,
    scope: str,
    name: str,
    value: bytes,
    updated: datetime,
    live: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Secret holding a value; `live` (its metadata) keeps others' labels and annotations
    and the resourceVersion the replacement is conditional on."""
    live = live or {}
    annotations = {
        **(live.get("annotations") or {}),
        SCOPE_ANNOTATION: scope,
        NAME_ANNOTATION: name,
        UPDATED_ANNOTATION: updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    metadata: dict[str, Any] = {
        "name": secret_object_name(scope, name),
        "namespace": namespace,
        "labels": {**(live.get("labels") or {}), **MANAGED_BY},
        "annotations": annotations,
    }
    if live.get("resourceVersion"):
        metadata["resourceVersion"] = live["resourceVersion"]
    data = {SecretRef.key: base64.b64encode(value).decode("ascii")}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": data,
    }


def foreign_secret(live: Mapping[str, Any], scope: str, name: str) -> str | None:
    """Why an existing Secret of the derived name must not be touched (None: it is ours)."""
    object_name = live.get("name", secret_object_name(scope, name))
    labels, annotations = live.get("labels") or {}, live.get("annotations") or {}
    if any(labels.get(k) != v for k, v in MANAGED_BY.items()):
        return f'Secret "{object_name}" exists and is not managed by knargo; refusing to change it'
    owner = (annotations.get(SCOPE_ANNOTATION), annotations.get(NAME_ANNOTATION))
    if owner != (scope, name):
        return (
            f'Secret "{object_name}" belongs to {owner[0]} {owner[1]}, not {scope} {name}; '
            "refusing to change it"
        )
    return None


@dataclass(frozen=True)
class SecretRow:
    """One pipeline secret as `knargo secrets list` shows it (never its value)."""

    scope: str
    name: str
    secret: str
    updated: str | None
    state: str  # "ok", "missing-secret" (catalog only) or "not-in-catalog" (Secret only)

    def to_dict(self) -> dict[str, str | None]:
        return {k: getattr(self, k) for k in ("scope", "name", "secret", "updated", "state")}


def secret_rows(
    scopes: Scopes, secrets: Iterable[Mapping[str, Any]], under: str | None = None
) -> list[SecretRow]:
    """Catalog entries joined with the Secrets' metadata, at or below `under`, sorted."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for meta in secrets:
        annotations = meta.get("annotations") or {}
        key = (annotations.get(SCOPE_ANNOTATION), annotations.get(NAME_ANNOTATION))
        if isinstance(key[0], str) and isinstance(key[1], str):
            found[(key[0], key[1])] = meta
    listed = {(scope, name) for scope, names in scopes.items() for name in names}
    rows = []
    for scope, name in sorted(listed | set(found)):
        if under is not None and scope != under and not scope.startswith(under + "/"):
            continue
        meta = found.get((scope, name), {})
        state = "ok" if (scope, name) in listed else "not-in-catalog"
        state = state if meta else "missing-secret"
        secret = meta.get("name") or secret_object_name(scope, name)
        updated = (meta.get("annotations") or {}).get(UPDATED_ANNOTATION)
        rows.append(SecretRow(scope, name, secret, updated, state))
    return rows
