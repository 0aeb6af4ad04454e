"""Result-aware `if:` conditions: what they mean, checked against Argo's documented `depends`.

The table test feeds every combination of results of the needed jobs (and of a job before
them) to two sides: the conditions' own meaning (`Condition.evaluate` with the status
functions' values, as docs/ci-yaml.md defines them) and Argo's enhanced depends logic
applied to the task knargo renders (`argo_depends`, written from Argo's documentation, and
the local executor's `knargo.local.dag`). They must agree on whether the job runs.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

import argo_validate
from argo_sim import argo_depends, run
from knargo.config.settings import Settings
from knargo.contract.events import GitEvent
from knargo.functions.status import State, from_workflow
from knargo.language import conditions
from knargo.language.lint import check
from knargo.local import dag
from knargo.local.selection import narrow
from knargo.translation.plan import plan
from test_admin import fork_messages, job
from test_local_kit import commit, make_repo
from test_local_run import knargo, statuses
from test_translate_golden import BASE_EVENT

# How a task can end. Skipped (a `when` that was false) is left out: knargo emits no `when`.
PHASES = ("Succeeded", "Failed", "Error", "Omitted")
RESULT_OF = {
    "Succeeded": "success",
    "Failed": "failure",
    "Error": "failure",
    "Omitted": "skipped",
    "Skipped": "skipped",
}
CONDITIONS = (
    None,
    "success()",
    "failure()",
    "always()",
    "cancelled()",
    "!success()",
    "event == 'push'",
    "event == 'push' && failure()",
    "failure() || event == 'tag'",
    "always() && !cancelled()",
    "needs.a.result == 'failure'",
    "needs.a.result == 'success' && needs.b.result == 'failure'",
    "needs.a.result == 'skipped' || needs.b.result != 'success'",
    "needs.b.result == 'cancelled' || success()",
    "!(needs.a.result == 'failure') && always()",
    "failure() == true",
    "success() != (needs.b.result == 'failure')",
)


def argo_dependencies(task: dict[str, Any], tasks: dict[str, Any], phases: dict[str, str]) -> bool:
    """`dependencies`: each is `task.Succeeded || task.Skipped || task.Daemoned`, widened by the
    dependency's `continueOn` (Argo's expandDependencies)."""
    for name in task.get("dependencies", []):
        allowed = ["Succeeded", "Skipped"]
        allowed += ["Failed"] if (tasks[name].get("continueOn") or {}).get("failed") else []
        allowed += ["Error"] if (tasks[name].get("continueOn") or {}).get("error") else []
        if phases[name] not in allowed:
            return False
    return True


def pipeline(condition: str | None, tolerant: bool) -> str:
    job = "    needs: [a, b]\n" + (f'    if: "{condition}"\n' if condition else "")
    return (
        "jobs:\n"
        "  root: {image: alpine, run: 'true'}\n"
        "  a: {image: alpine, run: 'true', needs: root}\n"
        f"  b: {{image: alpine, run: 'true', continue-on-error: {str(tolerant).lower()}}}\n"
        "  job:\n    image: alpine\n    run: 'true'\n" + job
    )


def planned_tasks(text: str, **event: Any) -> dict[str, Any]:
    checked = check(text)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, GitEvent.model_validate({**BASE_EVENT, **event}), SETTINGS)
    assert result.workflow is not None
    return {t["name"]: t for t in result.workflow["spec"]["templates"][0]["dag"]["tasks"]}


SETTINGS = Settings.embedded()


def expected(condition: str | None, phases: dict[str, str], tolerant: bool) -> bool:
    """The job runs: the condition's own meaning (docs/ci-yaml.md)."""
    failing = {j for j, p in phases.items() if p in ("Failed", "Error")}
    if tolerant:
        failing.discard("b")
    passed = all(
        phases[n] == "Succeeded" or (n == "b" and tolerant and phases[n] in ("Failed", "Error"))
        for n in ("a", "b")
    )
    values: dict[str, str | bool] = {
        "event": "push",
        "success()": passed,
        "failure()": bool(failing),
        "cancelled()": False,
        "needs.a.result": RESULT_OF[phases["a"]],
        "needs.b.result": RESULT_OF[phases["b"]],
    }
    if condition is None:
        return passed
    parsed = conditions.parse(condition)
    return parsed.evaluate(values) and (parsed.result_aware or passed)


