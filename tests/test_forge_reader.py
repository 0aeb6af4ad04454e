"""Reading ci.yaml and changed paths through each forge's API (against the forge fake)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from forgefake import Change, ForgeFake, running_forges
from knargo.config.credentials import Credentials, Secret
from knargo.config.settings import Forge, Settings
from knargo.contract.errors import ForgeUnavailable, RateLimited, TooLarge, Unauthorized
from knargo.contract.events import GitEvent
from knargo.forges import ApiRequest
from knargo.io.network import ForgeClient, ForgeReader

SHA, BEFORE = "a" * 40, "b" * 40
REPOS = {"github": "acme/api", "gitlab": "acme/platform/api", "gitea": "acme/api"}
TOKENS = {"github": "gh-token", "gitlab": "gl-token", "gitea": "gt-token"}
HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "gitea": "codeberg.org"}


@pytest.fixture
def fake() -> Iterator[ForgeFake]:
    with running_forges(TOKENS) as running:
        yield running


OPEN: list[ForgeReader] = []


@pytest.fixture(autouse=True)
def _close_readers(fake: ForgeFake) -> Iterator[None]:
    """Close every client before the fake stops (it depends on `fake`, so it ends first)."""
    yield
    while OPEN:
        OPEN.pop().client.close()


def reader(fake: ForgeFake, tokens: dict[str, str] | None = None) -> ForgeReader:
    forges = [
        Forge(name=k, kind=k, api_url=fake.api_url(k), web_url=f"https://{h}")
        for k, h in HOSTS.items()
    ]
    secrets = {k: Secret(v.encode()) for k, v in (TOKENS if tokens is None else tokens).items()}
    opened = ForgeReader(
        Settings(forges=forges), Credentials(tokens=secrets), ForgeClient(timeout=2.0)
    )
    OPEN.append(opened)
    return opened


def event(forge: str, **fields: Any) -> GitEvent:
    repo = REPOS[forge]
    url = f"https://{HOSTS[forge]}/{repo}"
    return GitEvent.model_validate(
        {
            "forge_kind": forge,
            "forge_name": forge,
            "repository": repo,
            "repository_url": url,
            "clone_url": url + ".git",
            "default_branch": "main",
            "kind": "push",
            "ref": "refs/heads/main",
            "sha": SHA,
            "before": BEFORE,
            "delivery_id": "d",
        }
        | fields
    )


FORGES = ["github", "gitlab", "gitea"]


@pytest.mark.parametrize("forge", FORGES)
def test_reads_the_file_at_the_commit(forge: str, fake: ForgeFake) -> None:
    fake.add_file(forge, REPOS[forge], SHA, ".ci/ci.yaml", b"jobs: {}\n")
    fake.add_file(forge, REPOS[forge], BEFORE, ".ci/ci.yaml", b"old\n")
    assert reader(fake).read_file(event(forge), ".ci/ci.yaml", 1000) == b"jobs: {}\n"
    assert reader(fake).read_file(event(forge), "missing.yaml", 1000) is None
    assert fake.violations == []


@pytest.mark.parametrize("forge", FORGES)
def test_a_file_over_the_limit_is_refused(forge: str, fake: ForgeFake) -> None:
    fake.add_file(forge, REPOS[forge], SHA, "ci.yaml", b"x" * 5000)
    with pytest.raises(TooLarge):
        reader(fake).read_file(event(forge), "ci.yaml", 4096)


@pytest.mark.parametrize("forge", FORGES)
def test_changed_paths_of_a_push(forge: str, fake: ForgeFake) -> None:
    fake.add_commit(forge, REPOS[forge], BEFORE)
    fake.add_commit(forge, REPOS[forge], SHA)
    fake.set_compare(
        forge,
        REPOS[forge],
        BEFORE,
        SHA,
        ["src/a.py", Change("docs/new.md", "renamed", previous="docs/old.md")],
    )
    paths = reader(fake).changed_paths(event(forge))
    assert paths is not None
    assert set(paths) == {"src/a.py", "docs/new.md", "docs/old.md"}
    assert fake.violations == []


@pytest.mark.parametrize("forge", FORGES)
def test_a_repository_the_token_cannot_see_is_not_a_missing_file(
    forge: str, fake: ForgeFake
) -> None:
    fake.add_file(forge, REPOS[forge], SHA, "ci.yaml", b"x")
    assert reader(fake).read_file(event(forge), "other.yaml", 100) is None
    fake.add_repo(forge, REPOS[forge], private=True, visible=False)
    with pytest.raises(Unauthorized) as refused:
        reader(fake).read_file(event(forge), "ci.yaml", 100)
    assert refused.value.status == 404 and REPOS[forge] in str(refused.value)
    assert fake.violations == []


@pytest.mark.parametrize("files", [300, 301, 2000])
def test_a_full_github_compare_is_incomplete(files: int, fake: ForgeFake) -> None:
    """GitHub lists at most 300 files of a compare, on its first page only: a full list may
    miss the one path a filter looks for, so the paths are unknown (the filter matches)."""
    paths = [f"docs/page{i:04}.md" for i in range(files - 1)] + ["src/app.py"]
    fake.set_compare("github", REPOS["github"], BEFORE, SHA, paths)
    assert reader(fake).changed_paths(event("github")) is None
    fake.set_compare("github", REPOS["github"], BEFORE, SHA, paths[-299:])
    assert reader(fake).changed_paths(event("github")) == paths[-299:]
    assert fake.violations == []


@pytest.mark.parametrize("forge", FORGES)
def test_changed_paths_of_a_pull_request_follow_pages(forge: str, fake: ForgeFake) -> None:
    paths = [f"src/file{i:03}.py" for i in range(230)]
    fake.set_pr_files(forge, REPOS[forge], 7, paths)
    pull = event(
        forge, kind="pull_request", ref="refs/heads/topic", pr_number=7, base_ref="refs/heads/main"
    )
    assert reader(fake).changed_paths(pull) == paths
    assert fake.violations == []


def test_new_branch_paths_are_unknown(fake: ForgeFake) -> None:
    assert reader(fake).changed_paths(event("github", before=None)) is None


@pytest.mark.parametrize("forge", FORGES)
def test_a_refused_token_is_unauthorized(forge: str, fake: ForgeFake) -> None:
    fake.add_file(forge, REPOS[forge], SHA, "ci.yaml", b"x")
    with pytest.raises(Unauthorized):
        reader(fake, {forge: "wrong"}).read_file(event(forge), "ci.yaml", 100)


@pytest.mark.parametrize("forge", FORGES)
def test_server_errors_and_rate_limits(forge: str, fake: ForgeFake) -> None:
    fake.add_file(forge, REPOS[forge], SHA, "ci.yaml", b"x")
    fake.fail_next(503, forge=forge)
    with pytest.raises(ForgeUnavailable):
        reader(fake).read_file(event(forge), "ci.yaml", 100)
    fake.fail_next(429, forge=forge, headers={"Retry-After": "17"})
    with pytest.raises(RateLimited) as limited:
        reader(fake).read_file(event(forge), "ci.yaml", 100)
    assert limited.value.retry_after == 17


def test_github_secondary_rate_limit_is_a_rate_limit(fake: ForgeFake) -> None:
    fake.add_file("github", REPOS["github"], SHA, "ci.yaml", b"x")
    fake.github_secondary_rate_limit(retry_after=42)
    with pytest.raises(RateLimited) as limited:
        reader(fake).read_file(event("github"), "ci.yaml", 100)
    assert limited.value.retry_after == 42


def test_unreachable_forge_is_unavailable(tmp_path: Path) -> None:
    forge = Forge(
        name="github", kind="github", api_url="http://127.0.0.1:9", web_url="https://github.com"
    )
    broken = ForgeReader(Settings(forges=[forge]), Credentials(), ForgeClient(timeout=0.5))
    OPEN.append(broken)
    with pytest.raises(ForgeUnavailable):
        broken.read_file(event("github"), "ci.yaml", 100)


class _Hop(BaseHTTPRequestHandler):
    """Answers `/moved/...` with a redirect to `target` + the rest, anything else with 200."""

    target = ""
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.startswith("/moved/"):
            self.send_response(301)
            self.send_header("location", self.target + self.path[len("/moved") :])
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def _server(target: str = "") -> Iterator[tuple[str, type[_Hop]]]:
    handler = type("Hop", (_Hop,), {"target": target, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


CREDENTIALS = {
    "Authorization": "Bearer gh-secret",
    "PRIVATE-TOKEN": "gl-secret",
    "Accept": "application/json",
}


def test_no_credential_follows_a_redirect_to_another_origin() -> None:
    """httpx drops only Authorization across origins: GitLab's PRIVATE-TOKEN went along."""
    with _server() as (other, elsewhere), _server(other) as (first, here):
        client = ForgeClient(timeout=2.0)
        try:
            request = ApiRequest("GET", f"{first}/moved/file", CREDENTIALS, {}, "read a file")
            assert client.send(request).body == b"ok"
            same = ApiRequest("GET", f"{first}/file", CREDENTIALS, {}, "read a file")
            assert client.send(same).body == b"ok"
        finally:
            client.close()
    [(path, headers)] = elsewhere.seen
    assert path == "/file" and headers.get("accept") == "application/json"
    assert not {"authorization", "private-token"} & set(headers)
    assert all("secret" not in value for value in headers.values())
    assert here.seen[1][1]["private-token"] == "gl-secret"  # no redirect: sent as it was


def test_a_redirect_within_the_origin_keeps_the_credentials() -> None:
    """GitHub answers 301 for a renamed repository, on the same API host."""
    with _server() as (first, here):
        here.target = first
        client = ForgeClient(timeout=2.0)
        try:
            request = ApiRequest("GET", f"{first}/moved/repo", CREDENTIALS, {}, "read a file")
            assert client.send(request).body == b"ok"
        finally:
            client.close()
    assert [path for path, _ in here.seen] == ["/moved/repo", "/repo"]
    assert here.seen[1][1]["authorization"] == "Bearer gh-secret"
    assert here.seen[1][1]["private-token"] == "gl-secret"
