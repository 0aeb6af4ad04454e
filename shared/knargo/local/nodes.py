"""A Workflow's `status` as Argo's controller writes it, for the local executor.

Fields follow Argo's: the workflow's `phase`, `startedAt`, `finishedAt`, `progress`,
`message`, and `nodes` keyed by id: one `DAG` node for the entrypoint (id = the Workflow's
name), one node per DAG task named `<workflow>.<task>` (type `Pod`, or `Retry` with `Pod`
children `<task>(0)`, `<task>(1)`… when the template retries, or `Skipped` with phase
`Omitted` when its dependencies did not pass). Node ids are Argo's: the Workflow's name and
the 32-bit FNV-1a hash of the node's name. Times are RFC 3339 in UTC, to the second.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from knargo.translation.templates import ENTRYPOINT

__all__ = ["FINAL", "WorkflowStatus", "node_id", "timestamp"]

FINAL = frozenset({"Succeeded", "Failed", "Error", "Omitted", "Skipped"})
OMITTED = "omitted: depends condition not met"


def node_id(workflow: str, name: str) -> str:
    """Argo's `Workflow.NodeID`: the name itself for the workflow's node, else a hash."""
    if name == workflow:
        return workflow
    value = 0x811C9DC5
    for byte in name.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{workflow}-{value}"


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkflowStatus:
    """The status of one Workflow; not thread-safe (the executor holds a lock)."""

    def __init__(self, workflow: str) -> None:
        self.workflow = workflow
        self.data: dict[str, Any] = {"phase": "Pending", "nodes": {}}

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = self.data["nodes"]
        return nodes

    def start(self) -> None:
        now = timestamp()
        self.data.update(phase="Running", startedAt=now, progress="0/0")
        self.nodes[self.workflow] = {
            "id": self.workflow,
            "name": self.workflow,
            "displayName": self.workflow,
            "type": "DAG",
            "templateName": ENTRYPOINT,
            "phase": "Running",
            "startedAt": now,
            "children": [],
        }

    def add(
        self,
        task: str,
        kind: str,
        phase: str,
        parents: list[str],
        attempt: int | None = None,
        message: str = "",
    ) -> str:
        """A new node for `task` (or its attempt), linked as a child of `parents`."""
        display = task if attempt is None else f"{task}({attempt})"
        name = f"{self.workflow}.{display}"
        identity = node_id(self.workflow, name)
        node: dict[str, Any] = {
            "id": identity,
            "name": name,
            "displayName": display,
            "type": kind,
            "templateName": task,
            "phase": phase,
            "boundaryID": self.workflow,
            "startedAt": timestamp(),
        }
        if message:
            node["message"] = message
        if phase in FINAL:
            node["finishedAt"] = node["startedAt"]
        self.nodes[identity] = node
        for parent in parents or [self.workflow]:
            self.nodes[parent].setdefault("children", []).append(identity)
        self._progress()
        return identity

    def omit(self, task: str, parents: list[str]) -> str:
        return self.add(task, "Skipped", "Omitted", parents, message=OMITTED)

    def set(self, identity: str, phase: str, message: str = "") -> None:
        node = self.nodes[identity]
        node["phase"] = phase
        if message:
            node["message"] = message
        if phase in FINAL:
            node["finishedAt"] = timestamp()
        self._progress()

    def finish(self, phase: str, message: str = "") -> None:
        now = timestamp()
        self.set(self.workflow, phase, message)
        self.data.update(phase=phase, finishedAt=now)
        if message:
            self.data["message"] = message

    def _progress(self) -> None:
        pods = [n for n in self.nodes.values() if n["type"] == "Pod"]
        done = sum(1 for n in pods if n["phase"] in FINAL)
        self.data["progress"] = f"{done}/{len(pods)}"

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)
