"""Approval gates: `approval: true` / `environment:` → a suspend node before the job; report's
statuses while it waits, after it timed out or was cancelled; `/approve` and `knargo approve`
resuming it as `argo resume` does, against the loopback API server (CRD schema, JSON patch
`test` operations, conflicts)."""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from knargo.cli import main
from knargo.contract.errors import PermanentError
from knargo.functions import approvals, status
from knargo.language.lint import check
from knargo.translation import gates
from test_fork_approval import comment, send
from test_generate_function import Env, env, pull_request, reply  # noqa: F401

CI = """\
jobs:
  build: {image: alpine, run: make}
  staging: {image: alpine, run: make stage, needs: build, approval: true}
  production: {image: alpine, run: make deploy, needs: staging, environment: production}
"""


def test_the_dialect_checks_the_keys() -> None:
    bad = "jobs:\n  a: {image: alpine, run: x, approval: yes, environment: -prod}\n"
    found = {(d.rule, d.col) for d in check(bad).diagnostics}
    assert found == {("schema", 40), ("environment", 58)}
    assert check(CI).config is not None


def submit(env: Env) -> dict[str, Any]:
    env.forge.add_file("github", "acme/api", "a" * 40, "ci.yaml", CI.encode())
    reply(env.post(pull_request(sha="a" * 40, delivery="d-1")))
    (workflow,) = env.workflows()
    return workflow


def node(
    workflow: dict[str, Any], template: str, kind: str, phase: str, **extra: Any
) -> dict[str, Any]:
    name = workflow["metadata"]["name"]
    ident = f"{name}-{abs(hash(template)) % 10**10}"
    found = {"id": ident, "name": f"{name}.{template}", "displayName": template}
    found |= {"templateName": template, "type": kind, "phase": phase}
    return found | {"startedAt": "2026-12-04T08:00:00Z"} | extra


def running(env: Env, workflow: dict[str, Any], *nodes: dict[str, Any]) -> dict[str, Any]:
    """The Workflow as the controller leaves it: Running, with `nodes`."""
    stored = copy.deepcopy(workflow)
    stored["status"] = {"phase": "Running", "nodes": {n["id"]: n for n in nodes}}
    env.kube.put_object(stored, "workflows")
    return stored


def contexts(workflow: dict[str, Any]) -> dict[str, tuple[status.State, str]]:
    _, updates = status.from_workflow(workflow, "knargo", "https://argo.example.com")
    return {u.context: (u.state, u.description) for u in updates}


def test_report_constants_match_the_translation() -> None:
    assert (status.APPROVAL_FOR, status.ENVIRONMENT) == (gates.APPROVAL_FOR, gates.ENVIRONMENT)
    assert approvals.APPROVAL_FOR == gates.APPROVAL_FOR


def test_a_gated_job_waits_and_report_says_so(env: Env) -> None:
    workflow = submit(env)
    live = running(
        env,
        workflow,
        node(workflow, "build", "Pod", "Succeeded"),
        node(workflow, "staging-approval", "Suspend", "Running"),
    )
    found = contexts(live)
    assert found["knargo/staging"] == (status.State.QUEUED, "waiting for approval")
    assert found["knargo/production"] == (status.State.QUEUED, "queued")
    production = running(
        env,
        live,
        *live["status"]["nodes"].values(),
        node(workflow, "production-approval", "Suspend", "Running"),
    )
    assert contexts(production)["knargo/production"] == (
        status.State.QUEUED,
        "waiting for approval (production)",
    )


def test_a_gate_that_timed_out_and_a_cancelled_one_are_reported(env: Env) -> None:
    workflow = submit(env)
    timed_out = running(
        env,
        workflow,
        node(workflow, "build", "Pod", "Succeeded"),
        node(
            workflow, "staging-approval", "Suspend", "Failed", message="Step exceeded its deadline"
        ),
    )
    timed_out["status"]["phase"] = "Failed"
    assert contexts(timed_out)["knargo/staging"] == (status.State.FAILURE, "not approved in time")
    cancelled = copy.deepcopy(timed_out)
    cancelled["spec"]["shutdown"] = "Terminate"
    cancelled["metadata"]["annotations"]["knargo.dev/cancelled"] = "cancelled by /cancel from x"
    gate = next(n for n in cancelled["status"]["nodes"].values() if n["type"] == "Suspend")
    gate["message"] = "workflow shutdown with strategy: Terminate"
    assert contexts(cancelled)["knargo/staging"] == (
        status.State.CANCELLED,
        "cancelled: cancelled by /cancel from x",
    )


