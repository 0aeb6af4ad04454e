"""The local forge: ci.yaml and changed paths read with git, statuses kept in a file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from knargo.contract.errors import PermanentError, TooLarge
from knargo.contract.events import GitEvent
from knargo.forges import STATUSES, StatusApi
from knargo.functions.status import Current, State, Update
from knargo.local.forge import GitFiles, Mirrored, Posted, StatusLog
from test_local_kit import commit, make_repo


def event(sha: str, **fields: object) -> GitEvent:
    return GitEvent.model_validate(
        {
            "forge_kind": "github",
            "forge_name": "local",
            "repository": "local/repo",
            "repository_url": "http://localhost/local/repo",
            "clone_url": "file:///repo",
            "default_branch": "main",
            "kind": "push",
            "ref": "refs/heads/main",
            "sha": sha,
            "delivery_id": "d",
            **fields,
        }
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"ci.yaml": "first\n", "a.txt": "a\n"})


def test_files_are_read_at_the_exact_commit(repo: Path) -> None:
    first = commit(repo, {}, "nothing")
    second = commit(repo, {"ci.yaml": "second\n"}, "edit")
    files = GitFiles(repo)
    assert files.read_file(event(first), "ci.yaml", 100) == b"first\n"
    assert files.read_file(event(second), "ci.yaml", 100) == b"second\n"
    assert files.read_file(event(second), "missing.yaml", 100) is None
    with pytest.raises(TooLarge):
        files.read_file(event(second), "ci.yaml", 3)
    with pytest.raises(PermanentError, match="commit 123456789abc is not in"):
        files.read_file(event("123456789abc" + "0" * 28), "ci.yaml", 100)
    assert GitFiles(repo, {"ci.yaml": b"tried"}).read_file(event(first), "ci.yaml", 100) == b"tried"


def test_changed_paths_of_pushes_and_pull_requests(repo: Path) -> None:
    base = commit(repo, {}, "base")
    subprocess.run(["git", "-C", str(repo), "switch", "-q", "-c", "topic"], check=True)
    commit(repo, {"src/x.py": "x\n"}, "one")
    head = commit(repo, {"docs/y.md": "y\n"}, "two")
    files = GitFiles(repo)
    assert files.changed_paths(event(head, before=base)) == ["docs/y.md", "src/x.py"]
    assert files.changed_paths(event(head)) is None  # a new branch: unknown
    assert files.changed_paths(event(head, before="f" * 40)) is None
    pull = event(head, kind="pull_request", pr_number=1, base_ref="refs/heads/main")
    assert files.changed_paths(pull) == ["docs/y.md", "src/x.py"]


def test_commits_between_two_commits(repo: Path) -> None:
    base = commit(repo, {}, "base")
    one = commit(repo, {"a.txt": "b\n"}, "one")
    two = commit(repo, {"a.txt": "c\n"}, "two")
    files = GitFiles(repo)
    assert files.commits_between(event(two), base, two) == 2
    assert files.commits_between(event(two), two, one) == 0  # an ancestor
    assert files.commits_between(event(two), "f" * 40, two) is None


def test_the_status_log_reads_back_what_was_posted(tmp_path: Path) -> None:
    shown: list[Posted] = []
    log = StatusLog(tmp_path / "statuses.jsonl", shown.append)
    sha = "a" * 40
    log.post(event(sha), sha, Update("knargo", State.QUEUED, "queued", "http://argo/wf"))
    log.post(event(sha), sha, Update("knargo", State.SKIPPED, "skipped: x", "http://argo/wf"))
    log.post(event(sha), "b" * 40, Update("knargo", State.FAILURE, "other commit"))
    assert log.current(event(sha), sha) == [
        Current("knargo", "success", "skipped: x", "http://argo/wf")
    ]
    assert [(p.state, p.forge_state) for p in shown] == [
        ("queued", "pending"),
        ("skipped", "success"),
        ("failure", "failure"),
    ]
    assert log.api(event(sha)) is STATUSES["github"]  # type: ignore[index]


class RealForge:
    def __init__(self) -> None:
        self.posts: list[Update] = []

    def api(self, _event: GitEvent) -> StatusApi:
        return STATUSES["github"]  # type: ignore[index]

    def current(self, _event: GitEvent, _sha: str) -> list[Current]:
        return [Current("knargo", "pending", "from the forge", None)]

    def post(self, _event: GitEvent, _sha: str, update: Update) -> None:
        self.posts.append(update)


def test_forges_with_a_token_get_the_statuses_too(tmp_path: Path) -> None:
    forge, log = RealForge(), StatusLog(tmp_path / "statuses.jsonl")
    mirrored = Mirrored(forge, frozenset({"github"}), log)
    on_github = event("a" * 40, forge_name="github")
    local = event("a" * 40)
    update = Update("knargo", State.RUNNING, "running")
    mirrored.post(on_github, "a" * 40, update)
    mirrored.post(local, "a" * 40, update)
    assert forge.posts == [update]
    assert len(log.posted()) == 2
    assert mirrored.current(on_github, "a" * 40)[0].description == "from the forge"
    assert mirrored.current(local, "a" * 40)[0].description == "running"
