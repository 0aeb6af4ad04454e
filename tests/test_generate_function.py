"""The generate function end to end: a git CloudEvent in, the real `kubernetes` client talking
to the loopback API server fake, ci.yaml read from the loopback forge fake, a reply out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from forgefake import ForgeFake, running_forges
from knargo.config.settings import parse_settings
from knargo.contract import cloudevent, events
from knargo.contract.events import GitEvent
from knargo.functions import webhook
from knargo.language.lint import check
from knargo.translation.plan import plan
from kubefake import FakeKube, running_kube

ROOT = Path(__file__).resolve().parent.parent
SHA, BEFORE = "9f2c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807", "1" * 40
TOKENS = {"github": "gh-token", "gitlab": "gl-token", "gitea": "gt-token"}
CI = """\
on:
  push: {branches: [main, "feature/**"]}
  pull_request: {}
  schedule:
    - cron: "0 3 * * *"
jobs:
  build:
    image: python:3.12
    run: make
  test:
    needs: build
    image: python:3.12
    secrets: [NPM_TOKEN]
    run: make test
"""


class Env:
    """The running fakes and the function's test client."""

    def __init__(self, kube: FakeKube, forge: ForgeFake, client: Any, config: str) -> None:
        self.kube, self.forge, self.client, self.config = kube, forge, client, config

    def post(self, event: GitEvent, *, structured: bool = False) -> Any:
        envelope = webhook.to_cloudevent(event)
        if structured:
            body = json.dumps(
                {
                    "specversion": "1.0",
                    "type": envelope.type,
                    "id": envelope.id,
                    "source": envelope.source,
                    "subject": envelope.subject,
                    "datacontenttype": "application/json",
                    "data": envelope.data,
                }
            ).encode()
            headers = {"Content-Type": "application/cloudevents+json"}
            return self.client.post("/", data=body, headers=headers)
        message = cloudevent.encode(envelope)
        return self.client.post("/", data=message.body, headers=message.headers)

    def workflows(self) -> list[dict[str, Any]]:
        return self.kube.objects("workflows", "ci")

    def crons(self) -> list[dict[str, Any]]:
        return self.kube.objects("cronworkflows", "ci")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with running_kube() as kube, running_forges(TOKENS) as forge:
        hosts = {"github": "github.com", "gitlab": "gitlab.com", "gitea": "codeberg.org"}
        forges = [
            {"name": k, "kind": k, "api_url": forge.api_url(k), "web_url": f"https://{h}"}
            for k, h in hosts.items()
        ]
        config = json.dumps(
            {"namespace": "ci", "argo_ui_url": "https://argo.example.com", "forges": forges}
        )
        (tmp_path / "config.yaml").write_text(config)
        credentials = tmp_path / "credentials"
        credentials.mkdir()
        for name, token in TOKENS.items():
            (credentials / f"{name}.token").write_text(token + "\n")
        (tmp_path / "catalog.yaml").write_text("scopes:\n  github.com/acme: [NPM_TOKEN]\n")
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(tmp_path)))
        monkeypatch.setenv("KNARGO_CONFIG", str(tmp_path / "config.yaml"))
        monkeypatch.setenv("KNARGO_CREDENTIALS_DIR", str(credentials))
        monkeypatch.setenv("KNARGO_SECRET_CATALOG", str(tmp_path / "catalog.yaml"))
        yield Env(kube, forge, start(), config)
        stop()
        assert forge.violations == []


def start() -> Any:
    """A fresh generate function (it reads its environment when loaded)."""
    stop()
    return create_app("handle", str(ROOT / "functions" / "generate" / "main.py")).test_client()


def stop() -> None:
    """Close the clients of the function loaded last, if any."""
    import sys

    module = sys.modules.get("main")
    if module is not None and hasattr(module, "FORGES"):
        module.FORGES.close()
        module.CLUSTER.close()


def push(
    ref: str = "refs/heads/main", sha: str = SHA, delivery: str = "d-1", **fields: Any
) -> GitEvent:
    return GitEvent.model_validate(
        {
            "forge_kind": "github",
            "forge_name": "github",
            "repository": "acme/api",
            "repository_url": "https://github.com/acme/api",
            "clone_url": "https://github.com/acme/api.git",
            "default_branch": "main",
            "kind": "push",
            "ref": ref,
            "sha": sha,
            "before": BEFORE,
            "delivery_id": delivery,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        }
        | fields
    )


