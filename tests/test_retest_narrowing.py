"""`/retest <job>` on the rendered manifest: a kept gated job keeps its gate, the jobs whose
artifacts a kept job receives and whose results its `if:` reads run again, matrix jobs are
narrowed by id or by combination, and every task the narrowed DAG names exists in it."""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import re
from typing import Any

import argo_validate
from argo_schemas import problems
from knargo.config.settings import Settings
from knargo.contract.events import GitEvent
from knargo.language.lint import check
from knargo.translation.plan import Plan, plan
from knargo.translation.rerun import narrow_to_dependents
from test_comment_commands import CASES, WRITE, prepare, reply_of, send, tasks
from test_generate_function import Env, env  # noqa: F401  (the generate fixture)
from test_translate_golden import BASE_EVENT

GATED = """\
jobs:
  build: {image: alpine, run: make, artifacts: {paths: [dist/]}}
  lint: {image: alpine, run: make lint}
  test: {image: alpine, run: make test, needs: [build, lint]}
  deploy: {image: alpine, run: make deploy, needs: test, environment: production}
  smoke: {image: alpine, run: ./smoke, needs: deploy, approval: true}
"""

RESULTS = """\
jobs:
  build: {image: alpine, run: make}
  test: {image: alpine, run: make test, needs: build}
  report: {image: alpine, run: ./report, needs: test, if: failure()}
  after: {image: alpine, run: ./after, needs: report}
"""

MATRIX = """\
jobs:
  build: {image: alpine, run: make, artifacts: {paths: [dist/]}}
  test: {image: alpine, run: make test, needs: build, matrix: {py: ['3.11', '3.12']}}
  deploy:
    image: alpine
    run: make deploy
    needs: test
    approval: true
    matrix: {region: [eu, us]}
"""


def planned(text: str) -> Plan:
    config = check(text).config
    assert config is not None
    return plan(config, GitEvent.model_validate(BASE_EVENT), Settings.embedded())


def narrowed(text: str, job: str) -> dict[str, Any]:
    result = narrow_to_dependents(planned(text), job)
    assert result is not None and result.workflow is not None
    workflow: dict[str, Any] = dict(result.workflow)
    assert problems(workflow) == []
    assert_complete(workflow)
    assert argo_validate.problems(workflow) == []  # what Argo's controller checks
    return workflow


