"""Check runs of a GitHub App through the report function end to end: events in, the real
kubernetes client reading Workflows from the API server fake, check runs created and updated
on the forge fake (checked against GitHub's API description, with installation tokens the
fake made for a JWT it verified)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from argo_sim import run
from forgefake import running_forges
from knargo.contract import events
from knargo.contract.events import Envelope, GitEvent
from knargo.functions.logtail import pod_name
from knargo.language.lint import check
from knargo.translation.plan import plan
from knargo.translation.templates import with_defaults
from kubefake import running_kube
from test_github_app import APP_ID, PRIVATE, PUBLIC
from test_report_function import CI, Env, started, submitted, updated

ROOT = Path(__file__).resolve().parent.parent
SHA = "d" * 40
REPO = "acme/api"


class ArgoServer:
    """Argo Server's artifact API on loopback: the archived `main-logs` of nodes."""

    def __init__(self) -> None:
        self.logs: dict[str, bytes] = {}  # path below /artifact-files: log
        self.paths: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.paths.append((self.path, self.headers.get("authorization")))
                body = fake.logs.get(self.path.removeprefix("/artifact-files/"))
                ok = body is not None and self.headers.get("authorization") == "Bearer argo-t"
                self.send_response(200 if ok else 404)
                self.send_header("content-length", str(len(body) if ok and body else 0))
                self.end_headers()
                self.wfile.write(body if ok and body else b"")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def argo() -> Iterator[ArgoServer]:
    server = ArgoServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argo: ArgoServer) -> Iterator[Env]:
    with running_kube() as kube, running_forges() as forge:
        forge.enable_app(APP_ID, PUBLIC)
        forge.install(REPO, 77)
        forge.add_commit("github", REPO, SHA)
        github = {"name": "github", "kind": "github", "api_url": forge.api_url("github")}
        github |= {"web_url": "https://github.com", "app_id": APP_ID}
        credentials = {"github.app-key": PRIVATE, "argo.token": b"argo-t\n"}
        yield from started(
            kube, forge, tmp_path, monkeypatch, [github], credentials, argo_server_url=argo.url
        )


def sequence(env: Env) -> list[tuple[str, str]]:
    return [(s.context, s.state) for s in env.forge.statuses("github", REPO, SHA)]


def git_event() -> GitEvent:
    url = f"https://github.com/{REPO}"
    return GitEvent(
        forge_kind="github",
        forge_name="github",
        repository=REPO,
        repository_url=url,
        clone_url=url + ".git",
        default_branch="main",
        kind="push",
        ref="refs/heads/feature",
        sha=SHA,
        delivery_id="d-1",
        installation_id=77,
    )


def manifest(env: Env, event: GitEvent) -> dict[str, Any]:
    config = check(CI).config
    assert config is not None
    result = plan(config, event, env.settings)
    assert result.workflow is not None
    return dict(result.workflow)


def test_a_four_job_run_with_a_failure_creates_and_completes_its_check_runs(env: Env) -> None:
    event = git_event()
    workflow = manifest(env, event)
    assert env.send(submitted(env, event, workflow)).status_code == 202
    snapshots = list(run(workflow, {"test": "Failed"}))
    for snapshot in snapshots:
        env.kube.put_object(snapshot, "workflows")
        assert env.send(updated(snapshot)).status_code == 202
    assert sequence(env) == [
        ("knargo", "queued"),
        ("knargo/build", "queued"),
        ("knargo/test", "queued"),
        ("knargo/lint", "queued"),
        ("knargo/deploy", "queued"),
        ("knargo", "in_progress"),
        ("knargo/build", "in_progress"),
        ("knargo/build", "success"),
        ("knargo/test", "in_progress"),
        ("knargo/test", "failure"),
        ("knargo/lint", "in_progress"),
        ("knargo/lint", "success"),
        ("knargo/deploy", "skipped"),
        ("knargo", "failure"),
    ]
    runs = env.forge.check_runs(REPO, SHA)
    assert [r["name"] for r in runs] == ["knargo", *(f"knargo/{j}" for j in CI_JOBS)]
    by_name = {r["name"]: r for r in runs}
    assert by_name["knargo/test"]["output"]["title"] == "Error (exit code 1)"
    assert by_name["knargo"]["details_url"].startswith("https://argo.example.com/workflows/ci/")
    creates = [r for r in env.forge.requests if r.method == "POST" and "check-runs" in r.path]
    assert len(creates) == 5  # one per check run, every later change is an update
    # Redelivered and stale events change nothing more.
    before = len(sequence(env))
    for snapshot in [snapshots[-1], snapshots[0], snapshots[-1]]:
        env.send(updated(snapshot))
    env.send(submitted(env, event, workflow))
    assert len(sequence(env)) == before
    assert all("ghs_" not in r.path for r in env.forge.requests)


