"""Pull request comment commands end to end, from the forges' real comment payloads.

Each comment is parsed by its forge module (the captured payloads of tests/payloads/comments,
with the comment's text replaced by the command), sent to the generate function as the
webhook would publish it, and answered through the loopback forge fake (pull request heads,
permissions and reply comments checked against each forge's API) and the loopback
Kubernetes API fake (Workflows created, listed and patched as the API server would).
"""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from knargo.config.settings import Forge
from knargo.contract import cloudevent, events
from knargo.contract.events import CommentEvent, ForgeKind
from knargo.forges import Headers, Ignored, gitea, github, gitlab
from knargo.functions import webhook
from test_generate_function import TOKENS, Env, env  # noqa: F401  (the generate fixture)

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "comments"
HEAD = "c4c79227ed610f1151f05bbc5be33b4f340d39c8"
NEWER = "d" * 40
CI = """\
jobs:
  build:
    image: alpine
    run: make
  test:
    needs: build
    image: alpine
    run: make test
  lint:
    image: alpine
    run: make lint
"""


class Case:
    """One forge's captured comment and what the fake needs to answer it."""

    def __init__(
        self, forge: str, file: str, event: str, repo: str, number: int, author: str
    ) -> None:
        self.forge, self.file, self.event = forge, file, event
        self.repo, self.number, self.author = repo, number, author
        self.author_id = 51764 if forge == "gitlab" else None  # object_attributes.author_id

    def payload(self, text: str) -> dict[str, Any]:
        data = json.loads((PAYLOADS / self.file).read_text())
        if self.forge == "gitlab":
            data["object_attributes"]["note"] = text
        else:
            data["comment"]["body"] = text
        return data

    def comment(self, text: str, delivery: str = "delivery-1") -> CommentEvent:
        """The captured comment with `text`; another `delivery` is another comment (its id
        is derived from the delivery), the same one a redelivery."""
        module = {"github": github, "gitlab": gitlab, "gitea": gitea}[self.forge].WEBHOOKS
        header = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event"}
        headers = Headers({header.get(self.forge, "X-Gitea-Event"): self.event})
        forge = Forge(name=self.forge, kind=ForgeKind(self.forge), api_url="x", web_url="x")
        payload = self.payload(text)
        ident = 1000 + int.from_bytes(delivery.encode()[-4:], "big") % 10**6
        if self.forge == "gitlab":
            payload["object_attributes"]["id"] = ident
        else:
            payload["comment"]["id"] = ident
        parsed = module.parse(headers, payload, forge, delivery)
        assert isinstance(parsed, CommentEvent), parsed
        return parsed


CASES = [
    Case(
        "github",
        "github-issue-comment-pull-request.json",
        "issue_comment",
        "chhsia0/knative-route-demo",
        3,
        "chhsia0",
    ),
    Case(
        "gitlab",
        "gitlab-note-merge-request.json",
        "Note Hook",
        "gitlab-org/hello-world",
        1,
        "sytses",
    ),
    Case(
        "gitea",
        "gitea-pull-request-comment.json",
        "issue_comment",
        "gogits/hello-world",
        2,
        "unknwon",
    ),
]
WRITE = {"github": "write", "gitlab": 30, "gitea": "write"}
READ = {"github": "triage", "gitlab": 20, "gitea": "read"}


def prepare(env: Env, case: Case, level: Any, sha: str = HEAD, ci: str = CI) -> None:
    env.forge.set_pull(case.forge, case.repo, case.number, sha)
    env.forge.add_file(case.forge, case.repo, sha, "ci.yaml", ci.encode())
    env.forge.set_permission(case.forge, case.repo, case.author, level, case.author_id)


def send(env: Env, comment: CommentEvent) -> Any:
    message = cloudevent.encode(webhook.to_cloudevent(comment))
    return env.client.post("/", data=message.body, headers=message.headers)


def reply_of(response: Any) -> cloudevent.Envelope | None:
    if response.status_code == 202:
        return None
    return cloudevent.decode(dict(response.headers), response.get_data())


