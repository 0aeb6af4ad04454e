"""A gated job with a `matrix:`: one gate before all its combinations (one approval per
job), through lint, render, generate, report's statuses, `/approve <job>` and `knargo
approve`."""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knargo.cli import main
from knargo.functions import status
from test_approval_gates import contexts, node, running
from test_fork_approval import comment, send
from test_generate_function import Env, env, pull_request, reply  # noqa: F401

CI = """\
jobs:
  build: {image: alpine, run: make}
  deploy:
    image: alpine
    run: make deploy
    needs: build
    environment: production
    matrix: {region: [eu, us]}
  notify: {image: alpine, run: echo, needs: deploy, approval: true, matrix: {to: [a, b]}}
"""


def submit(env: Env) -> dict[str, Any]:
    env.forge.add_file("github", "acme/api", "a" * 40, "ci.yaml", CI.encode())
    reply(env.post(pull_request(sha="a" * 40, delivery="d-1")))
    (workflow,) = env.workflows()
    return workflow


def dag(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (pipeline,) = [t for t in workflow["spec"]["templates"] if t["name"] == "pipeline"]
    return {task["name"]: task for task in pipeline["dag"]["tasks"]}


def test_one_gate_waits_before_every_combination(env: Env) -> None:
    tasks = dag(submit(env))
    assert tasks["deploy-approval"].get("dependencies") == ["build"]
    for region in ("eu", "us"):
        assert tasks[f"deploy-{region}"]["dependencies"] == ["build", "deploy-approval"]
    assert tasks["notify-approval"]["dependencies"] == ["deploy-eu", "deploy-us"]
    for to in ("a", "b"):
        assert tasks[f"notify-{to}"]["dependencies"] == [
            "deploy-eu",
            "deploy-us",
            "notify-approval",
        ]
    assert [n for n in tasks if n.endswith("-approval")] == ["deploy-approval", "notify-approval"]


def test_lint_and_render_accept_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ci = tmp_path / "ci.yaml"
    ci.write_text(CI)
    assert main(["lint", str(ci)]) == 0
    assert main(["render", str(ci)]) == 0
    out = capsys.readouterr().out
    assert out.count("suspend: {}") == 2


def test_every_combination_says_it_waits_for_approval(env: Env) -> None:
    workflow = submit(env)
    live = running(
        env,
        workflow,
        node(workflow, "build", "Pod", "Succeeded"),
        node(workflow, "deploy-approval", "Suspend", "Running"),
    )
    found = contexts(live)
    waiting = (status.State.QUEUED, "waiting for approval (production)")
    assert found["knargo/deploy (eu)"] == waiting
    assert found["knargo/deploy (us)"] == waiting
    assert found["knargo/notify (a)"] == (status.State.QUEUED, "queued")


def test_approve_job_resumes_the_one_gate(env: Env, tmp_path: Path) -> None:
    workflow = submit(env)
    env.forge.set_pull("github", "acme/api", 7, "a" * 40, ref="topic")
    env.forge.set_permission("github", "acme/api", "maintainer", "write")
    gate = node(workflow, "deploy-approval", "Suspend", "Running")
    running(env, workflow, node(workflow, "build", "Pod", "Succeeded"), gate)
    send(env, comment("/approve deploy"))
    resumed = env.workflows()[0]["status"]["nodes"][gate["id"]]
    assert (resumed["phase"], resumed["message"]) == ("Succeeded", "Resumed by: maintainer")


def test_knargo_approve_resumes_the_one_gate(env: Env, tmp_path: Path) -> None:
    workflow = submit(env)
    name = workflow["metadata"]["name"]
    gate = node(workflow, "notify-approval", "Suspend", "Running")
    running(env, workflow, gate)
    kubeconfig = str(env.kube.kubeconfig(tmp_path))
    args = ["approve", name, "notify", "--kubeconfig", kubeconfig, "--namespace", "ci"]
    assert main([*args, "--as", "ops"]) == 0
    assert env.workflows()[0]["status"]["nodes"][gate["id"]]["phase"] == "Succeeded"