@pytest.mark.parametrize("tolerant", [False, True])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_conditions_agree_with_argos_depends_logic(condition: str | None, tolerant: bool) -> None:
    tasks = planned_tasks(pipeline(condition, tolerant))
    if "job" not in tasks:  # left out by the plan: the condition holds for no result
        assert not any(
            expected(condition, dict(zip(("root", "a", "b"), p, strict=True)), tolerant)
            for p in itertools.product(PHASES, repeat=3)
        )
        return
    task = tasks["job"]
    if conditions.parse(condition).result_aware if condition else False:
        assert "dependencies" not in task and "when" not in task
        waits = set(dag.dependencies(task))
        assert {"a", "b"} <= waits <= {"a", "b", "root"}, task["depends"]
    for root, a, b in itertools.product(PHASES, repeat=3):
        phases = {"root": root, "a": a, "b": b}
        if "depends" in task:
            runs = argo_depends(task["depends"], phases)
        else:
            runs = argo_dependencies(task, tasks, phases)
        assert runs is expected(condition, phases, tolerant), (condition, phases, task)
        assert dag.holds(task, tasks, phases) is runs, (task, phases)


def test_a_condition_that_cannot_hold_for_the_event_leaves_the_job_out() -> None:
    tasks = planned_tasks(pipeline("failure() && event == 'tag'", False))
    assert "job" not in tasks


def test_a_job_left_out_by_its_if_counts_as_skipped_for_the_jobs_after_it() -> None:
    text = """\
jobs:
  a: {image: alpine, run: 'true', if: "event == 'tag'"}
  b: {image: alpine, run: 'true', needs: a}
  c: {image: alpine, run: 'true', needs: a, if: "needs.a.result == 'skipped'"}
  d: {image: alpine, run: 'true', needs: a, if: "always()"}
"""
    tasks = planned_tasks(text)
    assert sorted(tasks) == ["c", "d"]
    assert "depends" not in tasks["c"] and "dependencies" not in tasks["c"]


def test_needs_with_hyphens_can_be_named() -> None:
    text = """\
jobs:
  build-x: {image: alpine, run: 'true'}
  notify: {image: alpine, run: 'true', needs: build-x, if: "needs.build-x.result == 'failure'"}
"""
    assert planned_tasks(text)["notify"]["depends"] == "build-x.Failed || build-x.Errored"


def workflow_after(tasks_phases: dict[str, str], manifest: dict[str, Any]) -> dict[str, Any]:
    """The Workflow as Argo leaves it, with these task phases and Argo's DAG phase."""
    name = manifest["metadata"]["name"]
    nodes = {
        f"{name}-{task}": {
            "id": f"{name}-{task}",
            "name": f"{name}.{task}",
            "displayName": task,
            "templateName": task,
            "type": "Skipped" if phase == "Omitted" else "Pod",
            "phase": phase,
        }
        for task, phase in tasks_phases.items()
    }
    tasks = {t["name"]: t for t in manifest["spec"]["templates"][0]["dag"]["tasks"]}
    phase = dag.dag_phase(tasks, tasks_phases)
    return {**manifest, "status": {"phase": phase, "nodes": nodes}}


HANDLED = """\
jobs:
  build: {image: alpine, run: 'exit 1'}
  deploy: {image: alpine, run: 'true', needs: build}
  cleanup: {image: alpine, run: 'true', needs: deploy, if: "always()"}
  notify: {image: alpine, run: 'true', needs: build, if: "failure()"}
"""


def rendered(text: str) -> dict[str, Any]:
    checked = check(text)
    assert checked.config is not None
    result = plan(checked.config, GitEvent.model_validate(BASE_EVENT), SETTINGS)
    assert result.workflow is not None
    return dict(json.loads(json.dumps(result.workflow)))


