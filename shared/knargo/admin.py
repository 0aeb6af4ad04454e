"""What the admin commands decide, without I/O: `knargo secrets`, `runners`, `lint --cluster`.

Pipeline secrets: a scope and a name become a Kubernetes Secret (key `value`, managed-by label,
annotations for scope, name and update time) plus an entry in the catalog ConfigMap, written
back deterministically. Runner aliases: every problem Kubernetes would refuse a pod for, with
positions, and exact quantity arithmetic (`500m` < `1`, `1Gi` > `1G`). The CLI reads and writes
the cluster through `knargo.kube`; everything here is a function of its arguments.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from knargo import conditions, positions
from knargo.catalog import SECRET_NAME, SecretRef, parse_catalog
from knargo.diagnostics import Diagnostic, Severity, normalize
from knargo.errors import KnargoError
from knargo.locate import quote_list, suggest
from knargo.naming import secret_object_name
from knargo.settings import Runner, Settings
from knargo.yamltext import dump_all

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
    "check_runners",
    "configured_namespace",
    "foreign_secret",
    "fork_warnings",
    "parse_quantity",
    "parse_scope",
    "read_catalog",
    "runners_of",
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


# --- quantities -----------------------------------------------------------------------------

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>[KMGTPE]i|[numkMGTPE]))?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_EXPONENT = 1000


def parse_quantity(text: str) -> Fraction:
    """The exact value of a Kubernetes quantity as `resource.ParseQuantity` reads it:
    `500m`, `2`, `1.5Gi` (binary), `1G` (decimal), `2e3`, `1E-3` (exponents are integers)."""
    match = _QUANTITY.fullmatch(text)
    exponent = int(match["exponent"][1:]) if match and match["exponent"] else 0
    if not match or abs(exponent) > _MAX_EXPONENT:
        raise InvalidInput(f'invalid resource quantity "{text}" (e.g. 500m, 2, 1Gi)')
    value = Fraction(match["number"]) * Fraction(10) ** exponent
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        value *= 1024 ** _BINARY[suffix]
    elif suffix:
        value *= Fraction(10) ** _DECIMAL[suffix]
    return -value if match["sign"] == "-" else value


# --- runner aliases -------------------------------------------------------------------------

_RUNNER_KEYS = ("limits", "nodeSelector", "requests", "tolerations")
_TOLERATION_KEYS = ("effect", "key", "operator", "tolerationSeconds", "value")
_CHOICES = {
    "operator": ("Equal", "Exists"),
    "effect": ("NoExecute", "NoSchedule", "PreferNoSchedule"),
}
_STANDARD_RESOURCES = ("cpu", "ephemeral-storage", "memory")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_KINDS: dict[type, str] = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "a whole number",
}
Path = positions.Path


class _Checker:
    """Collects the diagnostics of the runner aliases of one configuration document."""

    def __init__(self, doc: positions.Document, file: str) -> None:
        self.doc, self.file = doc, file
        self.found: list[Diagnostic] = []

    def error(self, path: Path, message: str, rule: str = "schema", on_key: bool = False) -> None:
        mark = self.doc.key_mark(path) if on_key else self.doc.value_mark(path)
        self.found.append(Diagnostic(self.file, mark.line, mark.col, Severity.ERROR, message, rule))

    def expect(self, path: Path, value: Any, kind: type, what: str) -> bool:
        if isinstance(value, kind) and not isinstance(value, bool):
            return True
        self.error(path, f"{what} must be {_KINDS[kind]}, not {_show(value)}")
        return False

    def keys(self, path: Path, value: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in (k for k in value if k not in allowed):
            message = f'unknown key "{key}" in {where} (expected one of: {quote_list(allowed)})'
            self.error((*path, key), message + suggest(key, allowed), on_key=True)

    def runner(self, alias: str, value: Any) -> None:
        path, where = ("runners", alias), f'runner "{alias}"'
        if not self.expect(path, value, dict, where):
            return
        self.keys(path, value, _RUNNER_KEYS, where)
        requests = self.resources((*path, "requests"), value.get("requests", {}), where)
        limits = self.resources((*path, "limits"), value.get("limits", {}), where)
        for resource, request in requests.items():
            if resource in limits:
                self.compare(path, resource, request, limits[resource], where)
        selector = value.get("nodeSelector", {})
        if self.expect((*path, "nodeSelector"), selector, dict, f"nodeSelector of {where}"):
            for key, label in selector.items():
                self.label((*path, "nodeSelector", key), key, label, f"nodeSelector of {where}")
        tolerations = value.get("tolerations", [])
        if self.expect((*path, "tolerations"), tolerations, list, f"tolerations of {where}"):
            for i, toleration in enumerate(tolerations):
                self.toleration(
                    (*path, "tolerations", i), toleration, f"toleration {i + 1} of {where}"
                )

    def resources(self, path: Path, value: Any, where: str) -> dict[str, Fraction]:
        amounts: dict[str, Fraction] = {}
        if not self.expect(path, value, dict, f"{path[-1]} of {where}"):
            return amounts
        for resource, amount in value.items():
            at, what = (*path, resource), f"{path[-1]}.{resource} of {where}"
            problem = _resource_problem(resource)
            if problem:
                self.error(at, problem, "resources", on_key=True)
            if isinstance(amount, bool) or not isinstance(amount, str | int | float):
                self.error(at, f"{what} must be a quantity, not {_show(amount)}", "quantity")
                continue
            text = amount if isinstance(amount, str) else self.doc.raw.get(at, str(amount))
            try:
                quantity = amounts[resource] = parse_quantity(text)
            except InvalidInput as exc:
                self.error(at, str(exc), "quantity")
                continue
            if quantity < 0:
                self.error(at, f'{what} must not be negative, not "{text}"', "quantity")
            elif "/" in resource and quantity.denominator != 1:
                message = f'{what} must be a whole number (an extended resource), not "{text}"'
                self.error(at, message, "quantity")
        return amounts

    def compare(
        self, path: Path, resource: str, request: Fraction, limit: Fraction, where: str
    ) -> None:
        at = (*path, "requests", resource)
        given = f'requests.{resource} "{self.doc.raw.get(at, "")}" of {where}'
        bound = f'limits.{resource} "{self.doc.raw.get((*path, "limits", resource), "")}"'
        if request > limit:
            self.error(at, f"{given} is more than {bound}", "resources")
        elif "/" in resource and request != limit:
            message = f"{given} must equal {bound}: extended resources cannot be overcommitted"
            self.error(at, message, "resources")

    def label(self, path: Path, key: str, value: Any, where: str) -> None:
        if not self.expect(path, value, str, f'"{key}" in {where}'):
            return
        if not _label_key(key):
            self.error(path, f'invalid label key "{key}" in {where}', "node-selector", on_key=True)
        elif len(value) > 63 or (value and not _LABEL.fullmatch(value)):
            message = (
                f'invalid label value "{value}" in {where} (at most 63 letters, digits, '
                "-, _ and ., starting and ending with a letter or digit)"
            )
            self.error(path, message, "node-selector")

    def toleration(self, path: Path, value: Any, where: str) -> None:
        if not self.expect(path, value, dict, where):
            return
        self.keys(path, value, _TOLERATION_KEYS, where)
        typed: dict[str, Any] = {}
        for field in (f for f in _TOLERATION_KEYS if value.get(f) is not None):
            kind = int if field == "tolerationSeconds" else str
            if self.expect((*path, field), value[field], kind, f'"{field}" of {where}'):
                typed[field] = value[field]
        operator, key = typed.get("operator") or "Equal", typed.get("key")
        for field, choices in _CHOICES.items():
            given = typed.get(field)
            if given is not None and given not in choices:
                message = f'unknown {field} "{given}" in {where} (expected one of: '
                message += f"{quote_list(choices)}){suggest(given, choices)}"
                self.error((*path, field), message, "toleration")
        if key and not _label_key(key):
            self.error((*path, "key"), f'invalid key "{key}" in {where}', "toleration")
        if operator == "Exists" and typed.get("value"):
            message = f"{where} has operator Exists, which takes no value"
            self.error((*path, "value"), message, "toleration")
        if operator == "Equal" and value.get("key") in (None, ""):
            message = f"{where} has no key: only operator Exists matches every taint"
            self.error(path, message, "toleration")
        if typed.get("tolerationSeconds") is not None and typed.get("effect") != "NoExecute":
            message = f"tolerationSeconds of {where} needs effect NoExecute"
            self.error((*path, "tolerationSeconds"), message, "toleration")


def check_runners(text: str, file: str) -> list[Diagnostic]:
    """Every problem of the `runners:` aliases of a configuration file, sorted."""
    doc, found = positions.load(text, file)
    if doc is None or found:
        return normalize(found)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        return [Diagnostic(file, 1, 1, Severity.ERROR, "expected a mapping", "schema")]
    if "runners" not in data:
        return []  # the built-in `default` alias applies
    checker = _Checker(doc, file)
    if checker.expect(("runners",), data["runners"], dict, '"runners"'):
        for alias, value in data["runners"].items():
            checker.runner(alias, value)
        if "default" not in data["runners"]:
            message = 'missing the "default" runner alias, which jobs without runner: use'
            message += f" (configured: {quote_list(data['runners'])})"
            checker.error(("runners",), message, "default-runner", on_key=True)
    return normalize(checker.found)


def runners_of(text: str) -> dict[str, Runner]:
    """The runner aliases of a configuration that `check_runners` found clean."""
    doc, _ = positions.load(text, "config.yaml")
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    if "runners" not in data:
        built_in: dict[str, Runner] = Settings.model_fields["runners"].get_default(
            call_default_factory=True
        )
        return built_in
    return {alias: Runner.model_validate(value) for alias, value in data["runners"].items()}


def _resource_problem(name: str) -> str | None:
    if name in _STANDARD_RESOURCES or name.startswith("hugepages-"):
        return None
    prefix, _, rest = name.partition("/")
    if rest and _label_key(name) and not prefix.endswith("kubernetes.io"):
        return None  # an extended resource, e.g. nvidia.com/gpu
    return (
        f'unknown resource "{name}" (expected {quote_list(_STANDARD_RESOURCES)}, '
        "hugepages-<size> or an extended resource such as nvidia.com/gpu)"
        + suggest(name, _STANDARD_RESOURCES)
    )


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL.fullmatch(name))


def _show(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f'"{value}"' if isinstance(value, str) else f"{value} (a number)"


# --- lint --cluster: what pull requests from forks do not get -------------------------------

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