CI_JOBS = ("build", "test", "lint", "deploy")


def test_a_deadline_completes_the_check_run_as_timed_out(env: Env) -> None:
    from knargo.forges.github import CHECKS

    request = CHECKS.create_status(
        env.settings.forges[0],
        "t",
        git_event(),
        SHA,
        "failure",
        "knargo/test",
        "Step exceeded its deadline",
        None,
    )
    assert request.json["status"] == "completed"
    assert request.json["conclusion"] == "timed_out"
    # read back as a failure, so the same update is no transition
    body = {"check_runs": [{"id": 1, "name": "knargo/test", "status": "completed"}]}
    body["check_runs"][0] |= {"conclusion": "timed_out", "output": {"title": "x"}}
    assert CHECKS.current(body) == [("knargo/test", "failure", "x", None)]


def rejected(event: GitEvent, text: str) -> Envelope:
    checked = check(text, ".ci/ci.yaml")
    assert checked.config is None
    data = events.PipelineRejected(
        event=event,
        summary=str(checked.diagnostics[0]),
        diagnostics=[events.DiagnosticInfo(**d.to_dict()) for d in checked.diagnostics],
    )
    return Envelope(
        type=events.PIPELINE_REJECTED,
        source=event.repository_url,
        id="r-1",
        data=data.model_dump(mode="json"),
    )


BROKEN = """\
jobs:
  build:
    image: alpine
    imagee: alpine
    run: make
  test: {image: alpine, run: make test, needs: buidl}
"""


def test_a_rejected_file_is_annotated_at_each_diagnostics_line_and_column(env: Env) -> None:
    assert env.send(rejected(git_event(), BROKEN)).status_code == 202
    [pipeline] = env.forge.check_runs(REPO, SHA)
    assert (pipeline["name"], pipeline["status"], pipeline["conclusion"]) == (
        "knargo",
        "completed",
        "failure",
    )
    notes = sorted(
        (a["path"], a["start_line"], a["start_column"], a["annotation_level"], a["message"][:22])
        for a in pipeline["annotations"]
    )
    assert notes == [
        (".ci/ci.yaml", 4, 5, "failure", 'unknown key "imagee" i'),
        (".ci/ci.yaml", 6, 48, "failure", 'job "test" needs unkno'),  # at buidl
    ]
    assert all(a["end_line"] == a["start_line"] for a in pipeline["annotations"])
    assert "`.ci/ci.yaml:4:5`" in pipeline["output"]["text"]
    env.send(rejected(git_event(), BROKEN))  # redelivered: nothing more
    assert len(env.forge.check_runs(REPO, SHA)[0]["annotations"]) == 2


def test_more_annotations_than_one_request_takes_follow_in_updates(env: Env) -> None:
    text = "jobs:\n" + "".join(f"  j{i}: {{image: a, run: x, imagee: y}}\n" for i in range(120))
    assert env.send(rejected(git_event(), text)).status_code == 202
    [pipeline] = env.forge.check_runs(REPO, SHA)
    assert sorted(a["start_line"] for a in pipeline["annotations"]) == list(range(2, 122))
    sent = [r for r in env.forge.requests if "check-runs" in r.path and r.method != "GET"]
    assert [r.method for r in sent] == ["POST", "PATCH", "PATCH"]
    assert [len(r.body["output"]["annotations"]) for r in sent] == [50, 50, 20]


