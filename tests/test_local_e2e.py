"""End to end on one machine: a signed delivery over HTTP to `knargo dev`'s endpoint →
webhook → broker → generate → local cluster → executor → workflow.updated → report →
commit statuses, with DESIGN §7's guarantees: statuses only move forward within a run, the
final statuses are right whatever the order of events, a redelivery runs nothing twice, an
invalid ci.yaml fails with its position, an event that cannot be processed is dead-lettered
and marked on its commit.
"""

from __future__ import annotations

import copy
import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from knargo.contract import events
from knargo.contract.events import Envelope
from knargo.local import payloads
from knargo.local.chain import Chain
from knargo.local.forge import LOCAL_FORGE, Posted
from knargo.local.server import DevServer, dev_credentials
from test_local_kit import SECRET, commit, final_statuses, make_repo, settings, start_chain

PIPELINE = """\
env:
  GREETING: hello
jobs:
  build:
    image: alpine
    run: echo "$GREETING" > built.txt && cat built.txt
  test:
    needs: build
    image: alpine
    run: test -f README.md
  lint:
    needs: build
    image: alpine
    secrets: [TOKEN]
    run: test "$TOKEN" = t0ken-value
  deploy:
    needs: [test, lint]
    image: alpine
    run: echo deployed
"""
RANK = {"queued": 0, "running": 1}


