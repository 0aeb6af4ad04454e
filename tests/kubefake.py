"""A loopback Kubernetes API server for the subset knargo uses, driven by the real client.

Serves Argo `workflows` and `cronworkflows` (pruned, defaulted and validated with the v4.1.2
CRD schemas, as the API server treats a structural schema) and core `configmaps` and
`secrets`: create, get, list (label selectors), replace, patch (merge, JSON, server-side
apply), delete, `dryRun=All`; and pods' logs (`put_pod_log`, the `log` subresource with
`container`, `tailLines`, `limitBytes`, as text). Errors are `Status` objects worded as the
API server words them. Test hooks: `requests`, `headers`, `fail_next`, `latency`, `forbid`,
`objects`, `put_object`, `put_pod_log`; `running_kube()` serves a fresh fake and writes
kubeconfigs for it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import yaml

from argo_schemas import _crd_validator

__all__ = ["TOKEN", "USER", "FakeKube", "KubeError", "Recorded", "running_kube"]

TOKEN = "knargo-test-token"
USER = "system:serviceaccount:knargo:generate"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:  # "workflows.argoproj.io", "configmaps"
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def custom(self) -> bool:
        return bool(self.group)


RESOURCES = {
    r.plural: r
    for r in (
        Resource("argoproj.io", "v1alpha1", "workflows", "Workflow"),
        Resource("argoproj.io", "v1alpha1", "cronworkflows", "CronWorkflow"),
        Resource("", "v1", "configmaps", "ConfigMap"),
        Resource("", "v1", "secrets", "Secret"),
    )
}
# fmt: off
_CORE_FIELDS = {"configmaps": {"data", "binaryData", "immutable"},
                "secrets": {"data", "stringData", "type", "immutable"}}
_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
}
_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}
_VERBS = {("GET", True): "list", ("GET", False): "get", ("POST", True): "create",
          ("PUT", False): "update", ("PATCH", False): "patch", ("DELETE", False): "delete"}
# fmt: on
_JSON_PATCH, _MERGE = "application/json-patch+json", "application/merge-patch+json"
_APPLY, _SMP = "application/apply-patch+yaml", "application/strategic-merge-patch+json"
_ROUTE = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?/?$"
)
_DNS1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or"
    " '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex"
    f" used for validation is '{_DNS1123}')"
)
_LABEL_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an"
    f" alphanumeric character (regex used for validation is '{_LABEL}')"
)
_POD_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")
"""The pod log subresource (`GET`, text/plain): container, tailLines, limitBytes as the API
server validates them (pkg/apis/core/validation ValidatePodLogOptions, and the registry's
"a container name must be specified" for a pod of several containers)."""

_MESSAGES = {
    "stale": "the object has been modified; please apply your changes to the latest version"
    " and try again",
    "no route": "the server could not find the requested resource",
    "no method": "the server does not allow this method on the requested resource",
    "forbidden": '{what} is forbidden: User "{user}" cannot {verb} resource "{plural}" in API'
    ' group "{group}" in the namespace "{ns}"',
    "media": "the body of the request was in an unknown format - accepted media types include: ",
    "namespace": "the namespace of the provided object does not match the namespace sent on"
    " the request",
    "name": "the name of the object ({}) does not match the name on the URL ({})",
    "version": "the API version in the data ({}) does not match the expected API version ({})",
    "kind": "the kind in the data ({}) does not match the expected kind ({})",
    "string map": "json: cannot unmarshal into Go struct field {} of type string",
    "uid": "Precondition failed: UID in precondition: {}, UID in object meta: {}",
    "unrecognized": "the object provided is unrecognized (must be of type {})",
}
_OPTIONS = {"dryRun": ["All"], "fieldValidation": ["Ignore", "Warn", "Strict"]}
_USER_METADATA = ("labels", "annotations", "ownerReferences", "finalizers")


class Recorded(NamedTuple):
    """One request as received (body parsed as JSON, YAML for apply, else the raw text)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any


