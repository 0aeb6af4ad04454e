"""Run control on one machine: `knargo run` answers approval gates (`--approve`, Enter on a
terminal, refused otherwise); `knargo dev` handles pull request comments with the local forge
standing in for permissions (`/retest`, `/approve` of a waiting gate, `/cancel`)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from knargo.cli.run import gate_answer
from knargo.contract.events import CommentEvent, GitEvent
from test_local_kit import final_statuses, make_repo, push_event, start_chain
from test_local_run import knargo

CI = """\
jobs:
  build: {image: alpine, run: 'true'}
  deploy: {image: alpine, run: 'true', needs: build, environment: production}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"ci.yaml": CI})


def test_knargo_run_approves_with_the_flag(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--plain", "--approve")
    assert code == 0, out + err


def test_knargo_run_without_a_terminal_does_not_approve(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = knargo(capsys, "run", "-C", str(repo), "--plain")
    assert code == 1
    assert 'job "deploy" waits for approval: not approved (use --approve)' in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("typed", "approved"), [("\n", True), ("n\n", False), ("", False)])
def test_on_a_terminal_enter_approves(typed: str, approved: bool) -> None:
    out = io.StringIO()
    assert gate_answer(False, Terminal(typed), out)("run", "deploy") is approved
    assert 'job "deploy" waits for approval: press Enter' in out.getvalue()


def comment(event: GitEvent, text: str, delivery: str) -> CommentEvent:
    """A comment on the pull request of `event`, as `knargo dev` receives it."""
    return CommentEvent(
        forge_kind=event.forge_kind,
        forge_name=event.forge_name,
        repository=event.repository,
        repository_url=event.repository_url,
        clone_url=event.clone_url,
        default_branch=event.default_branch,
        pr_number=event.pr_number or 0,
        comment_id=delivery,
        body=text,
        author="me",
        delivery_id=delivery,
    )


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_knargo_dev_handles_comments(repo: Path) -> None:
    chain = start_chain(repo)
    try:
        event = push_event(repo, "pull_request")
        chain.publish(event)

        def waiting() -> bool:
            found = final_statuses(chain, event.sha).get("knargo/deploy")
            return found is not None and found[1].startswith("waiting for approval")

        wait_for(waiting)
        assert final_statuses(chain, event.sha)["knargo/deploy"][1] == (
            "waiting for approval (production)"
        )
        chain.publish(comment(event, "/approve", "c-1"))
        assert chain.settle(30)
        assert final_statuses(chain, event.sha)["knargo/deploy"][0] == "success"
        chain.publish(comment(event, "/retest build", "c-2"))
        wait_for(waiting)  # the retested run keeps deploy's gate: it waits for approval again
        chain.publish(comment(event, "/approve deploy", "c-3"))
        assert chain.settle(30)
        assert final_statuses(chain, event.sha)["knargo/deploy"][0] == "success"
        replies = [
            json.loads(line)["body"]
            for line in (repo / ".knargo" / "comments.jsonl").read_text().splitlines()
        ]
        assert "approved `deploy`" in replies[0]
        assert "`/retest build`: started" in replies[1]
        assert len(chain.cluster.workflows("ci")) == 2
    finally:
        chain.stop()