def test_a_handled_failure_succeeds_in_argo_but_the_pipeline_stays_failed() -> None:
    manifest = rendered(HANDLED)
    phases = {"build": "Failed", "deploy": "Omitted", "cleanup": "Succeeded", "notify": "Succeeded"}
    workflow = workflow_after(phases, manifest)
    assert workflow["status"]["phase"] == "Succeeded"  # Argo judges the DAG by its last tasks
    _, updates = from_workflow(workflow, "knargo", "https://argo.example")
    states = {u.context: (u.state, u.description) for u in updates}
    assert states["knargo"] == (State.FAILURE, "failed: job build failed")
    assert states["knargo/build"][0] is State.FAILURE
    assert states["knargo/deploy"][0] is State.SKIPPED
    assert states["knargo/notify"][0] is State.SUCCESS
    assert states["knargo/cleanup"][0] is State.SUCCESS


def test_a_failure_a_job_may_have_does_not_fail_the_pipeline() -> None:
    manifest = rendered(HANDLED.replace("run: 'exit 1'", "run: 'exit 1', continue-on-error: true"))
    phases = {"build": "Failed", "deploy": "Succeeded", "cleanup": "Succeeded", "notify": "Omitted"}
    workflow = workflow_after(phases, manifest)
    _, updates = from_workflow(workflow, "knargo", "https://argo.example")
    assert updates[0].state is State.SUCCESS


def test_docs_name_every_status_function() -> None:
    text = (Path(__file__).parent.parent / "docs" / "ci-yaml.md").read_text()
    for function in conditions.STATUS_FUNCTIONS:
        assert f"`{function}()`" in text


LOCAL = """\
jobs:
  build:
    image: alpine
    run: echo building && exit 3
  deploy:
    needs: build
    image: alpine
    run: echo deploying
  notify:
    needs: build
    if: failure()
    image: alpine
    run: echo "notifying about $KNARGO_SHA"
  cleanup:
    needs: [build, deploy]
    if: always()
    image: alpine
    run: echo cleaning up
"""


def test_knargo_run_runs_failure_and_always_jobs_after_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"ci.yaml": LOCAL})
    code, out, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 1, out + err
    runs = repo / ".knargo" / "runs"
    logs = {p.parent.name: p.read_text() for p in runs.glob("*/*/log")}
    assert "notifying about" in logs["notify"] and "cleaning up" in logs["cleanup"]
    assert "deploy" not in logs
    posted = statuses(repo)
    assert posted == {
        "knargo": "failure",
        "knargo/build": "failure",
        "knargo/deploy": "skipped",
        "knargo/notify": "success",
        "knargo/cleanup": "success",
    }
    assert re.search(
        r"^pipeline repo-push-\w+-\w+: failed: failed build; omitted deploy$", out, re.M
    )


NAMED = """\
on:
  push:
  schedule:
    - {cron: "0 3 * * *", name: nightly}
    - {cron: "0 4 * * 0", name: weekly}
jobs:
  quick:
    image: alpine
    run: test "$KNARGO_EVENT" = schedule
  long:
    if: schedule == 'weekly'
    image: alpine
    run: echo long
"""


@pytest.mark.parametrize(
    ("chosen", "jobs"), [("nightly", "1 job (quick)"), ("1", "2 jobs (quick, long)")]
)
def test_knargo_run_tells_named_schedules_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chosen: str, jobs: str
) -> None:
    repo = make_repo(tmp_path / "repo", {"ci.yaml": NAMED})
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--event", "schedule")
    assert code == 1
    assert "0: 0 3 * * * (nightly); 1: 0 4 * * 0 (weekly)" in err
    code, out, err = knargo(
        capsys, "run", "-C", str(repo), "--event", "schedule", "--schedule", chosen
    )
    assert code == 0, out + err
    assert re.search(rf"^pipeline repo-cron\d-\w+-\d+: {re.escape(jobs)}$", out, re.M), out