class KubeError(Exception):
    """An error answer, sent as a `Status` body with HTTP status `code`."""

    def __init__(
        self,
        code: int,
        message: str,
        details: dict[str, Any] | None = None,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.headers = headers or []

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
        body |= {"status": "Failure", "message": self.message, "reason": self.reason}
        if self.details is not None:  # Go omits empty strings
            body["details"] = {k: v for k, v in self.details.items() if v not in ("", None)}
        return body | {"code": self.code}


def _error(
    code: int, res: Resource, name: str, message: str, reason: str | None = None
) -> KubeError:
    details = {"name": name, "group": res.group, "kind": res.plural}
    return KubeError(code, message, details, reason)


def _not_found(res: Resource, name: str) -> KubeError:
    return _error(404, res, name, f'{res.qualified} "{name}" not found')


def _conflict(res: Resource, name: str, why: str) -> KubeError:
    message = f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}'
    return _error(409, res, name, message)


Cause = tuple[str, str, str]  # field, reason, message


def _invalid(kind: str, group: str, name: str, causes: list[Cause]) -> KubeError:
    """422 Invalid, worded as the API server words a field.ErrorList."""
    parts = [f"{f}: {m}" if f else m for f, _, m in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details = {"name": name, "group": group, "kind": kind}
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return KubeError(422, f'{qualified} "{name}" is invalid: {summary}', details)


def _bad_options(cause: Cause) -> KubeError:
    return _invalid("PatchOptions", "meta.k8s.io", "", [cause])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


# --- validation -----------------------------------------------------------------------------


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.fullmatch(_DNS1123, prefix)):
        return "prefix part " + _NAME_RULE
    if not name or len(name) > 63 or not re.fullmatch(_LABEL, name):
        return "name part must be no more than 63 characters and " + _LABEL_RULE
    return None


def _label_value_problem(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if value and not re.fullmatch(_LABEL, value):
        return "a valid label must be an empty string or " + _LABEL_RULE
    return None


def _meta_causes(meta: dict[str, Any]) -> list[Cause]:
    name, causes = meta.get("name", ""), []
    if len(name) > 253 or not re.fullmatch(_DNS1123, name):
        message = f'Invalid value: "{name}": {_NAME_RULE}'
        causes.append(("metadata.name", "FieldValueInvalid", message))
    for where in ("labels", "annotations"):
        for key, value in (meta.get(where) or {}).items():
            for text, problem in [(key, _label_key_problem(key))] + (
                [(value, _label_value_problem(value))] if where == "labels" else []
            ):
                if problem:
                    message = f'Invalid value: "{text}": {problem}'
                    causes.append((f"metadata.{where}", "FieldValueInvalid", message))
    return causes


def _schema_cause(error: Any) -> Cause:
    """A jsonschema error as the API server's OpenAPI validation reports it."""
    path, value, limit = _field(error.absolute_path), error.instance, error.validator_value
    shown = json.dumps(value) if not isinstance(value, dict | list) else type(value).__name__
    where = f"{path} in body"
    if error.validator == "required":
        missing = re.search(r"'(.+?)' is a required property", error.message)
        name = missing.group(1) if missing else "?"
        return (f"{path}.{name}" if path else name), "FieldValueRequired", "Required value"
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in limit)
        message = f"Unsupported value: {shown}: supported values: {allowed}"
        return path, "FieldValueNotSupported", message
    if error.validator == "type":
        got = {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(value))
        message = f'Invalid value: "{got or "object"}": {where} must be of type {limit}'
        return path, "FieldValueTypeInvalid", message
    if error.validator == "maxLength":
        return path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes"
    count = len(value) if isinstance(value, list) else 0
    messages = {
        "pattern": f"Invalid value: {shown}: {where} should match '{limit}'",
        "minItems": f"Invalid value: {count}: {where} should have at least {limit} items",
    }
    fallback = f"Invalid value: {shown}: {error.message[:200]}"
    return path, "FieldValueInvalid", messages.get(error.validator, fallback)


