"""The "Re-run" buttons of GitHub's check runs (`check_run.rerequested`,
`check_suite.rerequested`) go the way of `/retest`: the webhook normalises the delivery into
the `/retest <job>` or `/retest` comment event of its requester, and generate authorizes,
runs and acknowledges it as it does a comment.

The payloads are the captured pull request comment's repository and sender with a check run
or check suite object of the shape GitHub documents for these events ("Webhook events and
payloads": check_run, check_suite; the fixtures have no captured one)."""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import copy
from typing import Any

import pytest

from knargo.config.settings import Forge
from knargo.contract import events
from knargo.contract.events import CommentEvent, ForgeKind
from knargo.forges import Headers, Ignored, github
from test_comment_commands import CASES, CI, HEAD, WRITE, prepare, reply_of, send, tasks
from test_generate_function import Env, env  # noqa: F401  (the generate fixture)

CASE = CASES[0]
APP_ID = 4242
FORGE = Forge(name="github", kind=ForgeKind.GITHUB, api_url="x", web_url="x", app_id=APP_ID)


def payload(event: str, name: str = "knargo/build", pulls: bool = True) -> dict[str, Any]:
    comment = CASE.payload("")
    pull = {"url": "x", "id": 1, "number": CASE.number}
    pull |= {"head": {"ref": "feature", "sha": HEAD, "repo": {"id": 1, "url": "x", "name": "r"}}}
    pull |= {"base": {"ref": "main", "sha": "0" * 40, "repo": {"id": 1, "url": "x", "name": "r"}}}
    checks: dict[str, Any] = {"id": 4000 + len(name), "head_sha": HEAD, "status": "completed"}
    checks |= {"conclusion": "failure", "app": {"id": APP_ID, "slug": "knargo"}}
    checks |= {"pull_requests": [pull] if pulls else []}
    if event == "check_run":
        checks |= {"name": name, "check_suite": {"id": 77, "head_sha": HEAD}}
    body = {"action": "rerequested", event: checks, "installation": {"id": 9}}
    return copy.deepcopy(body | {"repository": comment["repository"], "sender": comment["sender"]})


def parse(event: str, data: dict[str, Any], delivery: str = "delivery-1") -> Any:
    return github.WEBHOOKS.parse(Headers({"X-GitHub-Event": event}), data, FORGE, delivery)


def test_a_check_runs_rerun_is_the_retest_of_its_job_by_the_requester() -> None:
    parsed = parse("check_run", payload("check_run"))
    assert isinstance(parsed, CommentEvent)
    assert (parsed.body, parsed.author, parsed.pr_number) == ("/retest build", CASE.author, 3)
    assert parsed.installation_id == 9 and parsed.head_sha == HEAD
    pipeline = parse("check_run", payload("check_run", name="knargo"))
    suite = parse("check_suite", payload("check_suite"))
    assert isinstance(pipeline, CommentEvent) and isinstance(suite, CommentEvent)
    assert pipeline.body == suite.body == "/retest"
    again = parse("check_run", payload("check_run"), "delivery-2")  # another click
    assert isinstance(again, CommentEvent) and again.comment_id != parsed.comment_id


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"action": "completed"}, 'action "completed"'),
        ({"pulls": False}, "outside a pull request"),
        ({"app": 1}, "another App"),
    ],
)
def test_other_check_run_deliveries_run_nothing(change: dict[str, Any], why: str) -> None:
    data = payload("check_run", pulls=change.get("pulls", True))
    if "action" in change:
        data["action"] = change["action"]
    if "app" in change:
        data["check_run"]["app"]["id"] = change["app"]
    parsed = parse("check_run", data)
    assert isinstance(parsed, Ignored) and why in parsed.reason


def test_rerun_from_check_run_rerequested_runs_the_job_and_what_needs_it(env: Env) -> None:
    prepare(env, CASE, WRITE["github"], ci=CI)
    first = parse("check_run", payload("check_run"))
    reply = reply_of(send(env, first))
    assert reply is not None and reply.type == events.PIPELINE_SUBMITTED
    assert [job["id"] for job in reply.data["jobs"]] == ["build", "test"]
    assert reply.data["event"]["sender"] == CASE.author
    (workflow,) = env.workflows()
    assert tasks(workflow) == ["build", "test"]
    assert send(env, first).status_code == 202  # redelivered: answered already, no new run
    assert len(env.workflows()) == 1
    [answer] = env.forge.comments("github", CASE.repo, CASE.number)
    assert answer.startswith(f"@{CASE.author}:") and "`/retest build`: started" in answer


def test_a_rerun_by_someone_without_write_access_runs_nothing(env: Env) -> None:
    prepare(env, CASE, "read", ci=CI)
    assert send(env, parse("check_suite", payload("check_suite"))).status_code == 202
    assert env.workflows() == []
    assert "write" in env.forge.comments("github", CASE.repo, CASE.number)[0]