def test_jobs_left_out_for_their_paths_are_reported_skipped() -> None:
    text = """\
jobs:
  api: {image: alpine, run: x, paths: ['packages/api/**']}
  web: {image: alpine, run: x, paths: ['packages/web/**']}
  e2e: {image: alpine, run: x, needs: [api, web]}
"""
    checked = check(text)
    assert checked.config is not None
    event = GitEvent.model_validate({**BASE_EVENT, "ref": "refs/heads/feature"})
    result = plan(checked.config, event, SETTINGS, changed_paths=["packages/api/x.py"])
    assert result.workflow is not None and result.skipped_jobs == ["web"]
    manifest = json.loads(json.dumps(result.workflow))
    workflow = workflow_after({"api": "Succeeded", "e2e": "Succeeded"}, manifest)
    _, updates = from_workflow(workflow, "knargo", "https://argo.example")
    states = {u.context: (u.state, u.description) for u in updates}
    assert states["knargo/web"] == (State.SKIPPED, "skipped: no changed path matches its paths")
    assert states["knargo/e2e"][0] is State.SUCCESS and states["knargo"][0] is State.SUCCESS
    tag = GitEvent.model_validate({**BASE_EVENT, "kind": "tag", "ref": "refs/tags/v1"})
    tagged = plan(checked.config, tag, SETTINGS, changed_paths=["docs/x.md"])
    assert [j.id for j in tagged.jobs] == ["api", "web", "e2e"]  # tags have no changed paths


def test_changed_matches_the_changed_paths() -> None:
    condition = conditions.parse("changed('packages/api/**') && !changed('**/*.md')")
    paths = {conditions.CHANGED: "packages/api/main.go\0packages/web/x.ts"}
    assert condition.evaluate(paths)
    assert not condition.evaluate({conditions.CHANGED: "packages/api/README.md"})
    assert condition.evaluate({}) is False  # unknown: each changed() is true, so !changed fails
    assert conditions.parse("changed('docs/**')").evaluate({})
    with pytest.raises(conditions.ConditionError, match=r"changed\(\) takes 1 argument, got 2"):
        conditions.parse("changed('a', 'b')")
    with pytest.raises(conditions.ConditionError, match=r"negate with !changed"):
        conditions.parse("changed('!docs/**')")


def test_changed_in_if_uses_the_events_paths() -> None:
    text = """\
jobs:
  docs: {image: alpine, run: x, if: "changed('docs/**') || event == 'tag'"}
  code: {image: alpine, run: x}
"""
    checked = check(text)
    assert checked.config is not None
    branch = GitEvent.model_validate({**BASE_EVENT, "ref": "refs/heads/feature"})
    result = plan(checked.config, branch, SETTINGS, changed_paths=["src/app.py"])
    assert [j.id for j in result.jobs] == ["code"]
    result = plan(checked.config, branch, SETTINGS, changed_paths=["docs/index.md"])
    assert [j.id for j in result.jobs] == ["docs", "code"]
    unknown = plan(checked.config, branch, SETTINGS)
    assert [j.id for j in unknown.jobs] == ["docs", "code"]
    assert "changed paths unknown: changed() counted as true" in unknown.notes


def test_report_follows_a_simulated_run_after_a_failure() -> None:
    *_, final = run(rendered(HANDLED), {"build": "Failed"})
    assert final["status"]["phase"] == "Succeeded"  # every branch ends in a job that passed
    phases = {n["displayName"]: n["phase"] for n in final["status"]["nodes"].values()}
    assert phases == {
        "build": "Failed",
        "deploy": "Omitted",
        "cleanup": "Succeeded",
        "notify": "Succeeded",
    }
    _, updates = from_workflow(final, "knargo", "https://argo.example")
    states = {u.context: u.state for u in updates}
    assert states == {
        "knargo": State.FAILURE,
        "knargo/build": State.FAILURE,
        "knargo/deploy": State.SKIPPED,
        "knargo/cleanup": State.SUCCESS,
        "knargo/notify": State.SUCCESS,
    }
    *_, passed = run(rendered(HANDLED), {})
    phases = {n["displayName"]: n["phase"] for n in passed["status"]["nodes"].values()}
    assert phases["notify"] == "Omitted" and passed["status"]["phase"] == "Succeeded"


