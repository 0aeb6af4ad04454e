"""The report function end to end: events in, the real kubernetes client reading Workflows
from the API server fake, statuses posted to the forge fake (checked against the forges' API
descriptions), for a whole run on each forge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from argo_sim import run
from forgefake import ForgeFake, running_forges
from knargo.config.settings import Settings
from knargo.contract import cloudevent, events
from knargo.contract.events import Envelope, GitEvent
from knargo.language.lint import check
from knargo.translation.plan import plan
from kubefake import FakeKube, running_kube

ROOT = Path(__file__).resolve().parent.parent
SHA = "a" * 40
TOKENS = {"github": "gh-token", "gitlab": "gl-token", "gitea": "gt-token"}
HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "gitea": "codeberg.org"}
REPOS = {"github": "acme/api", "gitlab": "acme/platform/api", "gitea": "acme/api"}
CI = """\
jobs:
  build: {image: alpine, run: make}
  test: {image: alpine, run: make test, needs: build}
  lint: {image: alpine, run: make lint, needs: build}
  deploy: {image: alpine, run: make deploy, needs: [test, lint]}
"""


class Env:
    def __init__(self, kube: FakeKube, forge: ForgeFake, client: Any, settings: Settings) -> None:
        self.kube, self.forge, self.client, self.settings = kube, forge, client, settings

    def send(self, envelope: Envelope) -> Any:
        message = cloudevent.encode(envelope)
        return self.client.post("/", data=message.body, headers=message.headers)

    def posted(self, forge: str) -> list[tuple[str, str, str]]:
        return [
            (s.context, s.state, s.description)
            for s in self.forge.statuses(forge, REPOS[forge], SHA)
        ]


def stop() -> None:
    import sys

    module = sys.modules.get("main")
    if module is not None and hasattr(module, "FORGES"):
        module.FORGES.close()
        module.CLUSTER.close()


def started(
    kube: FakeKube,
    forge: ForgeFake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forges: list[dict[str, Any]],
    credentials: dict[str, bytes],
    **settings: Any,
) -> Iterator[Env]:
    """The report function with `forges` and other `settings` configured and `credentials`
    (file: value), its Kubernetes API at `kube`; the forge fake has no violations when it
    ends."""
    config = {"namespace": "ci", "argo_ui_url": "https://argo.example.com", "forges": forges}
    config |= settings
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    directory = tmp_path / "credentials"
    directory.mkdir()
    for name, value in credentials.items():
        (directory / name).write_bytes(value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(tmp_path)))
    monkeypatch.setenv("KNARGO_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("KNARGO_CREDENTIALS_DIR", str(directory))
    stop()
    app = create_app("handle", str(ROOT / "functions" / "report" / "main.py"))
    yield Env(kube, forge, app.test_client(), Settings.model_validate(config))
    stop()
    assert forge.violations == []


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with running_kube() as kube, running_forges(TOKENS) as forge:
        forges = [
            {"name": k, "kind": k, "api_url": forge.api_url(k), "web_url": f"https://{h}"}
            for k, h in HOSTS.items()
        ]
        for name, repo in REPOS.items():
            forge.add_commit(name, repo, SHA)
        tokens = {f"{name}.token": f"{token}\n".encode() for name, token in TOKENS.items()}
        yield from started(kube, forge, tmp_path, monkeypatch, forges, tokens)


def git_event(forge: str) -> GitEvent:
    url = f"https://{HOSTS[forge]}/{REPOS[forge]}"
    return GitEvent(
        forge_kind=forge,
        forge_name=forge,
        repository=REPOS[forge],
        repository_url=url,
        clone_url=url + ".git",
        default_branch="main",
        kind="push",
        ref="refs/heads/feature",
        sha=SHA,
        delivery_id="d-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


def manifest(env: Env, event: GitEvent, text: str = CI) -> dict[str, Any]:
    config = check(text).config
    assert config is not None
    result = plan(config, event, env.settings)
    assert result.workflow is not None
    return dict(result.workflow)


def submitted(env: Env, event: GitEvent, workflow: dict[str, Any]) -> Envelope:
    name = workflow["metadata"]["name"]
    jobs = [
        events.JobInfo(id=t["name"], task=t["name"])
        for t in workflow["spec"]["templates"][0]["dag"]["tasks"]
    ]
    data = events.PipelineSubmitted(
        event=event,
        namespace="ci",
        workflow=name,
        created=True,
        ui_url=f"https://argo.example.com/workflows/ci/{name}",
        jobs=jobs,
    )
    return Envelope(
        type=events.PIPELINE_SUBMITTED,
        source=event.repository_url,
        id="s-1",
        subject=event.ref,
        data=data.model_dump(mode="json"),
    )


def updated(snapshot: dict[str, Any]) -> Envelope:
    return Envelope(
        type=events.WORKFLOW_UPDATED,
        source="argo-events/argo/knargo-workflows",
        id=f"u-{snapshot['metadata']['resourceVersion']}",
        data=snapshot,
    )


def play(env: Env, forge: str, outcomes: dict[str, str]) -> None:
    event = git_event(forge)
    workflow = manifest(env, event)
    assert env.send(submitted(env, event, workflow)).status_code == 202
    for snapshot in run(workflow, outcomes):
        env.kube.put_object(snapshot, "workflows")
        assert env.send(updated(snapshot)).status_code == 202


RUNNING = {"github": "pending", "gitlab": "running", "gitea": "pending"}
FAILED = {"github": "failure", "gitlab": "failed", "gitea": "failure"}
SKIPPED = {"github": "success", "gitlab": "skipped", "gitea": "success"}


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_a_run_with_a_failing_job_posts_exactly_its_transitions(env: Env, forge: str) -> None:
    play(env, forge, {"test": "Failed"})
    posted = [(c, s) for c, s, _ in env.posted(forge)]
    running, failed = RUNNING[forge], FAILED[forge]
    assert posted == [
        ("knargo", "pending"),
        ("knargo/build", "pending"),
        ("knargo/test", "pending"),
        ("knargo/lint", "pending"),
        ("knargo/deploy", "pending"),
        ("knargo", running),
        ("knargo/build", running),
        ("knargo/build", "success"),
        ("knargo/test", running),
        ("knargo/test", failed),
        ("knargo/lint", running),
        ("knargo/lint", "success"),
        ("knargo/deploy", SKIPPED[forge]),
        ("knargo", failed),
    ]
    descriptions = {c: d for c, _, d in env.posted(forge)}
    assert descriptions["knargo/test"] == "Error (exit code 1)"
    assert descriptions["knargo"] == "failed: child failed"
    assert descriptions["knargo/build"].startswith("passed in ")


def test_redelivered_and_stale_events_post_nothing_more(env: Env) -> None:
    event = git_event("github")
    workflow = manifest(env, event)
    snapshots = list(run(workflow, {}))
    env.kube.put_object(snapshots[-1], "workflows")
    for snapshot in [snapshots[-1], *snapshots, snapshots[-1]]:
        env.send(updated(snapshot))
    env.send(submitted(env, event, workflow))  # a late reply of generate
    final = {c: s for c, s, _ in env.posted("github")}
    assert set(final.values()) == {"success"}
    assert len(env.posted("github")) == 5  # each context once, straight to its final state


def test_a_workflow_deleted_by_its_ttl_is_reported_from_the_event(env: Env) -> None:
    workflow = manifest(env, git_event("gitea"))
    final = list(run(workflow, {}))[-1]  # never stored: the cluster says 404
    assert env.send(updated(final)).status_code == 202
    assert {s for _, s, _ in env.posted("gitea")} == {"success"}


def test_rejected_with_a_long_multibyte_summary(env: Env) -> None:
    event = git_event("github")
    summary = 'ci.yaml:12:7: unknown key "ünïcødé" ' + "→" * 200
    data = events.PipelineRejected(event=event, summary=summary)
    env.send(
        Envelope(
            type=events.PIPELINE_REJECTED, source="s", id="r", data=data.model_dump(mode="json")
        )
    )
    [(context, state, description)] = env.posted("github")
    assert (context, state) == ("knargo", "failure")
    assert len(description) == 140 and description.endswith("…")


def test_skipped_posts_a_passing_status(env: Env) -> None:
    event = git_event("gitlab")
    data = events.PipelineSkipped(event=event, reason='branch "wip" does not match')
    env.send(
        Envelope(
            type=events.PIPELINE_SKIPPED, source="s", id="k", data=data.model_dump(mode="json")
        )
    )
    assert env.posted("gitlab") == [("knargo", "skipped", 'skipped: branch "wip" does not match')]


def test_scheduled_runs_report_on_the_pinned_commit_with_their_contexts(env: Env) -> None:
    workflow = manifest(env, git_event("github"))
    workflow["metadata"]["labels"]["knargo.dev/event"] = "schedule"
    final = list(run(workflow, {}))[-1]
    env.kube.put_object(final, "workflows")
    env.send(updated(final))
    assert {c for c, _, _ in env.posted("github")} == {
        "knargo (schedule)",
        *(f"knargo (schedule)/{j}" for j in ("build", "test", "lint", "deploy")),
    }


def test_forge_5xx_is_503_and_429_is_429(env: Env) -> None:
    event = git_event("github")
    data = events.PipelineSkipped(event=event, reason="x")
    envelope = Envelope(
        type=events.PIPELINE_SKIPPED, source="s", id="k", data=data.model_dump(mode="json")
    )
    env.forge.fail_next(502, forge="github")
    assert env.send(envelope).status_code == 503
    env.forge.github_secondary_rate_limit(retry_after=12)
    response = env.send(envelope)
    assert response.status_code == 429 and response.headers["Retry-After"] == "12"
    assert env.send(envelope).status_code == 202
    assert len(env.posted("github")) == 1


def test_gitlab_409_is_retried_once(env: Env) -> None:
    event = git_event("gitlab")
    data = events.PipelineSkipped(event=event, reason="x")
    env.forge.fail_next(409, forge="gitlab", path_contains="/statuses/")
    response = env.send(
        Envelope(
            type=events.PIPELINE_SKIPPED, source="s", id="k", data=data.model_dump(mode="json")
        )
    )
    assert response.status_code == 202
    assert len(env.posted("gitlab")) == 1


def test_a_refused_token_is_logged_and_acknowledged(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.forge.tokens["gitea"] = "rotated"
    data = events.PipelineSkipped(event=git_event("gitea"), reason="x")
    response = env.send(
        Envelope(
            type=events.PIPELINE_SKIPPED, source="s", id="k", data=data.model_dump(mode="json")
        )
    )
    assert response.status_code == 202
    line = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert line["message"] == "not reported" and "refused the token" in line["reason"]
    assert "gt-token" not in json.dumps(line)


@pytest.mark.parametrize("body", [b"", b"{}"])
def test_non_events_are_400(env: Env, body: bytes) -> None:
    assert (
        env.client.post("/", data=body, headers={"Content-Type": "application/json"}).status_code
        == 400
    )


def test_dead_letters_are_logged_counted_and_marked(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    from knargo.functions import webhook

    envelope = webhook.to_cloudevent(git_event("github"))
    envelope = Envelope(
        type=envelope.type,
        source=envelope.source,
        id=envelope.id,
        subject=envelope.subject,
        data=envelope.data,
        extensions={
            **envelope.extensions,
            "knativeerrorcode": "503",
            "knativeerrordest": "http://generate.knargo.svc",
        },
    )
    message = cloudevent.encode(envelope)
    response = env.client.post("/dead-letter", data=message.body, headers=message.headers)
    assert response.status_code == 202
    [(context, state, description)] = env.posted("github")
    assert (context, state) == ("knargo", "error")
    assert description == (
        "could not be processed: dev.knargo.git.push failed after retries (HTTP 503)"
    )
    line = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert line["message"] == "dead letter" and line["dead_letters"] >= 1
    assert line["data"]["sha"] == SHA and line["extensions"]["knativeerrorcode"] == "503"


def test_a_dead_letter_never_overrides_a_final_status(env: Env) -> None:
    play(env, "gitea", {})
    before = env.posted("gitea")
    workflow = manifest(env, git_event("gitea"))
    stale = next(run(workflow, {}))
    message = cloudevent.encode(updated(stale))
    assert (
        env.client.post("/dead-letter", data=message.body, headers=message.headers).status_code
        == 202
    )
    assert env.posted("gitea") == before


@pytest.mark.parametrize(
    ("fields", "ref"),
    [
        ({}, "feature"),
        ({"kind": "tag", "ref": "refs/tags/v1.2"}, "v1.2"),
        (
            {"kind": "pull_request", "pr_number": 7, "base_ref": "refs/heads/main"},
            "feature",
        ),
        (
            {
                "kind": "pull_request",
                "pr_number": 7,
                "base_ref": "refs/heads/main",
                "fork": True,
                "head_repository": "someone/api",
            },
            "refs/merge-requests/7/head",
        ),
    ],
)
def test_gitlab_statuses_name_their_ref(env: Env, fields: dict[str, Any], ref: str) -> None:
    """Without `ref` GitLab attaches a status to the first branch holding the commit, or
    answers 404 "References for commit" (a fork's commit, a tag on no branch)."""
    env.forge.add_commit("gitlab", REPOS["gitlab"], SHA, on_branch=False)
    event = GitEvent.model_validate(git_event("gitlab").model_dump() | fields)
    workflow = manifest(env, event)
    assert env.send(submitted(env, event, workflow)).status_code == 202
    posted = env.forge.statuses("gitlab", REPOS["gitlab"], SHA)
    assert len(posted) == 5 and {s.raw["ref"] for s in posted} == {ref}
    listed = [r for r in env.forge.requests if r.method == "GET" and "/statuses" in r.path]
    assert [r.query.get("ref") for r in listed] == [ref]