def pull_request(fork: bool = False, **fields: Any) -> GitEvent:
    return push(
        ref="refs/heads/topic",
        kind="pull_request",
        pr_number=7,
        base_ref="refs/heads/main",
        fork=fork,
        head_repository="someone/api" if fork else "acme/api",
        **fields,
    )


def reply(response: Any) -> cloudevent.Envelope:
    assert response.status_code == 200, response.get_data()
    return cloudevent.decode(dict(response.headers), response.get_data())


def expected_workflow(env: Env, event: GitEvent, text: str = CI) -> dict[str, Any]:
    from knargo.config.catalog import parse_catalog

    settings, _ = parse_settings(env.config, "config.yaml")
    catalog, _ = parse_catalog("scopes:\n  github.com/acme: [NPM_TOKEN]\n", "catalog.yaml")
    assert settings is not None
    config = check(text, "ci.yaml", settings=settings).config
    assert config is not None
    result = plan(config, event, settings, catalog)
    assert result.workflow is not None
    return dict(result.workflow)


def without_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if k not in {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"}
    }
    return {**obj, "metadata": meta}


def test_push_creates_the_golden_workflow_and_replies_submitted(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    answer = reply(env.post(push()))
    assert answer.type == events.PIPELINE_SUBMITTED
    assert answer.source == "https://github.com/acme/api" and answer.subject == "refs/heads/main"
    assert answer.traceparent == push().traceparent
    data = answer.data
    [workflow] = env.workflows()
    assert without_server_fields(workflow) == expected_workflow(env, push())
    assert data["workflow"] == workflow["metadata"]["name"] and data["created"] is True
    assert data["ui_url"] == f"https://argo.example.com/workflows/ci/{data['workflow']}"
    assert data["jobs"] == [
        {"id": "build", "task": "build", "needs": []},
        {"id": "test", "task": "test", "needs": ["build"]},
    ]
    assert [c["metadata"]["name"] for c in env.crons()] == data["schedules"]
    create = [r for r in env.kube.requests if r.method == "POST"]
    assert create[0].query.get("fieldManager") == "knargo"


def test_redeliveries_create_one_workflow_and_identical_replies(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    replies: list[Any] = []

    def deliver() -> None:
        response = env.post(push(ref="refs/heads/feature/x"))
        replies.append(
            (
                response.status_code,
                response.headers.get("ce-id"),
                json.loads(response.get_data())["workflow"],
            )
        )

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    deliver()
    assert len(env.workflows()) == 1
    assert len(replies) == 4 and len(set(replies)) == 1 and replies[0][0] == 200


def test_structured_mode_is_accepted(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    assert reply(env.post(push(ref="refs/heads/feature/y"), structured=True)).type == (
        events.PIPELINE_SUBMITTED
    )


def test_fork_pull_request_gets_no_secrets(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    answer = reply(env.post(pull_request(fork=True)))
    assert answer.type == events.PIPELINE_SUBMITTED
    assert "secretKeyRef" not in json.dumps(env.workflows())
    assert any("secrets withheld" in note for note in answer.data["notes"])
    assert env.crons() == []  # not the default branch


def test_secrets_resolve_in_the_organisation_scope(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    reply(env.post(pull_request()))
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for t in env.workflows()[0]["spec"]["templates"]
        for e in t.get("container", {}).get("env", [])
        if "valueFrom" in e
    ]
    assert refs and refs[0]["name"].startswith("knargo-acme-npm-token-")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "jobs:\n  a:\n    imagee: x\n    run: y\n",
            'ci.yaml:2:3: missing required key "image" in job "a" (+1 more)',
        ),
        ("jobs:\n  a: {image: x, run: y, runner: huge}\n", 'unknown runner "huge"'),
        ("jobs:\n  a: {image: x, run: y, secrets: [NOPE]}\n", 'unknown secret "NOPE"'),
        ("jobs: [\n", "ci.yaml:2:1: YAML syntax"),
    ],
)
def test_invalid_files_are_rejected_with_positions(env: Env, text: str, fragment: str) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", text.encode())
    answer = reply(env.post(push()))
    assert answer.type == events.PIPELINE_REJECTED
    assert fragment in answer.data["summary"]
    assert answer.data["diagnostics"][0]["file"] == "ci.yaml"
    assert env.workflows() == []


def test_a_file_over_1_mib_is_rejected(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", b"#" * (1024 * 1024 + 1))
    answer = reply(env.post(push()))
    assert (
        answer.type == events.PIPELINE_REJECTED
        and "larger than 1024 KiB" in (answer.data["summary"])
    )


def test_a_refused_token_is_rejected_without_the_token(env: Env, tmp_path: Path) -> None:
    (tmp_path / "credentials" / "github.token").write_text("wrong\n")
    env.client = start()
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    answer = reply(env.post(push()))
    assert answer.type == events.PIPELINE_REJECTED
    assert "github.token" in answer.data["summary"] and "wrong" not in answer.data["summary"]


def test_a_repository_the_token_cannot_see_is_rejected_and_keeps_its_schedules(
    env: Env,
) -> None:
    """GitHub answers 404, not 403, for a private repository the token cannot see: that is
    no "no ci.yaml", and must not delete the schedules of the repository."""
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    reply(env.post(push()))
    assert len(env.crons()) == 1
    env.forge.add_commit("github", "acme/api", "e" * 40)
    env.forge.add_repo("github", "acme/api", private=True, visible=False)
    answer = reply(env.post(push(sha="e" * 40, delivery="d-5")))
    assert answer.type == events.PIPELINE_REJECTED
    summary = answer.data["summary"]
    assert "acme/api" in summary and "github.token" in summary and "gh-token" not in summary
    assert len(env.crons()) == 1


def test_no_ci_yaml_is_skipped_silently(env: Env) -> None:
    env.forge.add_commit("github", "acme/api", SHA)
    answer = reply(env.post(push(ref="refs/heads/feature/z")))
    assert answer.type == events.PIPELINE_SKIPPED
    assert (answer.data["reason"], answer.data["report"]) == ("no ci.yaml", False)


def test_filtered_events_are_skipped_with_the_reason(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    answer = reply(env.post(push(ref="refs/heads/wip")))
    assert answer.type == events.PIPELINE_SKIPPED
    assert answer.data["reason"] == 'branch "wip" does not match on.push.branches'
    assert answer.data["report"] is True and env.workflows() == []


def test_path_filters_fetch_the_changed_files(env: Env) -> None:
    text = "on:\n  push:\n    paths: ['src/**']\njobs:\n  a: {image: alpine, run: x}\n"
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", text.encode())
    env.forge.add_commit("github", "acme/api", BEFORE)
    env.forge.set_compare("github", "acme/api", BEFORE, SHA, ["docs/readme.md"])
    answer = reply(env.post(push(ref="refs/heads/feature/p")))
    assert answer.type == events.PIPELINE_SKIPPED
    assert answer.data["reason"] == "no changed path matches on.push.paths"
    env.forge.set_compare("github", "acme/api", BEFORE, SHA, ["src/app.py"])
    assert reply(env.post(push(ref="refs/heads/feature/p", delivery="d-2"))).type == (
        events.PIPELINE_SUBMITTED
    )


def test_schedules_follow_the_default_branch(env: Env) -> None:
    two = CI.replace(
        '    - cron: "0 3 * * *"\n', '    - cron: "0 3 * * *"\n    - cron: "@weekly"\n'
    )
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", two.encode())
    reply(env.post(push()))
    first = {c["metadata"]["name"]: c for c in env.crons()}
    assert len(first) == 2
    assert {c["metadata"]["annotations"]["knargo.dev/sha"] for c in first.values()} == {SHA}
    changed = CI.replace("0 3 * * *", "0 4 * * *")  # one entry, a new time, a new commit
    env.forge.add_file("github", "acme/api", "c" * 40, "ci.yaml", changed.encode())
    reply(env.post(push(sha="c" * 40, delivery="d-2")))
    [cron] = env.crons()
    assert cron["metadata"]["name"] in first
    assert cron["spec"]["schedules"] == ["0 4 * * *"]
    assert cron["metadata"]["annotations"]["knargo.dev/sha"] == "c" * 40
    env.forge.add_file(
        "github",
        "acme/api",
        "d" * 40,
        "ci.yaml",
        CI.split("  schedule:")[0].encode() + CI.split('"0 3 * * *"\n')[1].encode(),
    )
    reply(env.post(push(sha="d" * 40, delivery="d-3")))
    assert env.crons() == []


A, B, C = "a" * 40, "b" * 40, "c" * 40
TWO_SCHEDULES = CI.replace('"0 3 * * *"\n', '"0 3 * * *"\n    - cron: "@weekly"\n')


def pinned(env: Env) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {
        c["metadata"]["name"]: (
            c["metadata"]["annotations"]["knargo.dev/sha"],
            tuple(c["spec"]["schedules"]),
        )
        for c in env.crons()
    }


@pytest.mark.parametrize("order", ["in order", "late", "redelivered", "duplicates"])
def test_a_late_push_never_moves_the_schedules_back(env: Env, order: str) -> None:
    """A ← B ← C on main: A declares two schedules, B one at another time, C is unrelated to
    ci.yaml. Whatever order the pushes arrive in, the schedules end as B's, pinned to C."""
    env.forge.add_file("github", "acme/api", A, "ci.yaml", TWO_SCHEDULES.encode())
    env.forge.add_commit("github", "acme/api", B, parents=[A])
    env.forge.add_file("github", "acme/api", B, "ci.yaml", CI.replace("0 3", "0 4").encode())
    env.forge.add_commit("github", "acme/api", C, parents=[B])
    env.forge.add_file("github", "acme/api", C, "ci.yaml", CI.replace("0 3", "0 4").encode())
    pushes = {
        "a": push(sha=A, delivery="d-a"),
        "b": push(sha=B, delivery="d-b", before=A),
        "c": push(sha=C, delivery="d-c", before=B),
    }
    sequence = {
        "in order": "abc",
        "late": "acb",  # B arrives after C
        "redelivered": "abcab",
        "duplicates": "aabccbca",
    }[order]
    answers = [reply(env.post(pushes[key])) for key in sequence]
    assert set(pinned(env).values()) == {(C, ("0 4 * * *",))}
    first_c = sequence.index("c")
    for index, (key, answer) in enumerate(zip(sequence, answers, strict=True)):
        assert answer.type == events.PIPELINE_SUBMITTED
        late = index > first_c and key != "c"
        assert (answer.data["schedules"] == []) == late
        notes = [n for n in answer.data["notes"] if "on.schedule" in n and C[:12] in n]
        assert bool(notes) == late


def test_a_late_push_without_ci_yaml_keeps_the_schedules(env: Env) -> None:
    env.forge.add_commit("github", "acme/api", A)  # no ci.yaml yet
    env.forge.add_commit("github", "acme/api", B, parents=[A])
    env.forge.add_file("github", "acme/api", B, "ci.yaml", CI.encode())
    reply(env.post(push(sha=B, delivery="d-b", before=A)))
    answer = reply(env.post(push(sha=A, delivery="d-a")))
    assert answer.type == events.PIPELINE_SKIPPED
    assert set(pinned(env).values()) == {(B, ("0 3 * * *",))}


def test_a_force_push_moves_the_schedules(env: Env) -> None:
    """After a force push the new head is no descendant of the pinned commit, but no ancestor
    either: the schedules follow it."""
    env.forge.add_file("github", "acme/api", A, "ci.yaml", CI.encode())
    env.forge.add_commit("github", "acme/api", B, parents=[A])
    env.forge.add_file("github", "acme/api", B, "ci.yaml", CI.encode())
    env.forge.add_commit("github", "acme/api", C, parents=[A])
    env.forge.add_file("github", "acme/api", C, "ci.yaml", CI.replace("0 3", "0 5").encode())
    reply(env.post(push(sha=B, delivery="d-b", before=A)))
    reply(env.post(push(sha=C, delivery="d-c", before=B)))
    assert set(pinned(env).values()) == {(C, ("0 5 * * *",))}


def test_deleting_ci_yaml_deletes_the_schedules(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    reply(env.post(push()))
    assert len(env.crons()) == 1
    env.forge.add_commit("github", "acme/api", "e" * 40)
    answer = reply(env.post(push(sha="e" * 40, delivery="d-4")))
    assert answer.type == events.PIPELINE_SKIPPED and env.crons() == []


def test_schedules_on_a_feature_branch_are_ignored_with_a_note(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    answer = reply(env.post(push(ref="refs/heads/feature/s")))
    assert env.crons() == []
    assert any("default branch" in note for note in answer.data["notes"])


def test_kubernetes_500_then_success(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    env.kube.fail_next(500, path_contains="/workflows")
    assert env.post(push(ref="refs/heads/feature/k")).status_code == 503
    assert env.workflows() == []
    assert reply(env.post(push(ref="refs/heads/feature/k"))).type == events.PIPELINE_SUBMITTED
    assert len(env.workflows()) == 1


def test_kubernetes_403_is_500_and_logged(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    env.kube.forbid("create", "workflows")
    response = env.post(push(ref="refs/heads/feature/f"))
    assert response.status_code == 500
    assert "cannot create" not in response.get_data(as_text=True)
    [line] = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert line["status"] == 500 and 'cannot create resource "workflows"' in line["reason"]


def test_forge_429_gives_429_with_retry_after(env: Env) -> None:
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    env.forge.fail_next(429, forge="github", headers={"Retry-After": "30"})
    response = env.post(push())
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"


def test_forge_5xx_gives_503(env: Env) -> None:
    env.forge.fail_next(502, forge="github")
    assert env.post(push()).status_code == 503


@pytest.mark.parametrize("body", [b"", b"{}", b"not json"])
def test_malformed_events_are_400(env: Env, body: bytes) -> None:
    response = env.client.post("/", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


def test_reply_types_never_match_its_own_trigger() -> None:
    replies = {events.PIPELINE_SUBMITTED, events.PIPELINE_REJECTED, events.PIPELINE_SKIPPED}
    assert replies.isdisjoint({events.GIT_PUSH, events.GIT_PULL_REQUEST})


@pytest.mark.parametrize(
    ("forge", "repository", "host"),
    [("gitlab", "acme/platform/api", "gitlab.com"), ("gitea", "acme/api", "codeberg.org")],
)
def test_other_forges(env: Env, forge: str, repository: str, host: str) -> None:
    env.forge.add_file(forge, repository, SHA, "ci.yaml", b"jobs:\n  a: {image: alpine, run: x}\n")
    event = push(
        forge_kind=forge,
        forge_name=forge,
        repository=repository,
        repository_url=f"https://{host}/{repository}",
        clone_url=f"https://{host}/{repository}.git",
        ref="refs/heads/feature/o",
    )
    assert reply(env.post(event)).type == events.PIPELINE_SUBMITTED


def test_job_paths_fetch_the_changed_files_and_leave_the_job_out(env: Env) -> None:
    text = (
        "jobs:\n"
        "  api: {image: alpine, run: x, paths: ['packages/api/**']}\n"
        "  web: {image: alpine, run: x, paths: ['packages/web/**']}\n"
        "  deploy: {image: alpine, run: x, needs: [api, web]}\n"
    )
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", text.encode())
    env.forge.add_commit("github", "acme/api", BEFORE)
    env.forge.set_compare("github", "acme/api", BEFORE, SHA, ["packages/api/main.py"])
    answer = reply(env.post(push(ref="refs/heads/feature/p")))
    assert answer.type == events.PIPELINE_SUBMITTED
    assert [j["id"] for j in answer.data["jobs"]] == ["api", "deploy"]
    [workflow] = env.workflows()
    tasks = workflow["spec"]["templates"][0]["dag"]["tasks"]
    assert [t.get("dependencies") for t in tasks] == [None, ["api"]]
    assert workflow["metadata"]["annotations"]["knargo.dev/skipped-jobs"] == '["web"]'
