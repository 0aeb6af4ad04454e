"""`log_comments: true` without check runs: a failed job's log tail is posted once as a pull
request (merge request) comment on GitHub with a token, GitLab and Gitea, through the report
function, the Kubernetes API fake's pod log and the forge fake's comment operations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from argo_sim import run
from forgefake import running_forges
from knargo.contract.events import EventKind
from knargo.functions.logtail import pod_name
from kubefake import running_kube
from test_report_function import (
    HOSTS,
    REPOS,
    SHA,
    TOKENS,
    Env,
    git_event,
    manifest,
    started,
    submitted,
    updated,
)

ROOT = Path(__file__).resolve().parent.parent
NUMBER = 7


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with running_kube() as kube, running_forges(TOKENS) as forge:
        forges = [
            {"name": k, "kind": k, "api_url": forge.api_url(k), "web_url": f"https://{h}"}
            | {"log_comments": k != "gitea"}  # gitea: the default, no comments
            for k, h in HOSTS.items()
        ]
        for name, repo in REPOS.items():
            forge.set_pull(name, repo, NUMBER, SHA)
        tokens = {f"{name}.token": f"{token}\n".encode() for name, token in TOKENS.items()}
        yield from started(kube, forge, tmp_path, monkeypatch, forges, tokens)


def play(env: Env, forge: str, log: str) -> list[dict[str, Any]]:
    event = git_event(forge).model_copy(
        update={"kind": EventKind.PULL_REQUEST, "pr_number": NUMBER, "base_ref": "refs/heads/main"}
    )
    workflow = manifest(env, event)
    env.send(submitted(env, event, workflow))
    snapshots = list(run(workflow, {"test": "Failed"}))
    final = snapshots[-1]
    node = next(n for n in final["status"]["nodes"].values() if n.get("displayName") == "test")
    env.kube.put_pod_log("ci", pod_name(final["metadata"]["name"], node), {"main": log})
    for snapshot in [*snapshots, *snapshots]:  # every event delivered twice
        env.kube.put_object(snapshot, "workflows")
        env.send(updated(snapshot))
    return snapshots


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_failed_jobs_log_tail_is_commented_once(env: Env, forge: str) -> None:
    log = "".join(f"step {i}\n" for i in range(300)) + "FAILED: 3 tests\n"
    play(env, forge, log)
    [comment] = env.forge.comments(forge, REPOS[forge], NUMBER)
    assert comment.startswith("**knargo/test** failed: Error (exit code 1)")
    assert "step 101\n" in comment and "step 100\n" not in comment
    assert "FAILED: 3 tests\n```" in comment
    assert "[The run in Argo](https://argo.example.com/workflows/ci/" in comment
    statuses = [(s.context, s.state) for s in env.forge.statuses(forge, REPOS[forge], SHA)]
    assert len(statuses) == 14  # the statuses are as without comments


def test_without_log_comments_nothing_is_commented(env: Env) -> None:
    play(env, "gitea", "boom\n")
    assert env.forge.comments("gitea", REPOS["gitea"], NUMBER) == []
    assert not [r for r in env.kube.requests if r.path.endswith("/log")]
