"""Approving a waiting job: what `argo resume` does, with only the Kubernetes API.

A gate (knargo.translation.gates) is a node of type `Suspend` in phase `Running`. Argo's own
resume (`ResumeWorkflow` in workflow/util/util.go, which `argo resume --node-field-selector`
and the Argo server call) sets such a node's `phase` to `Succeeded`, its `finishedAt` to now
and its `message` to who resumed it, and writes the Workflow back; the controller then runs
what depends on it. knargo sends the same change as one JSON patch whose `test` operations
make it conditional: if the node stopped waiting in the meantime (the run's deadline passed,
the run was terminated, someone else approved), the API server refuses the whole patch and
nothing is approved twice or after the fact. Workflows whose node status Argo offloaded or
compressed are refused: their nodes are not in the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from knargo.contract.errors import PermanentError

__all__ = ["Gates", "approve", "resume_patch", "waiting"]

APPROVAL_FOR = "knargo.dev/approval-for"


class Gates(Protocol):
    def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def json_patch_workflow(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> bool: ...


def waiting(workflow: Mapping[str, Any], job: str | None = None) -> dict[str, str]:
    """Node id → job id of the gates that wait (of `job` only, when given)."""
    status = workflow.get("status") or {}
    if status.get("offloadedNodeStatusVersion") or status.get("compressedNodes"):
        raise PermanentError(
            "the run's node status is offloaded or compressed; approve it in the Argo UI"
        )
    gated = {}
    for template in (workflow.get("spec") or {}).get("templates") or []:
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if annotations.get(APPROVAL_FOR):
            gated[template["name"]] = annotations[APPROVAL_FOR]
    found = {}
    for node_id, node in (status.get("nodes") or {}).items():
        for_job = gated.get(node.get("templateName", ""))
        active = node.get("type") == "Suspend" and node.get("phase") == "Running"
        if for_job and active and job in (None, for_job):
            found[node_id] = for_job
    return found


def resume_patch(node_ids: list[str], actor: str, now: datetime) -> list[dict[str, Any]]:
    """The JSON patch that resumes the nodes, each only if it still waits."""
    ops: list[dict[str, Any]] = []
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for node_id in node_ids:
        path = "/status/nodes/" + node_id.replace("~", "~0").replace("/", "~1")
        ops += [
            {"op": "test", "path": f"{path}/phase", "value": "Running"},
            {"op": "replace", "path": f"{path}/phase", "value": "Succeeded"},
            {"op": "add", "path": f"{path}/finishedAt", "value": stamp},
            {"op": "add", "path": f"{path}/message", "value": f"Resumed by: {actor}"},
        ]
    return ops


def approve(cluster: Gates, namespace: str, name: str, job: str | None, actor: str) -> list[str]:
    """Approve the waiting gates of run `name` (of `job` only, when given); the jobs approved,
    sorted (none when nothing waits). Raises PermanentError when the patch is refused."""
    workflow = cluster.get_workflow(namespace, name)
    if workflow is None:
        return []
    gates = waiting(workflow, job)
    if not gates:
        return []
    if not cluster.json_patch_workflow(
        namespace, name, resume_patch(sorted(gates), actor, datetime.now(UTC))
    ):
        return []
    return sorted(set(gates.values()))
