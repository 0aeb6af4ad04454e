"""The local cluster: the Kubernetes semantics generate and report rely on, in JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from knargo.contract.errors import PermanentError
from knargo.local.cluster import LocalCluster, matches


def manifest(kind: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ci", "labels": labels or {}},
        "spec": {"n": 1},
    }


def test_a_workflow_is_created_once(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    watched: list[dict[str, Any]] = []
    cluster.watchers.append(watched.append)
    assert cluster.create_workflow(manifest("Workflow", "wf-1")) is True
    assert cluster.create_workflow(manifest("Workflow", "wf-1")) is False  # a redelivery
    assert [w["metadata"]["name"] for w in watched] == ["wf-1"]
    stored = cluster.get_workflow("ci", "wf-1")
    assert stored is not None
    assert stored["metadata"]["resourceVersion"] == "1"
    assert stored["metadata"]["uid"] and stored["metadata"]["creationTimestamp"]
    on_disk = json.loads((tmp_path / "ci" / "workflows" / "wf-1.json").read_text())
    assert on_disk == stored
    assert cluster.get_workflow("ci", "other") is None


def test_status_updates_bump_the_resource_version(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    cluster.create_workflow(manifest("Workflow", "wf-1"))
    first = cluster.update_workflow_status("ci", "wf-1", {"phase": "Running"})
    second = cluster.update_workflow_status("ci", "wf-1", {"phase": "Succeeded"})
    assert (first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"]) == (
        "2",
        "3",
    )
    assert cluster.get_workflow("ci", "wf-1") == second
    assert [w["metadata"]["name"] for w in cluster.workflows("ci")] == ["wf-1"]
    with pytest.raises(PermanentError):
        cluster.update_workflow_status("ci", "gone", {})


def test_cron_workflows_are_applied_listed_by_selector_and_deleted(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    mine = {"app.kubernetes.io/managed-by": "knargo", "knargo.dev/repository-id": "r1"}
    cluster.apply_cron_workflow(manifest("CronWorkflow", "a-cron0", mine))
    cluster.apply_cron_workflow(manifest("CronWorkflow", "b-cron0", {**mine, "x": "y"}))
    cluster.apply_cron_workflow(
        manifest("CronWorkflow", "other", {"knargo.dev/repository-id": "r2"})
    )
    first = cluster.cron_workflows("ci", "")["a-cron0"]["metadata"]
    cluster.apply_cron_workflow(manifest("CronWorkflow", "a-cron0", mine))
    again = cluster.cron_workflows("ci", "")["a-cron0"]["metadata"]
    assert (again["uid"], again["resourceVersion"]) == (first["uid"], "2")
    selector = "app.kubernetes.io/managed-by=knargo,knargo.dev/repository-id=r1"
    assert sorted(cluster.cron_workflows("ci", selector)) == ["a-cron0", "b-cron0"]
    cluster.delete_cron_workflow("ci", "b-cron0")
    cluster.delete_cron_workflow("ci", "b-cron0")  # already gone: fine
    assert sorted(cluster.cron_workflows("ci", selector)) == ["a-cron0"]
    assert cluster.cron_workflows("elsewhere", selector) == {}


@pytest.mark.parametrize("name", ["../escape", "UPPER", "", "a/b", "-x"])
def test_names_must_be_kubernetes_names(tmp_path: Path, name: str) -> None:
    cluster = LocalCluster(tmp_path)
    with pytest.raises(PermanentError, match="invalid name"):
        cluster.create_workflow(manifest("Workflow", name))
    assert not any(tmp_path.parent.glob("escape*"))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("a=1", True),
        ("a==1", True),
        ("a=2", False),
        ("a!=2", True),
        ("a!=1", False),
        ("a,b=x", True),
        ("c", False),
        ("!c", True),
        ("!a", False),
        ("a=1, b = x", True),
    ],
)
def test_equality_label_selectors(selector: str, expected: bool) -> None:
    assert matches(selector, {"a": "1", "b": "x"}) is expected