def test_approve_resumes_the_waiting_gate_as_argo_resume_does(env: Env) -> None:
    workflow = submit(env)
    env.forge.set_pull("github", "acme/api", 7, "a" * 40, ref="topic")
    env.forge.set_permission("github", "acme/api", "maintainer", "write")
    env.forge.set_permission("github", "acme/api", "passer-by", "read")
    gate = node(workflow, "staging-approval", "Suspend", "Running")
    running(env, workflow, node(workflow, "build", "Pod", "Succeeded"), gate)

    send(env, comment("/approve", author="passer-by"))
    assert env.workflows()[0]["status"]["nodes"][gate["id"]]["phase"] == "Running"
    send(env, comment("/approve production", delivery="c-2"))
    assert env.workflows()[0]["status"]["nodes"][gate["id"]]["phase"] == "Running"
    assert 'no job named "production"' in env.forge.comments("github", "acme/api", 7)[-1]
    send(env, comment("/approve staging", delivery="c-3"))
    resumed = env.workflows()[0]["status"]["nodes"][gate["id"]]
    assert resumed["phase"] == "Succeeded" and resumed["message"] == "Resumed by: maintainer"
    assert resumed["finishedAt"].endswith("Z")
    name = workflow["metadata"]["name"]
    assert f"approved `staging` in `{name}`" in env.forge.comments("github", "acme/api", 7)[-1]
    send(env, comment("/approve", delivery="c-4"))
    assert "no job of this pull request waits" in env.forge.comments("github", "acme/api", 7)[-1]
    patches = [r for r in env.kube.requests if r.method == "PATCH"]
    assert [r.content_type for r in patches] == ["application/json-patch+json"]


def test_a_gate_that_stopped_waiting_meanwhile_is_not_approved(env: Env, tmp_path: Path) -> None:
    """The patch's `test` operation: the API server refuses it when the node is no longer
    Running (its deadline passed between the read and the patch)."""
    from knargo.io.kube import Cluster

    workflow = submit(env)
    gate = node(
        workflow, "staging-approval", "Suspend", "Failed", message="Step exceeded its deadline"
    )
    running(env, workflow, gate)
    cluster = Cluster.from_kubeconfig(str(env.kube.kubeconfig(tmp_path)), None, {})
    ops = approvals.resume_patch([gate["id"]], "someone", __import__("datetime").datetime.now())
    with pytest.raises(PermanentError):
        cluster.json_patch_workflow("ci", workflow["metadata"]["name"], ops)
    assert env.workflows()[0]["status"]["nodes"][gate["id"]]["phase"] == "Failed"
    assert cluster.json_patch_workflow("ci", "gone", ops) is False


def test_knargo_approve_resumes_one_job(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = submit(env)
    name = workflow["metadata"]["name"]
    staging = node(workflow, "staging-approval", "Suspend", "Running")
    running(env, workflow, staging)
    kubeconfig = str(env.kube.kubeconfig(tmp_path))
    base = ["approve", name, "--kubeconfig", kubeconfig, "--namespace", "ci", "--as", "ops"]
    assert main([*base[:2], "production", *base[2:]]) == 1
    assert main([*base[:2], "staging", *base[2:]]) == 0
    assert capsys.readouterr().out == f"approved staging in ci/{name}\n"
    resumed = env.workflows()[0]["status"]["nodes"][staging["id"]]
    assert (resumed["phase"], resumed["message"]) == (
        "Succeeded",
        "Resumed by: ops (knargo approve)",
    )
    assert main([*base[:2], "staging", *base[2:]]) == 1, "approved once"


def test_offloaded_node_status_is_refused() -> None:
    with pytest.raises(PermanentError, match="offloaded"):
        approvals.waiting({"status": {"offloadedNodeStatusVersion": "abc"}})