def _failed_run(
    env: Env,
    ci: str,
    log: str | Callable[[dict[str, Any]], str] | None,
    archived: tuple[ArgoServer, bytes] | None = None,
) -> dict[str, Any]:
    """A run whose job `test` fails, its pod's log `log` (None: the pod is gone; a function:
    what it makes of the Workflow), its log `archived` by Argo or not; the final check run of
    `knargo/test`."""
    event = git_event()
    config = check(ci).config
    assert config is not None
    result = plan(config, event, env.settings)
    assert result.workflow is not None
    workflow = dict(result.workflow)
    env.send(submitted(env, event, workflow))
    snapshots = list(run(workflow, {"test": "Failed"}))
    final = snapshots[-1]
    node = next(n for n in final["status"]["nodes"].values() if n.get("displayName") == "test")
    pod = pod_name(final["metadata"]["name"], node)
    if callable(log):
        log = log(workflow)
    if log is not None:
        env.kube.put_pod_log("ci", pod, {"init": "", "main": log, "wait": ""})
    if archived is not None:
        server, text = archived
        name = final["metadata"]["name"]
        server.logs[f"ci/workflows/{name}/{node['id']}/outputs/main-logs"] = text
        for snapshot in snapshots:
            for found in snapshot["status"]["nodes"].values():
                if found["id"] == node["id"] and found.get("phase") == "Failed":
                    artifact = {"name": "main-logs", "s3": {"key": f"{pod}/main.log"}}
                    found["outputs"] = {"artifacts": [artifact]}
    for snapshot in snapshots:
        env.kube.put_object(snapshot, "workflows")
        env.send(updated(snapshot))
    return next(r for r in env.forge.check_runs(REPO, SHA) if r["name"] == "knargo/test")


def test_a_failed_jobs_check_run_shows_the_tail_of_its_pod_log(env: Env) -> None:
    log = "".join(f"step {i}\n" for i in range(400)) + "make: *** [test] Error 1\n"
    test = _failed_run(env, CI, log)
    text = test["output"]["text"]
    assert "step 201\n" in text and "step 200\n" not in text  # the last 200 lines
    assert text.endswith("make: *** [test] Error 1\n```")
    [read] = [r for r in env.kube.requests if r.path.endswith("/log")]
    assert read.query == {"container": "main", "tailLines": "200", "limitBytes": "245760"}
    build = next(r for r in env.forge.check_runs(REPO, SHA) if r["name"] == "knargo/build")
    assert "text" not in build["output"]  # only failed jobs read their log


def test_a_failed_job_that_read_a_secret_shows_its_log_masked_by_its_command(
    env: Env, tmp_path: Path
) -> None:
    """The pod log is what the job's own command wrote: it runs here under `sh` with the
    secret in its environment, as Kubernetes gives it."""
    value = "npm_Q3fT9xLkP0a"
    script = """\
echo "npm token: $NPM_TOKEN"
printf 'publishing with %s' "$(printf '%s' "$NPM_TOKEN" | cut -c1-6)"
printf '%s\\n' "$(printf '%s' "$NPM_TOKEN" | cut -c7-)"
echo "npm ERR! 401 for $NPM_TOKEN" >&2
exit 1
"""

    def pod_log(workflow: dict[str, Any]) -> str:
        spec = workflow["spec"]
        template = next(t for t in spec["templates"] if t["name"] == "test")
        container = with_defaults(spec["templateDefaults"], template)["container"]
        home, workspace = tmp_path / "knargo", tmp_path / "workspace"
        home.mkdir()
        workspace.mkdir()
        (home / "script").write_text(script)
        values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        values |= {"PATH": os.environ["PATH"], "KNARGO_HOME": str(home), "NPM_TOKEN": value}
        ran = subprocess.run(
            container["command"], env=values, cwd=workspace, capture_output=True, timeout=30
        )
        assert ran.returncode == 1
        return (ran.stdout + ran.stderr).decode()

    ci = CI.replace("run: make test,", "run: make test, secrets: [NPM_TOKEN],")
    test = _failed_run(env, ci, pod_log)
    text = test["output"]["text"]
    assert value not in text and value[:6] not in text
    assert "npm token: ***\npublishing with ***\nnpm ERR! 401 for ***\n```" in text
    assert [r for r in env.kube.requests if r.path.endswith("/log")]


def test_a_gone_pod_leaves_a_note_instead_of_its_log(env: Env) -> None:
    test = _failed_run(env, CI, None)
    assert test["conclusion"] == "failure"
    assert "gone with its pod" in test["output"]["text"]


def test_a_gone_pods_archived_log_is_read_from_argo_server(env: Env, argo: ArgoServer) -> None:
    log = "".join(f"step {i}\n" for i in range(300)).encode()
    test = _failed_run(env, CI, None, archived=(argo, log))
    text = test["output"]["text"]
    assert "step 299\n" in text and "step 100\n" in text and "step 99\n" not in text
    [(path, auth)] = argo.paths
    assert path.endswith("/outputs/main-logs") and auth == "Bearer argo-t"


def test_an_archived_log_is_read_only_where_argo_archived_it(env: Env, argo: ArgoServer) -> None:
    test = _failed_run(env, CI, None)
    assert "gone with its pod" in test["output"]["text"]
    assert argo.paths == []