def tasks(workflow: dict[str, Any]) -> list[str]:
    dag = next(t for t in workflow["spec"]["templates"] if t["name"] == "pipeline")["dag"]
    return sorted(task["name"] for task in dag["tasks"])


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_real_payloads_parse_to_comment_events(case: Case) -> None:
    comment = case.comment("/retest")
    assert (comment.repository, comment.pr_number) == (case.repo, case.number)
    assert (comment.author, comment.author_id, comment.body) == (
        case.author,
        case.author_id,
        "/retest",
    )
    assert comment.cloud_event_type == events.GIT_COMMENT
    envelope = webhook.to_cloudevent(comment)
    assert (envelope.type, envelope.subject) == (events.GIT_COMMENT, f"pull/{case.number}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_comments_on_issues_and_edits_are_ignored(case: Case) -> None:
    module = {"github": github, "gitlab": gitlab, "gitea": gitea}[case.forge].WEBHOOKS
    forge = Forge(name=case.forge, kind=ForgeKind(case.forge), api_url="x", web_url="x")
    header = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event"}
    headers = Headers({header.get(case.forge, "X-Gitea-Event"): case.event})
    on_issue = copy.deepcopy(case.payload("/retest"))
    edited = copy.deepcopy(on_issue)
    if case.forge == "gitlab":
        on_issue["object_attributes"]["noteable_type"] = "Issue"
        edited["object_attributes"]["system"] = True
    else:
        del on_issue["issue"]["pull_request"]
        edited["action"] = "edited"
    for payload in (on_issue, edited):
        assert isinstance(module.parse(headers, payload, forge, "d"), Ignored)


WEBHOOK_FORGES = {"github": "github", "gitlab": "gitlab", "gitea": "gitea"}
"""The forge of tests/deliveries.py whose host each captured payload's repository is on."""


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_the_webhook_verifies_and_publishes_each_forges_comment(
    case: Case, tmp_path: Path, monkeypatch: Any
) -> None:
    from deliveries import signed, webhook_client
    from sink import running_sink

    body = json.dumps(case.payload("/retest")).encode()
    with running_sink() as sink:
        client = webhook_client(tmp_path, sink, monkeypatch)
        headers = signed(case.forge, WEBHOOK_FORGES[case.forge], case.event, body)
        answer = client.post("/", data=body, headers=headers)
        assert answer.status_code == 202, answer.get_json()
        bad = dict(headers)
        for name in ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token"):
            if name in bad:
                bad[name] = bad[name][:-2] + "00"
        assert client.post("/", data=body, headers=bad).status_code == 401
        published = list(sink.events)
    assert [e.type for e in published] == [events.GIT_COMMENT]
    comment = CommentEvent.model_validate(published[0].data)
    assert (comment.body, comment.author, comment.pr_number) == (
        "/retest",
        case.author,
        case.number,
    )
    assert published[0].subject == f"pull/{case.number}"


# --- commands through generate ---------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_retest_runs_the_head_commit_again_as_a_new_run(env: Env, case: Case) -> None:
    prepare(env, case, WRITE[case.forge])
    first = reply_of(send(env, case.comment("/retest", "delivery-1")))
    again = send(env, case.comment("/retest", "delivery-1"))  # redelivered: answered already
    second = reply_of(send(env, case.comment("thanks!\n/retest", "delivery-2")))
    assert first and second and again.status_code == 202
    assert first.type == events.PIPELINE_SUBMITTED
    assert first.data["workflow"] != second.data["workflow"]
    assert first.data["created"] is True
    assert first.data["event"]["sha"] == HEAD and first.data["event"]["sender"] == case.author
    assert len(env.workflows()) == 2
    replies = env.forge.comments(case.forge, case.repo, case.number)
    assert len(replies) == 2 and all(r.startswith(f"@{case.author}:") for r in replies)
    assert f"`/retest`: started `{first.data['workflow']}` for {HEAD[:7]}" in replies[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_retest_of_a_job_runs_it_and_what_needs_it(env: Env, case: Case) -> None:
    prepare(env, case, WRITE[case.forge])
    reply = reply_of(send(env, case.comment("/retest build")))
    assert reply is not None
    assert [job["id"] for job in reply.data["jobs"]] == ["build", "test"]
    (workflow,) = env.workflows()
    assert tasks(workflow) == ["build", "test"]
    unknown = send(env, case.comment("/retest nope", "delivery-2"))
    assert unknown.status_code == 202
    assert 'job "nope" does not run' in env.forge.comments(case.forge, case.repo, case.number)[-1]
    assert len(env.workflows()) == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_cancel_terminates_the_running_runs_of_the_pull_request(env: Env, case: Case) -> None:
    prepare(env, case, WRITE[case.forge])
    started = reply_of(send(env, case.comment("/retest", "delivery-1")))
    assert started is not None
    other = copy.deepcopy(env.workflows()[0])  # another pull request's run stays alone
    other["metadata"]["name"] = "other-run"
    other["metadata"]["labels"]["knargo.dev/pull-request"] = "999"
    env.kube.put_object(other, "workflows")
    assert send(env, case.comment("/cancel", "delivery-2")).status_code == 202
    shutdown = {w["metadata"]["name"]: w["spec"].get("shutdown") for w in env.workflows()}
    assert shutdown == {started.data["workflow"]: "Terminate", "other-run": None}
    assert (
        f"terminated `{started.data['workflow']}`"
        in env.forge.comments(case.forge, case.repo, case.number)[-1]
    )
    send(env, case.comment("/cancel", "delivery-3"))
    assert (
        "no run of this pull request is in progress"
        in env.forge.comments(case.forge, case.repo, case.number)[-1]
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
@pytest.mark.parametrize(
    "command", ["/retest", "/retest build", "/cancel", "/ok-to-test", "/approve", "/approve build"]
)
def test_without_write_access_nothing_runs_and_one_reply_says_why(
    env: Env, case: Case, command: str
) -> None:
    prepare(env, case, READ[case.forge])
    assert send(env, case.comment(command)).status_code == 202
    assert send(env, case.comment(command)).status_code == 202  # redelivered
    assert env.workflows() == []
    (reply,) = env.forge.comments(case.forge, case.repo, case.number)
    assert reply.startswith(f"@{case.author}: `{command}` not run: commands need ")
    assert case.repo in reply


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_ok_to_test_and_approve_from_each_forges_payload(env: Env, case: Case) -> None:
    """The forge-specific calls of the other two commands: a head from the pull request API
    (not from a fork: nothing to approve), and no gate waiting."""
    prepare(env, case, WRITE[case.forge])
    send(env, case.comment("/ok-to-test\n/approve", "delivery-9"))
    (reply,) = env.forge.comments(case.forge, case.repo, case.number)
    assert "`/ok-to-test`: not a pull request from a fork, nothing to approve." in reply
    assert "`/approve`: no job of this pull request waits for approval." in reply
    assert env.workflows() == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_a_stranger_the_forge_does_not_know_is_refused(env: Env, case: Case) -> None:
    env.forge.set_pull(case.forge, case.repo, case.number, HEAD)
    env.forge.add_file(case.forge, case.repo, HEAD, "ci.yaml", CI.encode())
    assert send(env, case.comment("/retest")).status_code == 202
    assert env.workflows() == []
    assert "not run" in env.forge.comments(case.forge, case.repo, case.number)[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.forge)
def test_text_and_unknown_commands_cost_no_api_call(env: Env, case: Case) -> None:
    prepare(env, case, WRITE[case.forge])
    before = len(env.forge.requests)
    text = "LGTM\n/lgtm\nplease /retest\n> /retest\n```\n/retest\n```"
    assert send(env, case.comment(text)).status_code == 202
    assert len(env.forge.requests) == before and env.workflows() == []


def test_retest_of_a_closed_pull_request_runs_nothing(env: Env) -> None:
    case = CASES[0]
    prepare(env, case, "admin")
    env.forge.set_pull(case.forge, case.repo, case.number, HEAD, state="closed")
    assert send(env, case.comment("/retest")).status_code == 202
    assert env.workflows() == []
    assert "the pull request is closed" in env.forge.comments(case.forge, case.repo, 3)[0]


def test_retest_reads_the_head_at_comment_time(env: Env) -> None:
    case = CASES[0]
    prepare(env, case, "maintain")
    prepare(env, case, "maintain", sha=NEWER)  # pushed after the payload's commit
    reply = reply_of(send(env, case.comment("/retest")))
    assert reply is not None and reply.data["event"]["sha"] == NEWER


def test_no_secret_reaches_a_reply_comment(env: Env, tmp_path: Path) -> None:
    """The forge token, the webhook secret and a pipeline secret's name and value never
    appear in what knargo writes on the pull request, whatever the outcome."""
    case = CASES[0]
    invalid = CI + "  broken:\n    image: [\n"
    prepare(env, case, "write", ci=invalid)
    send(env, case.comment("/retest"))
    prepare(env, case, "write", sha=NEWER)
    send(env, case.comment("/retest build\n/cancel", "delivery-2"))
    env.forge.set_permission(case.forge, case.repo, case.author, "read")
    send(env, case.comment("/retest", "delivery-3"))
    replies = env.forge.comments(case.forge, case.repo, case.number)
    assert len(replies) == 3
    secrets = [*TOKENS.values(), "NPM_TOKEN", "s3cret"]
    assert not [s for s in secrets for reply in replies if s in reply]
    assert "cannot run" in replies[0]


def test_the_fake_refuses_what_the_forges_refuse() -> None:
    import httpx

    from forgefake import running_forges

    with running_forges() as fake:
        fake.set_pull("github", "o/r", 1, HEAD)
        fake.set_pull("gitlab", "g/p", 1, HEAD)
        gh = {"Authorization": "Bearer ghp-fake"}
        base = fake.api_url("github") + "/repos/o/r/issues/1/comments"
        assert httpx.post(base, json={"body": ""}, headers=gh).status_code == 422
        assert httpx.post(base, json={"body": "x" * 65537}, headers=gh).status_code == 422
        assert (
            httpx.post(base.replace("/1/", "/2/"), json={"body": "x"}, headers=gh).status_code
            == 404
        )
        member = fake.api_url("gitlab") + "/projects/g%2Fp/members/all/sytses"
        assert httpx.get(member, headers={"PRIVATE-TOKEN": "glpat-fake"}).status_code == 400
        assert len(fake.violations) == 3
        assert httpx.post(base, json={"body": "ok"}, headers=gh).status_code == 201
        assert fake.comments("github", "o/r", 1) == ["ok"]