def test_knargo_run_job_keeps_what_a_result_aware_job_waits_for() -> None:
    narrowed = narrow(rendered(HANDLED), "notify")
    tasks = [t["name"] for t in narrowed["spec"]["templates"][0]["dag"]["tasks"]]
    assert tasks == ["build", "notify"]


def test_a_push_that_changes_no_jobs_paths_runs_nothing_and_says_why() -> None:
    checked = check("jobs:\n  api: {image: alpine, run: x, paths: ['packages/api/**']}\n")
    assert checked.config is not None
    event = GitEvent.model_validate({**BASE_EVENT, "ref": "refs/heads/feature"})
    result = plan(checked.config, event, SETTINGS, changed_paths=["README.md"])
    assert result.workflow is None
    assert result.skipped == "no job runs: each job's if: is false or its paths did not change"
    assert result.notes == ["left out, no changed path matches their paths: api"]


def test_knargo_run_leaves_out_jobs_whose_paths_did_not_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """\
jobs:
  api:
    paths: packages/api/**
    image: alpine
    run: echo api
  web:
    paths: packages/web/**
    image: alpine
    run: echo web
  e2e:
    needs: [api, web]
    image: alpine
    run: echo e2e
"""
    repo = make_repo(tmp_path / "repo", {"ci.yaml": text})
    commit(repo, {"packages/api/main.go": "package main\n"}, "api only")
    code, out, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 0, out + err
    assert statuses(repo) == {
        "knargo": "success",
        "knargo/api": "success",
        "knargo/web": "skipped",
        "knargo/e2e": "success",
    }


def test_fork_warnings_read_result_aware_conditions() -> None:
    assert len(fork_messages(job('"failure() || always()"'))) == 1
    assert fork_messages(job('"always() && !fork"')) == []


MATRIX_AFTER = """\
jobs:
  test:
    image: python:${{ matrix.python }}
    run: pytest
    matrix: {python: ["3.12", "3.13"]}
  notify:
    needs: test
    if: failure()
    image: alpine:3.20
    run: ./notify.sh
  passed:
    needs: test
    if: needs.test.result == 'success'
    image: alpine:3.20
    run: ./passed.sh
  cleanup:
    needs: test
    if: always()
    image: alpine:3.20
    run: make clean
"""


@pytest.mark.parametrize(
    "phases",
    [
        {"test-3-12": a, "test-3-13": b}
        for a, b in itertools.product(["Succeeded", "Failed", "Error", "Omitted"], repeat=2)
    ],
)
def test_results_of_a_matrix_job_are_read_over_every_combination(phases: dict[str, str]) -> None:
    tasks = planned_tasks(MATRIX_AFTER)
    assert "test" not in tasks, "the matrix job runs as its combinations only"
    for name in ("notify", "passed", "cleanup"):
        assert set(re.findall(r"[\w-]+(?=\.)", tasks[name]["depends"])) == set(phases)
    results = set(phases.values())
    failed = bool(results & {"Failed", "Error"})
    assert argo_depends(tasks["notify"]["depends"], phases) is failed
    assert argo_depends(tasks["passed"]["depends"], phases) is (results == {"Succeeded"})
    assert argo_depends(tasks["cleanup"]["depends"], phases) is True


TOLERATED = """\
jobs:
  build: {image: alpine, run: 'true'}
  lint: {image: alpine, run: 'exit 1', continue-on-error: true}
  test: {image: alpine, run: 'true', needs: [build, lint]}
  audit: {image: alpine, run: 'exit 1', needs: build, continue-on-error: true}
  notify: {image: alpine, run: 'true', needs: test, if: "failure()"}
"""


