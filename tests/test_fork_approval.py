"""`fork_pull_requests: approve`: a fork's pull request waits for a maintainer's `/ok-to-test`,
which runs the approved commit, and only that commit, with secrets.

generate runs end to end against the loopback forge (pull request heads, permissions,
comments) and the loopback Kubernetes API.
"""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from knargo.contract import cloudevent, events
from knargo.contract.events import CommentEvent, GitEvent
from knargo.functions import status, webhook
from test_generate_function import Env, env, pull_request, start  # noqa: F401

REVIEWED, PUSHED_LATER = "1" * 7 + "a" * 33, "2" * 7 + "b" * 33
CI = """\
jobs:
  test:
    image: alpine
    secrets: [NPM_TOKEN]
    run: make test
"""


@pytest.fixture
def approving(env: Env) -> Env:
    """The generate function with `fork_pull_requests: approve`, a fork's pull request 7 of
    acme/api, and a maintainer (write) and a passer-by (read)."""
    config = Path(os.environ["KNARGO_CONFIG"])
    config.write_text(
        json.dumps({**json.loads(config.read_text()), "fork_pull_requests": "approve"})
    )
    env.client = start()
    for sha in (REVIEWED, PUSHED_LATER):
        env.forge.add_file("github", "acme/api", sha, "ci.yaml", CI.encode())
    env.forge.set_pull("github", "acme/api", 7, REVIEWED, ref="topic", head_repo="someone/api")
    env.forge.set_permission("github", "acme/api", "maintainer", "maintain")
    env.forge.set_permission("github", "acme/api", "passer-by", "read")
    return env


def fork_event(sha: str, delivery: str) -> GitEvent:
    return pull_request(fork=True, sha=sha, delivery=delivery)


def comment(
    text: str, author: str = "maintainer", delivery: str = "c-1", **fields: Any
) -> CommentEvent:
    return CommentEvent(
        forge_kind="github",
        forge_name="github",
        repository="acme/api",
        repository_url="https://github.com/acme/api",
        clone_url="https://github.com/acme/api.git",
        default_branch="main",
        pr_number=7,
        comment_id=f"99-{delivery}",
        body=text,
        author=author,
        delivery_id=delivery,
        **fields,
    )


def send(env: Env, event: GitEvent | CommentEvent) -> cloudevent.Envelope | None:
    message = cloudevent.encode(webhook.to_cloudevent(event))
    response = env.client.post("/", data=message.body, headers=message.headers)
    assert response.status_code in (200, 202), response.get_data()
    return (
        cloudevent.decode(dict(response.headers), response.get_data())
        if response.status_code == 200
        else None
    )


def runs(env: Env) -> dict[str, dict[str, Any]]:
    return {w["metadata"]["annotations"]["knargo.dev/sha"]: w for w in env.workflows()}


def with_secrets(workflow: dict[str, Any]) -> bool:
    return "secretKeyRef" in json.dumps(workflow)


def last_reply(env: Env) -> str:
    return env.forge.comments("github", "acme/api", 7)[-1]


def test_a_fork_waits_with_a_pending_status_and_runs_nothing(approving: Env) -> None:
    reply = send(approving, fork_event(REVIEWED, "d-1"))
    assert reply is not None and reply.type == events.PIPELINE_SKIPPED
    assert reply.data["waiting"] is True and approving.workflows() == []
    skipped = events.PipelineSkipped.model_validate(reply.data)
    (update,) = status.from_skipped(skipped, "knargo")
    assert (update.state, update.description) == (
        status.State.QUEUED,
        "waiting for /ok-to-test by a maintainer",
    )


def test_ok_to_test_runs_the_approved_commit_with_secrets_and_a_later_push_waits(
    approving: Env,
) -> None:
    send(approving, fork_event(REVIEWED, "d-1"))
    approved = send(approving, comment("/ok-to-test"))
    assert approved is not None and approved.type == events.PIPELINE_SUBMITTED
    assert approved.data["event"]["sha"] == REVIEWED
    assert approved.data["event"]["approved_by"] == "maintainer"
    assert with_secrets(runs(approving)[REVIEWED])
    assert "approved 1111111, with secrets" in last_reply(approving)

    # The fork pushes a new commit after the approval: it waits again and gets no secret.
    approving.forge.set_pull(
        "github", "acme/api", 7, PUSHED_LATER, ref="topic", head_repo="someone/api"
    )
    later = send(approving, fork_event(PUSHED_LATER, "d-2"))
    assert later is not None and later.data["waiting"] is True
    assert PUSHED_LATER not in runs(approving)
    # A maintainer's /retest does not approve it either.
    send(approving, comment("/retest", delivery="c-2"))
    assert PUSHED_LATER not in runs(approving)
    assert "waiting for /ok-to-test" in last_reply(approving)
    # An approval pinned to the reviewed commit does not carry over to the new head.
    send(approving, comment("/ok-to-test 1111111", delivery="c-3"))
    assert PUSHED_LATER not in runs(approving)
    assert "the head is now 2222222, not 1111111" in last_reply(approving)
    # Approving the new head runs it.
    send(approving, comment("/ok-to-test 2222222b", delivery="c-4"))
    assert with_secrets(runs(approving)[PUSHED_LATER])
    assert all(with_secrets(w) for w in approving.workflows())


def test_gitlab_pins_the_approval_to_the_head_the_comment_saw(approving: Env) -> None:
    """GitLab's note payload names the merge request's head when the note was written; a
    push between the note and its handling runs nothing."""
    approving.forge.set_pull(
        "github", "acme/api", 7, PUSHED_LATER, ref="topic", head_repo="someone/api"
    )
    send(approving, comment("/ok-to-test", head_sha=REVIEWED))
    assert approving.workflows() == []
    assert "the head is now 2222222, not 1111111" in last_reply(approving)


@pytest.mark.parametrize("text", ["/ok-to-test", "/ok-to-test 1111111"])
def test_only_a_maintainer_can_approve(approving: Env, text: str) -> None:
    send(approving, comment(text, author="passer-by"))
    assert approving.workflows() == []
    assert last_reply(approving).startswith(f"@passer-by: `{text}` not run")


def test_an_approval_names_a_commit_by_enough_hex_digits(approving: Env) -> None:
    send(approving, comment("/ok-to-test 111"))
    assert approving.workflows() == []
    assert "7 to 40 hex digits" in last_reply(approving)


def test_ok_to_test_on_a_pull_request_of_the_repository_itself(approving: Env) -> None:
    approving.forge.set_pull("github", "acme/api", 7, REVIEWED, ref="topic")
    send(approving, comment("/ok-to-test"))
    assert approving.workflows() == []
    assert "not a pull request from a fork" in last_reply(approving)
