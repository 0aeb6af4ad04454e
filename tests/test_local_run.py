"""`knargo run`, `knargo dev` and `make demo` as their users see them.

The commands are not registered in `knargo.cli` here: each test builds the parser from the
command's own `add_parser`, as `knargo.cli.build_parser` does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from knargo.cli import UsageError
from knargo.cli import dev as dev_command
from knargo.cli import run as run_command
from knargo.local import demo, payloads
from knargo.local.forge import LOCAL_FORGE
from knargo.local.secrets import load_secrets
from test_local_kit import commit, make_repo

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "t0ken-never-shown"
CI = """\
jobs:
  build:
    image: alpine
    run: echo "building $TOKEN"
    secrets: [TOKEN]
  test:
    needs: build
    image: alpine
    run: test -f app.txt
  docs:
    image: alpine
    run: echo docs
  deploy:
    needs: [test, docs]
    image: alpine
    run: echo deploying
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="knargo")
    commands = top.add_subparsers(dest="command", required=True)
    run_command.add_parser(commands)
    dev_command.add_parser(commands)
    return top


def knargo(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = parser().parse_args(list(argv))
    code = args.run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo", {"ci.yaml": CI, "app.txt": "app\n"}, secrets=f"TOKEN={TOKEN}\n"
    )


def statuses(repo: Path) -> dict[str, str]:
    lines = (repo / ".knargo" / "statuses.jsonl").read_text().splitlines()
    return {(p := json.loads(line))["context"]: p["state"] for line in lines}


def test_a_passing_pipeline_exits_0(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 0, out + err
    assert re.search(
        r"^pipeline repo-push-\w+-\w+: 4 jobs \(build, test, docs, deploy\)$", out, re.M
    )
    assert re.search(r"^  deploy +passed in \d+\.\d+s$", out, re.M)
    assert len(re.findall(r"^  deploy ", out, re.M)) == 2  # running, passed: no status line
    assert re.search(r"^pipeline repo-push-\w+-\w+: succeeded$", out, re.M)
    assert re.search(r"^logs: .*/\.knargo/runs/repo-push-\w+-\w+/<job>/log$", out, re.M)
    assert "  status knargo: success (passed in" in out
    assert set(statuses(repo).values()) == {"success"}
    assert TOKEN not in out + err
    assert err == ""


def test_a_failing_pipeline_exits_1_with_the_log(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "app.txt").unlink()
    commit(repo, {}, "lose the app")
    code, out, _ = knargo(capsys, "run", "-C", str(repo))
    assert code == 1
    assert re.search(r"^  test +failed in \d+\.\d+s: Error \(exit code 1\)$", out, re.M)
    assert re.search(r"^    log of test: .*/\.knargo/runs/repo-push-\w+-\w+/test/log$", out, re.M)
    assert "    | knargo: checked out" in out
    assert re.search(
        r"^pipeline repo-push-\w+-\w+: failed: failed test; omitted deploy$", out, re.M
    )
    assert "depends condition" not in out
    assert statuses(repo)["knargo/deploy"] == "skipped"
    assert statuses(repo)["knargo"] == "failure"


def test_a_rejected_pipeline_exits_1_with_its_diagnostics(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repo, {"ci.yaml": CI.replace("needs: [test, docs]", "needs: [test, nope]")}, "typo")
    code, out, _ = knargo(capsys, "run", "-C", str(repo))
    assert code == 1
    assert "pipeline rejected:" in out
    assert (
        '  ci.yaml:14:19: error: job "deploy" needs unknown job "nope" '
        "(jobs: build, deploy, docs, test) [needs]\n"
    ) in out
    assert '  status knargo: failure (ci.yaml:14:19: job "deploy" needs unknown job' in out


def test_a_pipeline_file_can_be_tried_before_it_is_committed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = repo / "trial.yaml"
    trial.write_text("jobs:\n  only:\n    image: alpine\n    run: test -f app.txt\n")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), str(trial))
    assert code == 0, out
    assert "1 job (only)" in out
    trial.write_text("jobs:\n  only:\n    imagee: alpine\n")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), str(trial))
    assert code == 1
    assert f"  {trial}:3:5: error: unknown key" in out


def test_one_job_runs_with_what_it_needs(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "test")
    assert code == 0, out
    assert "2 jobs (build, test)" in out
    assert sorted(statuses(repo)) == ["knargo", "knargo/build", "knargo/test"]
    with pytest.raises(UsageError) as usage:
        knargo(capsys, "run", "-C", str(repo), "--job", "tset")
    assert str(usage.value) == (
        '--job "tset": ci.yaml has no such job (jobs: build, deploy, docs, test) '
        '(did you mean "test"?)'
    )
    commit(repo, {"ci.yaml": CI.replace("  docs:\n", "  docs:\n    if: event == 'tag'\n")})
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "docs")
    assert code == 1
    assert 'job "docs" does not run for this event (jobs that run: build, test)' in out