def test_a_dag_with_result_aware_jobs_uses_depends_for_every_task() -> None:
    manifest = rendered(TOLERATED)
    tasks = {t["name"]: t for t in manifest["spec"]["templates"][0]["dag"]["tasks"]}
    assert all("dependencies" not in t and "continueOn" not in t for t in tasks.values())
    assert tasks["test"]["depends"] == (
        "build.Succeeded && (lint.Succeeded || lint.Failed || lint.Errored)"
    )
    assert tasks["audit"]["depends"] == "build.Succeeded"
    annotations = {
        t["name"]: t.get("metadata", {}).get("annotations", {})
        for t in manifest["spec"]["templates"][1:]
    }
    may_fail = {n for n, a in annotations.items() if a.get("knargo.dev/continue-on-error")}
    assert may_fail == {"lint", "audit"}
    assert argo_validate.problems(manifest) == []


def test_a_dag_without_result_aware_jobs_keeps_dependencies_and_continue_on() -> None:
    manifest = rendered(TOLERATED.replace('if: "failure()"', "if: \"event == 'push'\""))
    tasks = {t["name"]: t for t in manifest["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["test"]["dependencies"] == ["build", "lint"]
    assert tasks["lint"]["continueOn"] == {"failed": True, "error": True}
    assert "knargo.dev/continue-on-error" not in json.dumps(manifest)


@pytest.mark.parametrize("results", [True, False], ids=["depends", "dependencies"])
def test_a_tolerated_failure_of_a_last_job_keeps_the_pipeline_passing(results: bool) -> None:
    """A failed `continue-on-error` job that ends a branch: with `depends` Argo fails the
    Workflow for it (no `continueOn` allowed), with `dependencies` its `continueOn` keeps
    the Workflow Succeeded; the pipeline passes either way."""
    text = TOLERATED if results else TOLERATED.replace('if: "failure()"', 'if: "!fork"')
    *_, final = run(rendered(text), {"lint": "Failed", "audit": "Failed"})
    assert final["status"]["phase"] == ("Failed" if results else "Succeeded")
    _, updates = from_workflow(final, "knargo", "https://argo.example")
    states = {u.context: u.state for u in updates}
    assert states["knargo"] is State.SUCCESS
    assert states["knargo/audit"] is State.FAILURE and states["knargo/lint"] is State.FAILURE


@pytest.mark.parametrize("results", [True, False], ids=["depends", "dependencies"])
def test_an_untolerated_failure_fails_the_pipeline_in_both_dag_forms(results: bool) -> None:
    text = TOLERATED if results else TOLERATED.replace('if: "failure()"', 'if: "!fork"')
    *_, final = run(rendered(text), {"lint": "Failed", "audit": "Failed", "build": "Failed"})
    _, updates = from_workflow(final, "knargo", "https://argo.example")
    assert updates[0].state is State.FAILURE
    *_, final = run(rendered(text), {"test": "Failed"})
    _, updates = from_workflow(final, "knargo", "https://argo.example")
    assert updates[0].state is State.FAILURE


def test_argos_controller_refuses_a_dag_mixing_depends_with_dependencies() -> None:
    """What knargo rendered before: the API server accepts it, the controller fails it."""
    manifest = rendered(TOLERATED)
    tasks = manifest["spec"]["templates"][0]["dag"]["tasks"]
    tasks[2] = {**tasks[2], "dependencies": ["build", "lint"]}
    del tasks[2]["depends"]
    tasks[1] = {**tasks[1], "continueOn": {"failed": True, "error": True}}
    found = argo_validate.problems(manifest)
    assert any("cannot use both 'depends' and 'dependencies'" in p for p in found)
    assert any("cannot use 'continueOn' when using 'depends'" in p for p in found)
    *_, final = run(manifest, {})
    assert final["status"]["phase"] == "Failed" and not final["status"]["nodes"]
    assert final["status"]["message"].startswith("invalid spec: templates.pipeline cannot")
    _, updates = from_workflow(final, "knargo", "https://argo.example")
    assert updates[0].state is State.FAILURE


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t[2].update(depends="nobody.Succeeded"), "dependency 'nobody' not defined"),
        (lambda t: t[0].update(depends="notify.Succeeded"), "dependency cycle detected"),
        (lambda t: t[0].update(name="9build"), "cannot begin with a digit"),
        (lambda t: t[0].update(name="build_x"), "'build_x' is invalid"),
        (lambda t: t[1].update(name="build"), "'build' is not unique"),
        (
            lambda t: t[2].update(
                arguments={"artifacts": [{"name": "a", "from": "{{tasks.gone.outputs.a}}"}]}
            ),
            "failed to resolve {{tasks.gone.",
        ),
    ],
)
def test_the_validator_finds_each_rule_of_argos_dag_validation(change: Any, problem: str) -> None:
    manifest = rendered(TOLERATED)
    change(manifest["spec"]["templates"][0]["dag"]["tasks"])
    assert any(problem in p for p in argo_validate.problems(manifest)), problem