def _prune(value: Any, schema: dict[str, Any], path: list[Any], unknown: list[str]) -> Any:
    """Structural-schema decoding: drop unknown fields (listed in `unknown`) and non-nullable
    nulls, fill in defaults."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(v, schema["items"], [*path, i], unknown) for i, v in enumerate(value)]
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
    keep = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    out = {}
    for key, item in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if item is None and not (sub or {}).get("nullable"):
            continue
        if sub is not None:
            out[key] = _prune(item, sub, [*path, key], unknown)
        elif keep:
            out[key] = item
        else:
            unknown.append(_field([*path, key]))
    for key, sub in props.items():
        if key not in out and "default" in sub:
            out[key] = _prune(copy.deepcopy(sub["default"]), sub, [*path, key], unknown)
    return out


def _decode_core(res: Resource, obj: dict[str, Any]) -> None:
    """ConfigMap/Secret decoding (400): map values are strings, base64 where binary."""
    for key in ("data", "binaryData", "stringData"):
        values = obj.get(key)
        if values is not None and not _string_map(values):
            raise KubeError(400, _MESSAGES["string map"].format(f"{res.kind}.{key}"))
        for item, text in (values or {}).items():
            try:
                if key == "binaryData" or (key == "data" and res.plural == "secrets"):
                    base64.b64decode(text, validate=True)
            except binascii.Error as exc:
                message = f'{res.kind} in version "v1" cannot be handled as a {res.kind}: '
                raise KubeError(400, f"{message}illegal base64 data at {key}[{item}]") from exc


def _string_map(values: Any) -> bool:
    return isinstance(values, dict) and all(isinstance(v, str) for v in values.values())


def _core_causes(obj: dict[str, Any]) -> list[Cause]:
    keys = [*(obj.get("data") or {}), *(obj.get("binaryData") or {})]
    rule = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
    causes = [
        (f"data[{key}]", "FieldValueInvalid", f'Invalid value: "{key}": {rule}')
        for key in keys
        if len(key) > 253 or not re.fullmatch(r"[-._a-zA-Z0-9]+", key)
    ]
    if len(keys) != len(set(keys)):
        causes.append(("data", "FieldValueInvalid", "Invalid value: duplicate key in binaryData"))
    return causes


# --- patches and selectors ------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also the deep merge behind the apply approximation)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 add/remove/replace/test: 400 for a malformed patch, 422 when an op fails."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) and "path" in op for op in ops):
        raise KubeError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, pointer = op.get("op"), op["path"]
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
        if kind not in ("add", "remove", "replace", "test"):
            raise KubeError(400, f"Unexpected kind: {kind}")
        try:
            parent = doc
            for token in tokens[:-1]:
                parent = parent[int(token)] if isinstance(parent, list) else parent[token]
            key: Any = tokens[-1]
            if isinstance(parent, list):
                key = len(parent) if key == "-" else int(key)
                if kind == "add" and not 0 <= key <= len(parent):
                    raise IndexError(key)
            if kind == "add" and isinstance(parent, list):
                parent.insert(key, op["value"])
            elif kind == "add":
                parent[key] = op["value"]
            elif kind == "remove":
                del parent[key]
            elif kind == "replace":
                _ = parent[key]  # it must exist
                parent[key] = op["value"]
            elif parent[key] != op["value"]:  # test
                raise KubeError(422, f"testing value {pointer} failed: test failed")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            message = f"jsonpatch {kind} operation does not apply: doc is missing path: {pointer}"
            raise KubeError(422, message) from exc
    return doc


_REQUIREMENT = re.compile(
    r"(?P<neg>!)?\s*(?P<key>[^\s=!(),]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?"
)
Requirement = tuple[str, str, list[str]]  # key, operator ("", "!", "=", "!=", "in", "notin")


def parse_selector(selector: str) -> list[Requirement]:
    """A label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`,
    joined by commas. 400 when it does not parse, as from the API server."""
    requirements = []
    for part in filter(None, (p.strip() for p in re.split(r",(?![^()]*\))", selector))):
        match = _REQUIREMENT.fullmatch(part)
        if not match or (match["neg"] and (match["op"] or match["set"])):
            expected = "expected: identifier, '=', '!=', 'in' or 'notin'"
            raise KubeError(400, f"unable to parse requirement: found '{part}', {expected}")
        key, op = match["key"], match["op"] or match["set"] or ("!" if match["neg"] else "")
        values = [v.strip() for v in (match["values"] or match["value"] or "").split(",")]
        for problem in [_label_key_problem(key), *map(_label_value_problem, values)]:
            if problem:
                message = f"unable to parse requirement: {key}: Invalid value: {problem}"
                raise KubeError(400, message)
        requirements.append((key, {"==": "="}.get(op, op), values))
    return requirements


def selector_matches(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        have = labels.get(key)
        if op in ("", "!"):
            found = (have is None) == (op == "!")
        else:  # `!=` and `notin` also match objects without the label
            found = (have in values) == (op in ("=", "in"))
        if not found:
            return False
    return True


# --- managed fields: a sketch of server-side apply's bookkeeping ----------------------------

FieldPath = tuple[str, ...]
_MISSING: Any = object()


def _leaves(obj: Any, prefix: FieldPath = ()) -> set[FieldPath]:
    """The field paths an object sets (lists are atomic; system metadata is left out)."""
    out: set[FieldPath] = set()
    for key, value in obj.items():
        path = (*prefix, key)
        if path in (("apiVersion",), ("kind",)) or (
            len(path) == 2 and path[0] == "metadata" and key not in _USER_METADATA
        ):
            continue
        out |= _leaves(value, path) if isinstance(value, dict) and value else {path}
    return out


def _fields_v1(paths: set[FieldPath]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def _paths(tree: dict[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    out: set[FieldPath] = set()
    for key, sub in tree.items():
        if key.startswith("f:"):
            out |= _paths(sub, (*prefix, key[2:])) if sub else {(*prefix, key[2:])}
    return out


def _at(obj: Any, path: FieldPath) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _remove(obj: dict[str, Any], path: FieldPath) -> None:
    parent = _at(obj, path[:-1])
    removed = isinstance(parent, dict) and parent.pop(path[-1], _MISSING) is not _MISSING
    if removed and not parent and len(path) > 2:
        _remove(obj, path[:-1])


def _entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if obj is None else copy.deepcopy(obj["metadata"].get("managedFields") or [])


def _managed(
    obj: dict[str, Any], live: dict[str, Any] | None, manager: str, applied: set[FieldPath] | None
) -> list[dict[str, Any]]:
    """The new `managedFields`: the writer owns what it applied (apply) or changed (update);
    other managers lose what an update changed."""
    now, operation = _leaves(obj), "Update" if applied is None else "Apply"
    changed = {p for p in now if live is None or _at(live, p) != _at(obj, p)}
    owned, out = set(changed if applied is None else applied), []
    for entry in _entries(live):
        paths = _paths(entry.get("fieldsV1") or {}) & now
        if (entry["manager"], entry["operation"]) == (manager, operation):
            owned |= paths if applied is None else set()
        elif paths := paths - (changed if applied is None else set()):
            out.append(entry | {"fieldsV1": _fields_v1(paths)})
    if owned:
        entry = {"manager": manager, "operation": operation, "apiVersion": obj["apiVersion"]}
        entry |= {"time": _now(), "fieldsType": "FieldsV1", "fieldsV1": _fields_v1(owned)}
        out.append(entry)
    return out


def _timeless(obj: dict[str, Any]) -> Any:
    """`obj` without the managedFields times, to tell a no-op write."""
    fields = [{k: v for k, v in e.items() if k != "time"} for e in _entries(obj)]
    return {**obj, "metadata": obj["metadata"] | {"managedFields": fields}}


@dataclass
class _Call:
    verb: str
    res: Resource
    namespace: str
    name: str
    query: dict[str, str]
    manager: str  # fieldManager, else the User-Agent up to its first "/"
    content_type: str = ""  # without parameters
    body: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def dry(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def key(self) -> tuple[str, str, str]:
        return self.res.plural, self.namespace, self.name


class FakeKube:
    """The API server's state and behaviour; `running_kube()` serves it over HTTP."""

    def __init__(self, token: str = TOKEN) -> None:
        self.url = ""
        self.token = token
        self.user = USER  # named in 403 messages
        self.latency = 0.0  # seconds added to every answer
        self.requests: list[Recorded] = []
        self.headers: list[dict[str, str]] = []  # request headers (lower-case), as `requests`
        self.lock = threading.RLock()
        self._store: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._rv = 1000
        self._failures: list[list[Any]] = []  # [status, count, path_contains, retry_after]
        self._forbidden: set[tuple[str, str]] = set()
        self.pod_logs: dict[tuple[str, str], dict[str, str]] = {}

    # --- test hooks ---

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        path_contains: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` requests (with `path_contains` in the path) with `status`.
        A 429 carries `Retry-After: 1` unless `retry_after` says otherwise."""
        with self.lock:
            self._failures.append([status, count, path_contains, retry_after])

    def forbid(self, verb: str, plural: str) -> None:
        """Deny `verb` (create, get, list, update, patch, delete) on `plural` with 403."""
        with self.lock:
            self._forbidden.add((verb, plural))

    def objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        """The stored objects of `plural` in `namespace`, by name."""
        with self.lock:
            keys = sorted(k for k in self._store if k[:2] == (plural, namespace))
            return [copy.deepcopy(self._store[k]) for k in keys]

    def put_object(self, obj: dict[str, Any], plural: str | None = None) -> dict[str, Any]:
        """Seed `obj` without validation (namespace "default" if unset); returns it stored."""
        res = next(r for r in RESOURCES.values() if r.plural == plural or r.kind == obj["kind"])
        obj = copy.deepcopy(obj) | {"apiVersion": res.api_version, "kind": res.kind}
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        with self.lock:
            meta["resourceVersion"] = self._next_rv()
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            if res.custom:
                meta.setdefault("generation", 1)
            self._store[res.plural, meta["namespace"], meta["name"]] = obj
            return copy.deepcopy(obj)

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this server to `path` (`path/kubeconfig` for a folder)."""
        path = path / "kubeconfig" if path.is_dir() else path
        context = {"cluster": "fake", "user": "knargo", "namespace": "ci"}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "knargo", "user": {"token": self.token}}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # --- request handling ---

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        """Answer one request: (status, JSON body, extra headers). `headers` are lower-case."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        ctype = headers.get("content-type")
        body, problem = _parse(raw, ctype)
        with self.lock:
            self.requests.append(Recorded(method, parts.path, query, ctype, body))
            self.headers.append(headers)
        if self.latency:
            time.sleep(self.latency)
        try:
            if headers.get("authorization") != f"Bearer {self.token}":
                raise KubeError(401, "Unauthorized")
            self._injected(parts.path)
            log = _POD_LOG.match(parts.path)
            if log is not None and method == "GET":
                return 200, self._pod_log(log["ns"], log["name"], query), []
            call = self._route(method, parts.path, query, headers)
            call.content_type, call.body = (ctype or "").split(";")[0].strip(), body
            if problem and call.verb in ("create", "update", "patch"):
                raise KubeError(400, problem)
            with self.lock:
                code, answer = getattr(self, f"_{call.verb}")(call)
            warnings = [w.replace('"', '\\"') for w in call.warnings]
            return code, answer, [("Warning", f'299 - "{w}"') for w in warnings]
        except KubeError as exc:
            return exc.code, exc.status(), exc.headers
        except Exception as exc:  # a bug in the fake: answer as the API server would
            message = f"Internal error occurred: {type(exc).__name__}: {exc}"
            return 500, KubeError(500, message, {}).status(), []

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> _Call:
        route = _ROUTE.match(path)
        res = RESOURCES.get(route["plural"]) if route else None
        version = route and (route["core"] or route["version"], route["group"] or "")
        if not route or not res or version != (res.version, res.group):
            raise KubeError(404, _MESSAGES["no route"], {})
        name, verb = route["name"] or "", _VERBS.get((method, route["name"] is None))
        if not verb:
            raise KubeError(405, _MESSAGES["no method"], {})
        if (verb, res.plural) in self._forbidden:
            what = f'{res.qualified} "{name}"' if name else res.qualified
            names = {"user": self.user, "plural": res.plural, "group": res.group}
            message = _MESSAGES["forbidden"].format(what=what, verb=verb, ns=route["ns"], **names)
            raise _error(403, res, name, message)
        for option, allowed in _OPTIONS.items():
            if option in query and query[option] not in allowed:
                supported = ", ".join(f'"{a}"' for a in allowed)
                message = f'{option}: Unsupported value: "{query[option]}": supported values: '
                raise KubeError(400, message + supported)
        manager = query.get("fieldManager") or headers.get("user-agent", "").split("/")[0]
        return _Call(verb, res, route["ns"], name, query, manager)

    def put_pod_log(self, namespace: str, pod: str, logs: dict[str, str]) -> None:
        """A pod of the namespace whose containers (name: log text) wrote these logs."""
        with self.lock:
            self.pod_logs[(namespace, pod)] = dict(logs)

    def _pod_log(self, namespace: str, pod: str, query: dict[str, str]) -> bytes:
        if ("get", "pods/log") in self._forbidden:
            message = (
                f'pods "{pod}" is forbidden: User "{self.user}" cannot get resource "pods/log"'
                f' in API group "" in the namespace "{namespace}"'
            )
            raise KubeError(403, message, {"name": pod, "kind": "pods"})
        with self.lock:
            containers = self.pod_logs.get((namespace, pod))
        if containers is None:
            raise KubeError(404, f'pods "{pod}" not found', {"name": pod, "kind": "pods"})
        container = query.get("container")
        if container is None and len(containers) > 1:
            names = " ".join(sorted(containers))
            message = f"a container name must be specified for pod {pod}, choose one of: [{names}]"
            raise KubeError(400, message)
        container = container or next(iter(containers))
        if container not in containers:
            raise KubeError(400, f"container {container} is not valid for pod {pod}")
        text = containers[container].encode()
        for option, least in (("tailLines", 0), ("limitBytes", 1)):
            value = query.get(option)
            if value is None:
                continue
            if not value.lstrip("-").isdigit() or int(value) < least:
                relation = "greater than or equal to 0" if least == 0 else "greater than 0"
                raise KubeError(400, f"{option}: Invalid value: {value}: must be {relation}")
        if "tailLines" in query:
            lines, keep = text.splitlines(keepends=True), int(query["tailLines"])
            text = b"".join(lines[len(lines) - keep :]) if keep else b""
        if "limitBytes" in query:
            text = text[: int(query["limitBytes"])]
        return text

    def _injected(self, path: str) -> None:
        with self.lock:
            rule = next((r for r in self._failures if r[2] is None or r[2] in path), None)
            if rule is None:
                return
            rule[1] -= 1
            if rule[1] <= 0:
                self._failures.remove(rule)
        status, _, _, retry_after = rule
        if status == 429 and retry_after is None:
            retry_after = 1  # API priority and fairness always says when to come back
        headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
        details = {} if retry_after is None else {"retryAfterSeconds": retry_after}
        messages = {
            429: "Too many requests, please try again later.",
            403: f'forbidden: User "{self.user}" cannot do this (injected)',
            503: "the server is currently unable to handle the request (injected)",
        }
        message = messages.get(status, f"Internal error occurred: injected failure {status}")
        raise KubeError(status, message, details, headers=headers)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _live(self, call: _Call) -> dict[str, Any]:
        if call.key not in self._store:
            raise _not_found(call.res, call.name)
        return self._store[call.key]

    # --- verbs ---

    def _get(self, call: _Call) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._live(call))

    def _list(self, call: _Call) -> tuple[int, Any]:
        res, selector = call.res, parse_selector(call.query.get("labelSelector", ""))
        items = self.objects(res.plural, call.namespace)
        items = [o for o in items if selector_matches(selector, o["metadata"].get("labels") or {})]
        if not res.custom:  # core list items carry no apiVersion and kind
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
        meta = {"resourceVersion": str(self._rv)}
        kind = f"{res.kind}List"
        return 200, {"apiVersion": res.api_version, "kind": kind, "metadata": meta, "items": items}

    def _create(self, call: _Call) -> tuple[int, Any]:
        obj = self._admit(call, call.body)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
            meta["name"] = meta["generateName"][:58] + suffix
        if not meta.get("name"):
            why = "Required value: name or generateName is required"
            cause = ("metadata.name", "FieldValueRequired", why)
            raise _invalid(call.res.kind, call.res.group, "", [cause])
        call.name = meta["name"]
        return 201, self._commit(call, None, obj)

    def _update(self, call: _Call) -> tuple[int, Any]:
        obj = self._admit(call, call.body)
        if obj["metadata"].get("name") != call.name:
            raise KubeError(400, _MESSAGES["name"].format(obj["metadata"].get("name"), call.name))
        live = self._live(call)
        if call.res.custom and not obj["metadata"].get("resourceVersion"):  # CRs need one
            why = "Invalid value: 0: must be specified for an update"
            cause = ("metadata.resourceVersion", "FieldValueInvalid", why)
            raise _invalid(call.res.kind, call.res.group, call.name, [cause])
        return 200, self._commit(call, live, obj)

    def _patch(self, call: _Call) -> tuple[int, Any]:
        res, apply = call.res, call.content_type == _APPLY
        if apply and not call.query.get("fieldManager"):
            why = "Required value: is required for apply patch"
            raise _bad_options(("fieldManager", "FieldValueRequired", why))
        if not apply and "force" in call.query:
            why = "Forbidden: may not be specified for non-apply patch"
            raise _bad_options(("force", "FieldValueForbidden", why))
        accepted = [_JSON_PATCH, _MERGE, _APPLY] + ([] if res.custom else [_SMP])
        if call.content_type not in accepted:
            raise KubeError(415, _MESSAGES["media"] + ", ".join(accepted), {})
        if apply:
            return self._apply(call, self._store.get(call.key))
        live = self._live(call)
        if call.content_type == _JSON_PATCH:
            patched = json_patch(live, call.body)
        elif isinstance(call.body, dict):  # strategic merge (core only) approximated as merge
            patched = merge_patch(live, call.body)
        else:
            raise KubeError(400, f"the body of the request was not a valid {call.content_type}")
        return 200, self._commit(call, live, self._admit(call, patched, from_url=True))

    def _apply(self, call: _Call, live: dict[str, Any] | None) -> tuple[int, Any]:
        """Server-side apply, approximated: create, or deep-merge into the live object and drop
        the fields this manager applied before, no longer applies and nobody else set.
        No conflict detection: every apply behaves as if forced."""
        body = call.body
        if not isinstance(body, dict) or not body.get("apiVersion") or not body.get("kind"):
            raise KubeError(400, "error decoding YAML: Object 'Kind' is missing in the apply body")
        if isinstance(body.get("metadata"), dict) and body["metadata"].get("managedFields"):
            raise KubeError(400, "metadata.managedFields must be nil")
        applied = self._admit(call, body, from_url=True)
        mine = _leaves(applied)
        if live is None:
            return 201, self._commit(call, None, applied, mine)
        merged, before, others = merge_patch(live, applied), set(), set()
        for entry in _entries(live):
            paths = _paths(entry.get("fieldsV1") or {})
            if (entry["manager"], entry["operation"]) == (call.manager, "Apply"):
                before = paths
            else:
                others |= paths
        for path in before - mine - others:
            _remove(merged, path)
        return 200, self._commit(call, live, merged, mine)

    def _delete(self, call: _Call) -> tuple[int, Any]:
        res, live = call.res, self._live(call)
        pre = call.body.get("preconditions") if isinstance(call.body, dict) else None
        if isinstance(pre, dict) and pre.get("uid") not in (None, live["metadata"]["uid"]):
            why = _MESSAGES["uid"].format(pre["uid"], live["metadata"]["uid"])
            raise _conflict(res, call.name, why)
        if not call.dry:
            del self._store[call.key]
        if res.custom:  # custom resources answer with the object, core ones with a Status
            return 200, copy.deepcopy(live)
        details = {"name": call.name, "kind": res.plural, "uid": live["metadata"]["uid"]}
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return 200, status | {"details": details}

    # --- shared steps ---

    def _admit(self, call: _Call, body: Any, *, from_url: bool = False) -> dict[str, Any]:
        """Decode `body` as the API server does (400s), then prune and default it."""
        res = call.res
        if not isinstance(body, dict):
            raise KubeError(400, _MESSAGES["unrecognized"].format(res.kind))
        obj = copy.deepcopy(body)
        if res.custom or "apiVersion" in obj or "kind" in obj:  # core types may omit them
            if not obj.get("kind") or not obj.get("apiVersion"):
                raise KubeError(400, f"Object 'Kind' is missing in '{json.dumps(body)[:200]}'")
            if obj["apiVersion"] != res.api_version:
                message = _MESSAGES["version"].format(obj["apiVersion"], res.api_version)
                raise KubeError(400, message)
            if obj["kind"] != res.kind:
                raise KubeError(400, _MESSAGES["kind"].format(obj["kind"], res.kind))
        obj |= {"apiVersion": res.api_version, "kind": res.kind}
        meta = obj.setdefault("metadata", {})
        for where in ("labels", "annotations"):
            if not isinstance(meta, dict) or not _string_map(meta.get(where) or {}):
                raise KubeError(400, _MESSAGES["string map"].format(f"ObjectMeta.{where}"))
        if meta.setdefault("namespace", call.namespace) != call.namespace:
            raise KubeError(400, _MESSAGES["namespace"])
        if from_url and meta.setdefault("name", call.name) != call.name:
            raise KubeError(400, _MESSAGES["name"].format(meta["name"], call.name))
        unknown = [f"metadata.{k}" for k in meta if k not in _META_FIELDS]
        obj["metadata"] = {k: v for k, v in meta.items() if k in _META_FIELDS and v is not None}
        if res.custom:
            schema = _crd_validator(res.kind).schema
            root = schema | {"properties": schema["properties"] | {"metadata": {}}}
            obj = _prune(obj, root, [], unknown)
        else:
            _decode_core(res, obj)
            allowed = {"apiVersion", "kind", "metadata", *_CORE_FIELDS[res.plural]}
            unknown += [k for k in obj if k not in allowed]
            obj = {k: v for k, v in obj.items() if k in allowed and v is not None}
        validation = call.query.get("fieldValidation", "Warn")
        if unknown and validation == "Strict":
            fields = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise KubeError(400, f"strict decoding error: {fields}")
        if validation == "Warn":
            call.warnings += [f'unknown field "{u}"' for u in unknown]
        if res.plural == "secrets":  # stringData is write-only: it lands in data
            obj.setdefault("type", "Opaque")
            for key, text in (obj.pop("stringData", None) or {}).items():
                obj.setdefault("data", {})[key] = base64.b64encode(text.encode()).decode()
        return obj

    def _commit(
        self,
        call: _Call,
        live: dict[str, Any] | None,
        obj: dict[str, Any],
        applied: set[FieldPath] | None = None,
    ) -> dict[str, Any]:
        """Validate `obj` (422), check it against `live` (409), stamp it, store it unless dry."""
        res, meta = call.res, obj["metadata"]
        causes = _meta_causes(meta)
        if res.custom:
            errors = _crd_validator(res.kind).iter_errors(obj)
            errors = sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])
            causes += [_schema_cause(e) for e in errors]
        else:
            causes += _core_causes(obj)
        if causes:
            raise _invalid(res.kind, res.group, meta["name"], causes)
        if live is None:
            if call.key in self._store:
                message = f'{res.qualified} "{call.name}" already exists'
                raise _error(409, res, call.name, message, "AlreadyExists")
            if meta.get("resourceVersion"):  # as etcd3's store answers
                raise KubeError(500, "resourceVersion should not be set on objects to be created")
            meta |= {"uid": str(uuid.uuid4()), "creationTimestamp": _now()}
            meta |= {"generation": 1} if res.custom else {}
        else:
            old = live["metadata"]
            if (meta.get("resourceVersion") or old["resourceVersion"]) != old["resourceVersion"]:
                raise _conflict(res, call.name, _MESSAGES["stale"])
            if (meta.get("uid") or old["uid"]) != old["uid"]:
                raise _conflict(res, call.name, _MESSAGES["uid"].format(meta["uid"], old["uid"]))
            for kept in ("uid", "creationTimestamp", "generation", "resourceVersion"):
                meta.pop(kept, None)
                meta |= {kept: old[kept]} if kept in old else {}
            content = [{k: v for k, v in o.items() if k != "metadata"} for o in (obj, live)]
            if res.custom and content[0] != content[1]:  # no status subresource in Argo's CRDs
                meta["generation"] = old.get("generation", 1) + 1
        meta["managedFields"] = _managed(obj, live, call.manager, applied)
        if live is not None and _timeless(obj) == _timeless(live):
            return copy.deepcopy(live)  # a no-op write keeps even the resourceVersion
        if call.dry:
            return obj
        meta["resourceVersion"] = self._next_rv()
        self._store[call.key] = obj
        return copy.deepcopy(obj)


def _parse(raw: bytes, ctype: str | None) -> tuple[Any, str | None]:
    """The body as JSON (YAML for apply), or (text, the 400 message) when it does not parse."""
    if not raw:
        return None, None
    text = raw.decode("utf-8", "replace")
    try:
        return (yaml.safe_load(text) if ctype and "yaml" in ctype else json.loads(text)), None
    except (ValueError, yaml.YAMLError) as exc:
        return text, f"couldn't get version/kind; json parse error: {str(exc)[:200]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 expects
    server: _Server

    def setup(self) -> None:
        super().setup()  # answers are two writes (head, body): without this, Nagle costs 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        code, answer, extra = self.server.kube.handle(self.command, self.path, headers, raw)
        text = isinstance(answer, bytes)  # a pod's log
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, *_args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    kube: FakeKube


@contextmanager
def running_kube(token: str = TOKEN) -> Iterator[FakeKube]:
    """Serve a fresh `FakeKube` on 127.0.0.1 (the CRD schemas load once per process)."""
    for kind in ("Workflow", "CronWorkflow"):
        _crd_validator(kind)
    kube = FakeKube(token)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.kube = kube
    kube.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield kube
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
