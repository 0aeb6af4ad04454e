"""Argo's artifact repository on one machine: artifacts and caches under `.knargo/`.

What Argo's init container does before a job's pod runs (unpack each input artifact at its
path) and its wait container after (upload each output artifact whose path exists), for the
artifacts knargo emits (`knargo.translation.artifacts`): an artifact's S3 key
`knargo/<kind>/...<name>.tgz` is the directory `.knargo/<kind>/...<name>` here, holding the
files as they were (a directory, not a tarball: nothing to pack on one machine). Saving
renames the pod's directory into the store, restoring links it (or copies it into a
container engine's pod); the job's own command copies what it received into its checkout, so
the stored files are only read. Artifacts older than their expiry (`knargo/artifacts/<n>d/`)
are deleted when a Workflow starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from knargo.translation import artifacts, jobpod

__all__ = ["Store"]

_FROM = re.compile(r"^\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^.}]+)\}\}$")
_DAY = 86_400


class Store:
    """The artifact repository of the local runs: `root` is `.knargo/`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def where(self, key: str, workflow: str) -> Path:
        """The directory of the object `key` (Argo's `{{workflow.name}}` resolved)."""
        resolved = key.replace("{{workflow.name}}", workflow).removeprefix("knargo/")
        return self.root / resolved.removesuffix(".tgz")

    def restore(
        self,
        template: Mapping[str, Any],
        task: Mapping[str, Any],
        templates: Mapping[str, Mapping[str, Any]],
        workflow: str,
        pod: Path,
        *,
        copy: bool,
    ) -> None:
        """Place each input artifact that exists at its path in the pod's directory `pod`."""
        sources = {a["name"]: a.get("from", "") for a in _artifacts(task, "arguments")}
        for artifact in _artifacts(template, "inputs"):
            key = artifact.get("s3", {}).get("key") or _key_of(
                sources.get(artifact["name"], ""), templates
            )
            stored = self.where(key, workflow) if key else None
            if stored is None or not stored.is_dir():
                continue  # optional: a cache miss, or a producer that kept nothing
            target = _local(artifact["path"], pod)
            target.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copytree(stored, target, symlinks=True)
            else:
                target.symlink_to(stored.resolve(), target_is_directory=True)

    def save(self, template: Mapping[str, Any], workflow: str, pod: Path) -> None:
        """Store each output artifact whose path exists, replacing an older object."""
        for artifact in _artifacts(template, "outputs"):
            source = _local(artifact["path"], pod)
            key = artifact.get("s3", {}).get("key")
            if not key or not source.is_dir():
                continue
            target = self.where(key, workflow)
            target.parent.mkdir(parents=True, exist_ok=True)
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            with contextlib.suppress(FileNotFoundError):
                target.rename(old)
            try:
                os.rename(source, target)
            except OSError:  # another job saved the same object in between: keep that one
                shutil.rmtree(source, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)

    def expire(self, now: float | None = None) -> list[Path]:
        """Delete the artifacts older than their expiry; the deleted directories."""
        now = time.time() if now is None else now
        base = self.root / artifacts.ARTIFACTS_PREFIX.removeprefix("knargo/")
        deleted = []
        for period in base.glob("*d") if base.is_dir() else []:
            days = int(period.name[:-1]) if period.name[:-1].isdigit() else 0
            with contextlib.suppress(FileNotFoundError):  # another run expires them too
                for run in list(period.iterdir()) if days else []:
                    if now - run.stat().st_mtime > days * _DAY:
                        shutil.rmtree(run, ignore_errors=True)
                        deleted.append(run)
        return deleted


def _artifacts(holder: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (holder.get(field) or {}).get("artifacts", [])
    return found


def _key_of(source: str, templates: Mapping[str, Mapping[str, Any]]) -> str:
    """The key of the output a DAG task's `from` names (`{{tasks.T.outputs.artifacts.N}}`)."""
    match = _FROM.match(source)
    if match is None or match.group(1) not in templates:
        return ""
    for output in _artifacts(templates[match.group(1)], "outputs"):
        if output["name"] == match.group(2):
            return str(output.get("s3", {}).get("key", ""))
    return ""


def _local(path: str, pod: Path) -> Path:
    """A path of the pod (`/workspace/...`, `/knargo/...`) in the attempt's directory."""
    for mount, local in ((jobpod.WORKSPACE, "workspace"), (jobpod.HOME, "knargo")):
        if path == mount or path.startswith(mount + "/"):
            return pod / local / path.removeprefix(mount).lstrip("/")
    raise ValueError(f"{path} is on no volume of the pod")