@dataclass
class Dev:
    repo: Path
    chain: Chain
    server: DevServer
    seen: list[Envelope]

    def deliver(
        self, event: str = "push", payload: dict[str, Any] | None = None, **options: Any
    ) -> tuple[int, dict[str, Any]]:
        if payload is None:
            described = payloads.describe(self.repo, LOCAL_FORGE.web_url)
            make = payloads.pull_request if event == "pull_request" else payloads.push
            payload = make(described, payloads.head(described))
        headers, body = payloads.delivery(
            event,
            payload,
            options.get("secret", SECRET),
            options.get("delivery", str(uuid.uuid4())),
        )
        return self.post(headers, body)

    def post(
        self, headers: dict[str, str], body: bytes, method: str = "POST"
    ) -> tuple[int, dict[str, Any]]:
        port = self.server.httpd.server_address[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(method, "/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def settle(self) -> list[Posted]:
        assert self.chain.settle(timeout=30)
        return self.chain.log.posted()


def open_dev(repo: Path) -> Dev:
    chain = start_chain(repo)
    seen: list[Envelope] = []
    chain.broker.taps.append(seen.append)
    config = settings()
    credentials = dev_credentials(config, SECRET, None)
    server = DevServer(chain, config, credentials, port=0, say=lambda _line: None)
    server.start()
    return Dev(repo, chain, server, seen)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    repo = make_repo(
        tmp_path / "repo",
        {"ci.yaml": PIPELINE, "README.md": "hi\n"},
        secrets="TOKEN=t0ken-value\n",
    )
    running = open_dev(repo)
    try:
        yield running
    finally:
        running.server.close()
        running.chain.stop()


def assert_forward_only(posts: list[Posted]) -> None:
    """Within one run a context never moves back: queued, running, final."""
    last: dict[tuple[str, str | None], int] = {}
    for post in posts:
        key = (post.context, (post.target_url or "").split("?", 1)[0])
        rank = RANK.get(post.state, 2)
        assert rank >= last.get(key, 0), f"{post.context} went back to {post.state}"
        assert not (rank == 2 and last.get(key) == 2), f"{post.context} posted twice as final"
        last[key] = rank


def test_a_signed_push_runs_through_the_whole_chain(dev: Dev) -> None:
    status, answer = dev.deliver(delivery="delivery-1")
    assert (status, answer) == (202, {"id": "delivery-1", "type": events.GIT_PUSH})
    posts = dev.settle()
    sha = payloads.head(payloads.describe(dev.repo, LOCAL_FORGE.web_url)).sha
    final = final_statuses(dev.chain, sha)
    assert sorted(final) == [
        "knargo",
        "knargo/build",
        "knargo/deploy",
        "knargo/lint",
        "knargo/test",
    ]
    assert all(state == "success" for state, _ in final.values()), final
    assert all(text.startswith("passed in ") for _, text in final.values())
    assert dev.chain.broker.dead_letters == [] and dev.chain.problems == []
    (workflow,) = dev.chain.cluster.workflows("ci")
    assert workflow["status"]["phase"] == "Succeeded"
    assert dev.chain.replies["delivery-1"].type == events.PIPELINE_SUBMITTED
    assert [e.type for e in dev.seen[:1]] == [events.GIT_PUSH]
    assert {e.type for e in dev.seen} == {
        events.GIT_PUSH,
        events.PIPELINE_SUBMITTED,
        events.WORKFLOW_UPDATED,
    }
    assert_forward_only(posts)
    pipeline_final = next(
        i for i, p in enumerate(posts) if p.context == "knargo" and p.state == "success"
    )
    assert {p.context for p in posts[:pipeline_final]} >= set(final) - {"knargo"}
    assert {p.forge_state for p in posts} <= {"pending", "success"}


def test_final_statuses_hold_whatever_the_order_of_events(dev: Dev) -> None:
    dev.deliver()
    before = dev.settle()
    replayed = [e for e in dev.seen if e.type != events.GIT_PUSH]
    for envelope in reversed(replayed):  # late, duplicated and out of order
        dev.chain.broker.publish(copy.deepcopy(envelope))
    after = dev.settle()
    assert after == before


def test_what_the_webhook_refuses_runs_nothing(dev: Dev) -> None:
    assert dev.deliver(secret=b"wrong")[0] == 401
    headers, body = payloads.delivery("ping", {"zen": "hi", "hook_id": 1}, SECRET, "p-1")
    assert dev.post(headers, body) == (200, {"pong": True})
    assert dev.post({}, b"", method="GET")[0] == 405
    assert dev.post({"Content-Type": "text/plain"}, b"x")[0] == 415
    dev.settle()
    assert dev.chain.replies == {} and dev.seen == []
    assert dev.chain.cluster.workflows("ci") == []


def test_a_failing_job_fails_the_pipeline_and_omits_its_dependents(dev: Dev) -> None:
    (dev.repo / "README.md").unlink()
    sha = commit(dev.repo, {}, "remove the readme the test needs")
    dev.deliver()
    posts = dev.settle()
    final = final_statuses(dev.chain, sha)
    assert final["knargo/test"] == ("failure", "Error (exit code 1)")
    assert final["knargo/deploy"] == ("skipped", "skipped: a job it needs did not pass")
    assert final["knargo/build"][0] == final["knargo/lint"][0] == "success"
    assert final["knargo"] == ("failure", "failed: job test failed")
    assert_forward_only(posts)


def test_a_redelivery_runs_nothing_twice(dev: Dev) -> None:
    described = payloads.describe(dev.repo, LOCAL_FORGE.web_url)
    headers, body = payloads.delivery(
        "push", payloads.push(described, payloads.head(described)), SECRET, "same-delivery"
    )
    assert dev.post(headers, body)[0] == 202
    first = dev.settle()
    assert dev.post(headers, body)[0] == 202
    assert dev.settle() == first  # nothing new to post
    assert len(dev.chain.cluster.workflows("ci")) == 1
    submitted = [e for e in dev.seen if e.type == events.PIPELINE_SUBMITTED]
    assert [e.data["created"] for e in submitted] == [True, False]
    assert submitted[0].id == submitted[1].id  # the same reply, so a duplicate of it too


def test_an_invalid_ci_yaml_fails_with_its_position(dev: Dev) -> None:
    broken = PIPELINE.replace(
        "    image: alpine\n    run: test -f", "    image: alpine\n    imagee: x\n    run: test -f"
    )
    sha = commit(dev.repo, {"ci.yaml": broken}, "typo")
    assert dev.deliver()[0] == 202
    dev.settle()
    final = final_statuses(dev.chain, sha)
    assert list(final) == ["knargo"]
    state, description = final["knargo"]
    assert state == "failure"
    assert description.startswith('ci.yaml:10:5: unknown key "imagee" in job "test"'), description
    assert dev.chain.cluster.workflows("ci") == []


def test_schedules_are_reconciled_on_pushes_to_the_default_branch(dev: Dev) -> None:
    scheduled = 'on:\n  push: {}\n  schedule:\n    - cron: "0 3 * * 1-5"\n' + PIPELINE
    sha = commit(dev.repo, {"ci.yaml": scheduled}, "nightly")
    dev.deliver()
    dev.settle()
    (cron,) = dev.chain.cluster.cron_workflows("ci", "app.kubernetes.io/managed-by=knargo").values()
    assert cron["spec"]["schedules"] == ["0 3 * * 1-5"]
    assert cron["metadata"]["annotations"]["knargo.dev/sha"] == sha
    folder = dev.repo / ".knargo" / "cluster" / "ci" / "cronworkflows"
    assert [p.name for p in folder.iterdir()] == [f"{cron['metadata']['name']}.json"]
    commit(dev.repo, {"ci.yaml": PIPELINE}, "no more nightly")
    dev.deliver()
    dev.settle()
    assert dev.chain.cluster.cron_workflows("ci", "") == {}


def test_an_event_that_cannot_be_processed_is_a_dead_letter_marked_on_its_commit(
    dev: Dev,
) -> None:
    described = payloads.describe(dev.repo, LOCAL_FORGE.web_url)
    payload = payloads.push(described, payloads.head(described))
    missing = "1234567" + "0" * 33
    payload["after"] = payload["head_commit"]["id"] = missing
    assert dev.deliver(payload=payload)[0] == 202
    dev.settle()
    (letter,) = dev.chain.broker.dead_letters
    assert (letter.function, letter.status, letter.attempts) == ("generate", 400, 1)
    assert f"commit {missing[:12]} is not in" in letter.reason
    assert final_statuses(dev.chain, missing) == {
        "knargo": (
            "error",
            "could not be processed: dev.knargo.git.push failed after retries (HTTP 400)",
        )
    }