def test_knargo_run_passes_a_pipeline_whose_last_job_may_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"ci.yaml": TOLERATED})
    code, out, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 0, out + err
    posted = statuses(repo)
    assert posted["knargo"] == "success"
    assert posted["knargo/audit"] == "failure" and posted["knargo/notify"] == "skipped"
    assert re.search(r"^pipeline repo-push-\w+-\w+: succeeded", out, re.M), out


def test_the_annotation_of_a_job_that_may_fail_is_one_name_everywhere() -> None:
    from knargo.functions import status
    from knargo.translation import templates

    assert templates.CONTINUE_ON_ERROR == status.CONTINUE_ON_ERROR == dag.CONTINUE_ON_ERROR


def test_a_job_needing_a_matrix_job_waits_for_every_combination_with_depends() -> None:
    manifest = rendered(
        TOLERATED.replace(
            "build: {image: alpine, run: 'true'}",
            "build: {image: alpine, run: 'true', matrix: {py: ['3.11', '3.12']}}",
        ).replace(
            "lint: {image: alpine, run: 'exit 1',",
            "lint: {image: alpine, run: 'exit 1', matrix: {os: [a, b]},",
        )
    )
    tasks = {t["name"]: t for t in manifest["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["test"]["depends"] == (
        "build-3-11.Succeeded && build-3-12.Succeeded"
        " && (lint-a.Succeeded || lint-a.Failed || lint-a.Errored)"
        " && (lint-b.Succeeded || lint-b.Failed || lint-b.Errored)"
    )
    may_fail = {
        t["name"]
        for t in manifest["spec"]["templates"][1:]
        if t["metadata"]["annotations"].get("knargo.dev/continue-on-error") == "true"
    }
    assert may_fail == {"lint-a", "lint-b", "audit"}
    assert argo_validate.problems(manifest) == []
    *_, final = run(manifest, {"lint-b": "Failed"})
    assert final["status"]["phase"] == "Succeeded"  # lint-b does not end a branch
    *_, final = run(manifest, {"lint-b": "Failed", "audit": "Failed"})
    _, updates = from_workflow(final, "knargo", "https://argo.example")
    assert updates[0].state is State.SUCCESS


GATED_AFTER_FAILURE = """\
jobs:
  build:
    image: alpine:3.20
    run: make
  deploy:
    image: alpine:3.20
    environment: production
    run: make deploy
  notify:
    needs: build
    if: failure()
    image: alpine:3.20
    run: ./notify.sh
"""


def test_a_gate_in_a_dag_of_depends_is_waited_for_with_depends() -> None:
    checked = check(GATED_AFTER_FAILURE)
    assert checked.config is not None
    result = plan(checked.config, GitEvent.model_validate(BASE_EVENT), SETTINGS)
    assert result.workflow is not None
    assert argo_validate.problems(result.workflow) == []
    tasks = {t["name"]: t for t in result.workflow["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["deploy"] == {
        "name": "deploy",
        "template": "deploy",
        "depends": "deploy-approval.Succeeded",
    }