def test_pull_requests_and_path_filters(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    filtered = "on:\n  pull_request:\n    paths: [src/**]\n" + CI
    commit(repo, {"ci.yaml": filtered}, "only pull requests of src")
    subprocess.run(["git", "-C", str(repo), "switch", "-q", "-c", "feature"], check=True)
    commit(repo, {"docs.md": "words\n"}, "docs only")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--event", "pull_request")
    assert code == 0
    assert "pipeline skipped: no changed path matches on.pull_request.paths" in out
    commit(repo, {"src/main.c": "int main;\n"}, "code")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--event", "pull_request")
    assert code == 0, out
    assert re.search(r"^pipeline repo-pr-\w+-\w+: succeeded$", out, re.M)
    code, out, _ = knargo(capsys, "run", "-C", str(repo))
    assert code == 0
    assert "pipeline skipped: pushes do not run this pipeline (on.push)" in out


def test_what_cannot_run_is_a_clear_error(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = knargo(capsys, "run", "-C", str(tmp_path))
    assert code == 1
    assert err.startswith("knargo run: error: not a git repository")
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    code, _, err = knargo(capsys, "run", "-C", str(tmp_path / "empty"))
    assert (code, err) == (
        1,
        f"knargo run: error: {(tmp_path / 'empty').resolve()} has no commit yet: commit ci.yaml "
        "first (knargo runs commits)\n",
    )
    with pytest.raises(UsageError, match=r"nope\.yaml: no such file"):
        knargo(capsys, "run", "-C", str(repo), "nope.yaml")
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon.' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    code, _, err = knargo(capsys, "run", "-C", str(repo), "--engine", "docker")
    assert (code, err) == (
        1,
        "knargo run: error: --engine docker: docker cannot run containers: "
        "Cannot connect to the Docker daemon.\n",
    )
    with pytest.raises(SystemExit) as usage:
        knargo(capsys, "run", "--event", "merge")
    assert usage.value.code == 2
    with pytest.raises(UsageError, match="--tag goes with --event tag"):
        knargo(capsys, "run", "--tag", "v1")
    monkeypatch.setenv("PATH", os.environ["PATH"].split(os.pathsep, 1)[1])
    (repo / ".knargo" / "secrets.env").write_text(f"TOKEN {TOKEN}\n")
    code, _, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 1
    assert err.endswith("secrets.env:1: expected NAME=value\n") and TOKEN not in err


def test_uncommitted_edits_of_the_pipeline_are_noted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "ci.yaml").write_text(CI + "  extra: {image: alpine, run: 'true'}\n")
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--job", "docs")
    assert code == 0, out + err
    assert err == (
        "knargo run: note: ci.yaml has uncommitted changes: the committed one runs "
        "(knargo run ci.yaml runs the file as it is now)\n"
    )


def test_a_secret_the_secrets_file_lacks_is_named_before_the_run(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repo, {"ci.yaml": CI.replace("secrets: [TOKEN]", "secrets: {API_KEY: NPM_TOKEN}")})
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--job", "build")
    assert code == 1
    assert err == (
        'knargo run: note: job "build" needs the secret NPM_TOKEN (as $API_KEY), which '
        f"{repo.resolve()}/.knargo/secrets.env does not have: the job will not start\n"
    )
    assert re.search(
        r"^  build +error in \d+\.\d+s: cannot start: no secret for \$API_KEY", out, re.M
    )


def test_a_tag_runs_the_tagged_commit(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    release = "on:\n  push:\n    tags: [v*]\njobs:\n  release:\n    if: event == 'tag'\n"
    release += (
        '    image: alpine\n    run: test "$KNARGO_REF" = refs/tags/v1.0 && test -f app.txt\n'
    )
    tagged = commit(repo, {"ci.yaml": release}, "release")
    subprocess.run(["git", "-C", str(repo), "tag", "v1.0"], check=True)
    commit(repo, {"app.txt": ""}, "later")
    subprocess.run(["git", "-C", str(repo), "rm", "-q", "app.txt"], check=True)
    commit(repo, {}, "no app")
    with pytest.raises(UsageError, match=r"name the tag to run with --tag \(tags at HEAD: none\)"):
        knargo(capsys, "run", "-C", str(repo), "--event", "tag")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--event", "tag", "--tag", "v1.0")
    assert code == 0, out
    assert f"knargo run: tag of refs/tags/v1.0 at {tagged[:12]}" in out
    assert re.search(r"^  release +passed in", out, re.M)


def test_a_schedule_runs_its_cron_workflow_now(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly = (
        "on:\n  push:\n  schedule:\n    - cron: '0 3 * * *'\n    - cron: '@weekly'\n"
        "jobs:\n  nightly:\n    if: event == 'schedule'\n    image: alpine\n"
        '    run: test "$KNARGO_EVENT" = schedule\n'
    )
    commit(repo, {"ci.yaml": nightly}, "nightly")
    code, _, err = knargo(capsys, "run", "-C", str(repo), "--event", "schedule")
    assert code == 1
    assert err == (
        "knargo run: choose one schedule with --schedule INDEX|NAME|CRON "
        "(on.schedule: 0: 0 3 * * *; 1: @weekly)\n"
    )
    code, out, _ = knargo(
        capsys, "run", "-C", str(repo), "--event", "schedule", "--schedule", "0 3 * * *"
    )
    assert code == 0, out
    assert re.search(r"^pipeline repo-cron0-\w+-\d+: 1 job \(nightly\)$", out, re.M)
    assert re.search(r"^  nightly +passed in", out, re.M)


def test_logs_all_prints_every_jobs_log(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "docs", "--logs", "all")
    assert code == 0
    assert re.search(
        r"^    log of docs: .*/docs/log\n    \| knargo: checked out \w+\n    \| docs$", out, re.M
    )


DEV = """\
import argparse, sys
from knargo.cli import dev
top = argparse.ArgumentParser(prog="knargo")
dev.add_parser(top.add_subparsers(dest="command"))
args = top.parse_args(["dev", *sys.argv[1:]])
sys.exit(args.run(args))
"""


def test_knargo_dev_serves_deliveries_until_ctrl_c(repo: Path) -> None:
    secret = uuid.uuid4().hex
    process = subprocess.Popen(
        [sys.executable, "-c", DEV, "--port", "0", "-C", str(repo)],
        env=os.environ | {"KNARGO_DEV_SECRET": secret, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[0].rsplit(" ", 1)[1].strip()
        assert lines[1].strip() == f"webhook secret: {secret}"
        described = payloads.describe(repo, LOCAL_FORGE.web_url)
        headers, body = payloads.delivery(
            "push", payloads.push(described, payloads.head(described)), secret.encode(), "d-1"
        )
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
        seen = ""
        deadline = time.monotonic() + 30
        while "status knargo: success" not in seen and time.monotonic() < deadline:
            seen += process.stdout.readline()
        assert "delivery d-1: 202 published push of refs/heads/main" in seen
        assert "status knargo: success" in seen
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "knargo dev: stopping" in out
    assert TOKEN not in seen + out + err


def test_the_demo_passes_in_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert demo.main(["--source", str(ROOT / "examples" / "demo")]) == 0
    out = capsys.readouterr().out
    assert time.monotonic() - started < 30
    assert "→ 202" in out
    assert "publishing with the token *** (23 characters)" in out
    assert re.search(r"^  knargo/publish +success +passed in \d+s$", out, re.M)
    assert "knargo demo passed in" in out
    assert load_secrets(ROOT / "examples" / "demo" / "secrets.env").values["DEMO_TOKEN"] not in out


DOC = (ROOT / "docs" / "local.md").read_text()


def test_the_documented_commands_exist() -> None:
    commands = re.findall(r"^\$ (knargo (?:run|dev)\b[^\n\[]*)$", DOC, re.M)
    assert len(commands) >= 5
    for command in commands:
        parser().parse_args(shlex.split(command)[1:])
    documented = set(re.findall(r"(--[a-z][a-z-]*)", DOC))
    flags = {
        flag
        for command in ("run", "dev")
        for word in parser().parse_args([command]).__dict__
        for flag in (f"--{word.replace('_', '-')}",)
    }
    assert documented - flags == {"--keep", "--data-binary"}  # the demo's and curl's


def test_the_documented_secrets_file_reads(tmp_path: Path) -> None:
    (block,) = re.findall(r"```sh\n# \.knargo/secrets\.env\n(.*?)```", DOC, re.S)
    (tmp_path / "secrets.env").write_text(block)
    assert dict(load_secrets(tmp_path / "secrets.env").values) == {
        "NPM_TOKEN": "npm_0123456789",
        "PYPI_TOKEN": "pypi-AgEIcHlwaS5vcmc",
    }