def dag(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (pipeline,) = [t for t in workflow["spec"]["templates"] if "dag" in t]
    return {task["name"]: task for task in pipeline["dag"]["tasks"]}


def assert_complete(workflow: dict[str, Any]) -> None:
    """Every task named in dependencies, depends and artifact arguments is in the DAG, and
    every task's template exists."""
    tasks = dag(workflow)
    templates = {t["name"] for t in workflow["spec"]["templates"]}
    for task in tasks.values():
        named = set(task.get("dependencies", []))
        named |= set(
            re.findall(
                r"([-\w]+)\.(?:Succeeded|Failed|Errored|Skipped|Omitted)", task.get("depends", "")
            )
        )
        for artifact in task.get("arguments", {}).get("artifacts", []):
            named |= set(re.findall(r"tasks\.([-\w]+)\.outputs", artifact["from"]))
        assert named <= set(tasks), (task["name"], named - set(tasks))
        assert task["template"] in templates


def test_a_kept_gated_job_keeps_its_gate() -> None:
    tasks = dag(narrowed(GATED, "deploy"))
    assert set(tasks) == {"deploy", "deploy-approval", "smoke", "smoke-approval"}
    assert tasks["deploy"]["dependencies"] == ["deploy-approval"]
    assert "dependencies" not in tasks["deploy-approval"]
    assert tasks["smoke"]["dependencies"] == ["deploy", "smoke-approval"]
    assert tasks["smoke-approval"]["dependencies"] == ["deploy"]
    tasks = dag(narrowed(GATED, "lint"))
    assert {"deploy-approval", "smoke-approval"} <= set(tasks)
    assert tasks["deploy"]["dependencies"] == ["test", "deploy-approval"]


def test_dropped_gates_and_their_templates_go() -> None:
    workflow = narrowed(GATED, "smoke")
    assert set(dag(workflow)) == {"smoke", "smoke-approval"}
    names = {t["name"] for t in workflow["spec"]["templates"]}
    assert "deploy-approval" not in names and "deploy" not in names


def test_the_jobs_whose_artifacts_a_kept_job_receives_run_again() -> None:
    """`test` receives `build`'s files: build runs again; lint, which only passed before,
    does not."""
    tasks = dag(narrowed(GATED, "test"))
    assert "build" in tasks and "lint" not in tasks
    assert tasks["test"]["dependencies"] == ["build"]
    (artifact,) = tasks["test"]["arguments"]["artifacts"]
    assert artifact["from"] == "{{tasks.build.outputs.artifacts.files}}"


def test_the_jobs_a_kept_job_reads_the_results_of_run_again() -> None:
    workflow = narrowed(RESULTS, "report")
    tasks = dag(workflow)
    assert set(tasks) == {"build", "test", "report", "after"}, "failure() reads every need"
    assert tasks["report"]["depends"] == (
        "build.Failed || build.Errored || test.Failed || test.Errored"
    )
    assert tasks["test"]["depends"] == "build.Succeeded"  # every task: a result-aware DAG
    assert set(dag(narrowed(RESULTS, "after"))) == {"after"}, "report passed before"


def test_a_matrix_job_by_its_id_or_one_combination() -> None:
    tasks = dag(narrowed(MATRIX, "test"))
    assert set(tasks) == {
        "build",
        "test-3-11",
        "test-3-12",
        "deploy-eu",
        "deploy-us",
        "deploy-approval",
    }
    assert tasks["deploy-approval"]["dependencies"] == ["test-3-11", "test-3-12"]
    one = dag(narrowed(MATRIX, "test (3.12)"))
    assert set(one) == {"build", "test-3-12", "deploy-eu", "deploy-us", "deploy-approval"}
    assert one["deploy-approval"]["dependencies"] == ["test-3-12"]
    deploy = dag(narrowed(MATRIX, "deploy"))
    assert set(deploy) == {"deploy-eu", "deploy-us", "deploy-approval"}
    assert deploy["deploy-eu"]["dependencies"] == ["deploy-approval"]
    us = dag(narrowed(MATRIX, "deploy (us)"))
    assert set(us) == {"deploy-us", "deploy-approval"}


def test_the_planned_jobs_follow_the_narrowed_dag() -> None:
    result = narrow_to_dependents(planned(GATED), "test")
    assert result is not None
    assert [(j.id, j.needs) for j in result.jobs] == [
        ("build", ()),
        ("test", ("build",)),
        ("deploy", ("test",)),
        ("smoke", ("deploy",)),
    ]
    assert narrow_to_dependents(planned(GATED), "nope") is None


def test_retest_through_generate_keeps_the_gate_and_the_producers(env: Env) -> None:
    """The comment's whole path: generate submits the narrowed Workflow to the loopback API
    server, which validates it against the CRD."""
    case = CASES[0]
    prepare(env, case, WRITE[case.forge], ci=MATRIX)
    reply = reply_of(send(env, case.comment("/retest test")))
    assert reply is not None
    assert [job["id"] for job in reply.data["jobs"]] == [
        "build",
        "test (3.11)",
        "test (3.12)",
        "deploy (eu)",
        "deploy (us)",
    ]
    (workflow,) = env.workflows()
    assert tasks(workflow) == [
        "build",
        "deploy-approval",
        "deploy-eu",
        "deploy-us",
        "test-3-11",
        "test-3-12",
    ]
    assert_complete(workflow)


def test_retest_of_one_combination_through_generate(env: Env) -> None:
    """What GitHub's Re-run of the check run `knargo/test (3.12)` sends as a comment."""
    case = CASES[0]
    prepare(env, case, WRITE[case.forge], ci=MATRIX)
    reply = reply_of(send(env, case.comment("/retest test (3.12)")))
    assert reply is not None
    (workflow,) = env.workflows()
    assert tasks(workflow) == ["build", "deploy-approval", "deploy-eu", "deploy-us", "test-3-12"]
    assert_complete(workflow)
