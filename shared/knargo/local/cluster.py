"""A local stand-in for the Kubernetes API: Workflows and CronWorkflows as JSON files.

`LocalCluster` implements the ports production implements with `knargo.io.kube.Cluster`
(`generate.Workflows`, `report.WorkflowReader`) with the same semantics: creating a Workflow
whose name exists answers False (a redelivery), CronWorkflows are listed by label selector,
applied (created or replaced) and deleted (one already gone is fine). Objects live in
`<root>/<namespace>/<workflows|cronworkflows>/<name>.json`, written atomically; the API
server's own fields (`uid`, `creationTimestamp`, `resourceVersion`) are set here. Watchers
(the executor, like Argo's controller) are told about every Workflow created.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knargo.contract.errors import PermanentError

__all__ = ["LocalCluster", "matches"]

Watcher = Callable[[dict[str, Any]], None]
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class LocalCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.watchers: list[Watcher] = []
        self.patch_watchers: list[Watcher] = []
        """Told about every Workflow patched (the executor stops a terminated run)."""
        self._lock = threading.RLock()

    def _path(self, kind: str, namespace: str, name: str) -> Path:
        for value, what in ((namespace, "namespace"), (name, "name")):
            if not _NAME.match(value or ""):
                raise PermanentError(f"invalid {what} {value!r} (a DNS subdomain name)")
        return self.root / namespace / kind / f"{name}.json"

    def create_workflow(self, manifest: Mapping[str, Any]) -> bool:
        """Store a new Workflow and tell the watchers; False when the name exists."""
        meta = manifest["metadata"]
        path = self._path("workflows", meta["namespace"], meta["name"])
        with self._lock:
            if path.exists():
                return False
            stored = _admitted(manifest, resource_version=1)
            _write(path, stored)
        for watcher in self.watchers:
            watcher(copy.deepcopy(stored))
        return True

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return _read(self._path("workflows", namespace, name))

    def update_workflow_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace the Workflow's status (as the controller does); the stored object."""
        path = self._path("workflows", namespace, name)
        with self._lock:
            stored = _read(path)
            if stored is None:
                raise PermanentError(f"workflow {namespace}/{name} is gone")
            stored["status"] = copy.deepcopy(dict(status))
            meta = stored["metadata"]
            meta["resourceVersion"] = str(int(meta.get("resourceVersion", "0")) + 1)
            _write(path, stored)
            return stored

    def workflows(self, namespace: str) -> list[dict[str, Any]]:
        return self._list("workflows", namespace, "")

    def list_workflows(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The Workflows whose labels match `selector`."""
        return self._list("workflows", namespace, selector)

    def patch_workflow(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
        """Merge `patch`'s `spec` and `metadata.annotations` into the Workflow (what a merge
        patch of `spec.shutdown` does); False when it is gone. Watchers are told."""
        path = self._path("workflows", namespace, name)
        with self._lock:
            stored = _read(path)
            if stored is None:
                return False
            stored["spec"] = {**stored.get("spec", {}), **dict(patch.get("spec") or {})}
            meta = stored["metadata"]
            added = (patch.get("metadata") or {}).get("annotations") or {}
            meta["annotations"] = {**meta.get("annotations", {}), **added}
            meta["resourceVersion"] = str(int(meta.get("resourceVersion", "0")) + 1)
            _write(path, stored)
        for watcher in self.patch_watchers:
            watcher(copy.deepcopy(stored))
        return True

    def json_patch_workflow(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> bool:
        """Apply `test`, `replace` and `add` operations on object members, all or none (as
        the API server applies a JSON patch); a failed `test` raises PermanentError, as the
        API server's 422 does. False when the Workflow is gone. Watchers of patches are told."""
        path = self._path("workflows", namespace, name)
        with self._lock:
            stored = _read(path)
            if stored is None:
                return False
            patched = copy.deepcopy(stored)
            for op in ops:
                *parents, key = [
                    p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]
                ]
                target: Any = patched
                for part in parents:
                    target = target.get(part) if isinstance(target, dict) else None
                if not isinstance(target, dict) or (op["op"] != "add" and key not in target):
                    raise PermanentError(f"jsonpatch {op['op']}: missing path {op['path']}")
                if op["op"] == "test" and target[key] != op["value"]:
                    raise PermanentError(f"jsonpatch test: {op['path']} is not {op['value']!r}")
                if op["op"] in ("add", "replace"):
                    target[key] = op["value"]
            meta = patched["metadata"]
            meta["resourceVersion"] = str(int(meta.get("resourceVersion", "0")) + 1)
            _write(path, patched)
        for watcher in self.patch_watchers:
            watcher(copy.deepcopy(patched))
        return True

    def cron_workflows(self, namespace: str, selector: str) -> dict[str, dict[str, Any]]:
        """The CronWorkflows whose labels match `selector` (`k=v,k!=v,k,!k`), by name."""
        return {
            item["metadata"]["name"]: item
            for item in self._list("cronworkflows", namespace, selector)
        }

    def apply_cron_workflow(self, manifest: Mapping[str, Any]) -> None:
        """Create or replace (server-side apply of every field knargo sets)."""
        meta = manifest["metadata"]
        path = self._path("cronworkflows", meta["namespace"], meta["name"])
        with self._lock:
            existing = _read(path)
            version = int(existing["metadata"]["resourceVersion"]) + 1 if existing else 1
            stored = _admitted(manifest, resource_version=version)
            if existing:
                for key in ("uid", "creationTimestamp"):
                    stored["metadata"][key] = existing["metadata"][key]
            _write(path, stored)

    def delete_cron_workflow(self, namespace: str, name: str) -> None:
        with self._lock:
            self._path("cronworkflows", namespace, name).unlink(missing_ok=True)

    def _list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        self._path(kind, namespace, "x")  # validates the namespace
        folder = self.root / namespace / kind
        with self._lock:
            items = [_read(path) for path in sorted(folder.glob("*.json"))]
        return [
            item
            for item in items
            if item is not None and matches(selector, item["metadata"].get("labels") or {})
        ]


def matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Equality-based label selectors, as the API server reads them."""
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _admitted(manifest: Mapping[str, Any], resource_version: int) -> dict[str, Any]:
    stored = copy.deepcopy(dict(manifest))
    stored["metadata"] = {
        **stored["metadata"],
        "uid": str(uuid.uuid4()),
        "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resourceVersion": str(resource_version),
    }
    return stored


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data


def _write(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
