"""A refused or expired approval: the job fails `not approved`, never skipped afterwards, and
the pipeline names the job, not its gate task, on the forge and on the terminal alike."""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from knargo.functions import status
from test_approval_gates import contexts, node, running, submit
from test_generate_function import Env, env  # noqa: F401
from test_local_kit import make_repo
from test_local_run import knargo

CI = """\
jobs:
  build: {image: alpine, run: 'true'}
  deploy: {image: alpine, run: 'true', needs: build, environment: production}
"""


def test_a_job_whose_gate_failed_stays_failed_once_argo_omits_it(env: Env) -> None:
    workflow = submit(env)
    ended = running(
        env,
        workflow,
        node(workflow, "build", "Pod", "Succeeded"),
        node(workflow, "staging-approval", "Suspend", "Failed", message="not approved"),
        node(
            workflow, "staging", "Skipped", "Omitted", message="omitted: depends condition not met"
        ),
    )
    ended["status"] |= {"phase": "Failed", "message": "child 'staging-approval' failed"}
    shown = contexts(ended)
    assert shown["knargo/staging"][0] is status.State.FAILURE
    assert shown["knargo/staging"][1].startswith("not approved")
    assert shown["knargo"] == (
        status.State.FAILURE,
        f"failed: job staging {shown['knargo/staging'][1]}",
    )


def test_a_failed_job_is_named_by_its_shown_name_in_the_pipeline_status(env: Env) -> None:
    workflow = submit(env)
    ended = running(env, workflow, node(workflow, "build", "Pod", "Failed", message="exit 1"))
    ended["status"] |= {"phase": "Failed", "message": "child 'build' failed"}
    assert contexts(ended)["knargo"] == (status.State.FAILURE, "failed: job build failed")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"ci.yaml": CI})


def test_knargo_run_refused_approval_fails_the_job_and_the_pipeline(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--plain")
    assert code == 1, out + err
    line = r"^  deploy +failed( in [\d.]+s)?: not approved \(production\)$"
    assert re.search(line, out, re.M), out
    assert "omitted" not in out
    assert "deploy-approval" not in out
    assert "log of deploy" not in out  # it never ran: no log to show
    lines = (repo / ".knargo" / "statuses.jsonl").read_text().splitlines()
    final = {(p := json.loads(line))["context"]: (p["state"], p["description"]) for line in lines}
    assert final["knargo/deploy"] == ("failure", "not approved (production)")
    assert final["knargo"] == ("failure", "failed: job deploy not approved (production)")
    assert "status knargo: failure (failed: job deploy not approved (production))" in out
    assert re.search(r"^pipeline repo-push-\w+-\w+: failed: failed deploy$", out, re.M), out


def test_a_failure_job_after_an_all_green_run_says_its_if_did_not_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ci = CI.replace("environment: production", "if: failure()") + (
        "  after:\n    image: alpine\n    run: 'true'\n    needs: deploy\n"
    )
    repo = make_repo(tmp_path / "repo", {"ci.yaml": ci})
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--plain")
    assert code == 0, out + err
    assert re.search(r"^  deploy +omitted: its if: did not hold$", out, re.M), out
    assert re.search(r"^  after +omitted: a job it needs did not pass$", out, re.M), out
    lines = (repo / ".knargo" / "statuses.jsonl").read_text().splitlines()
    final = {(p := json.loads(line))["context"]: p["description"] for line in lines}
    assert final["knargo/deploy"] == "skipped: its if: did not hold"
    assert final["knargo/after"] == "skipped: a job it needs did not pass"
