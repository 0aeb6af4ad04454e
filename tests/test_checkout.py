"""The checkout init container and the job's entry point, run for real against a git server.

The design contract: a job gets exactly the event's commit, by a shallow fetch of that commit,
falling back to fetching the event's ref when the server refuses to fetch a commit by id.
This test builds a Workflow with the real translator, takes the `checkout` init container's
command and environment from the manifest (only the volume paths and the clone URL are
replaced: by temporary directories and a loopback server), runs them with `sh`, then runs the
job container's command the same way.

The upstream repository has a main branch whose build commit is not its tip, a branch with a
slash, an annotated tag, and two pull request heads whose commits exist only in a fork: one
pushed as `refs/pull/7/head` (GitHub, Gitea) and one as `refs/merge-requests/8/head`
(GitLab). It is served by `git http-backend` (protocol v2, any commit fetchable by id, as on
the forges), by the same with fetch-by-id refused (protocol v0, unadvertised wants off), with
HTTP basic authentication (a private repository), and by `git daemon`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitserver import TIMEOUT, GitDaemon, GitHttpServer, author_env, git_env, missing_git
from knargo.config.settings import Settings
from knargo.contract.events import EventKind, GitEvent
from knargo.language.lint import check
from knargo.translation import jobpod
from knargo.translation.plan import plan
from knargo.translation.templates import with_defaults
from test_script_transport import kubelet_expand

_MISSING = missing_git()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

REPOSITORY = "upstream.git"
TOKEN = "s3cr3t-forge-token"
FALLBACK = "by id failed; fetching"
DOLLARS = "x$$y"
CAT_VERSION = "jobs:\n  build:\n    image: alpine:3.20\n    run: cat version.txt\n"


@dataclass(frozen=True)
class Upstream:
    """The served directory and the commits of the upstream repository in it."""

    root: Path
    main_first: str
    main_build: str
    """A commit of main that is not its tip: the one the push events build."""
    main_tip: str
    feature: str
    tag_object: str
    tag_commit: str
    pr7_earlier: str
    """The pull request's head before its last push (only in the fork and refs/pull/7/head)."""
    pr7: str
    mr8_earlier: str
    mr8: str


def _git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def _commit(repo: Path, env: dict[str, str], files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, "add", "-A", env=env)
    _git(repo, "commit", "-q", "-m", message, env=env)
    return _git(repo, "rev-parse", "HEAD", env=env)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Upstream:
    base = tmp_path_factory.mktemp("upstream")
    (base / "home").mkdir()
    env = author_env(base / "home")
    work = base / "work"
    _git(base, "init", "-q", "-b", "main", str(work), env=env)
    first = _commit(
        work,
        env,
        {"version.txt": "main-1", "README.md": "upstream\n", "sub/dir/marker.txt": "marker\n"},
        "first",
    )
    _git(work, "tag", "-a", "v1.0.0", "-m", "release 1.0.0", first, env=env)
    build = _commit(work, env, {"version.txt": "main-2"}, "the build commit")
    _git(work, "switch", "-q", "-c", "feature/x", env=env)
    feature = _commit(work, env, {"version.txt": "feature-x"}, "feature")
    _git(work, "switch", "-q", "main", env=env)
    tip = _commit(work, env, {"version.txt": "main-3"}, "after the build commit")

    root = base / "served"
    root.mkdir()
    bare = root / REPOSITORY
    _git(base, "clone", "-q", "--bare", str(work), str(bare), env=env)

    fork = base / "fork"
    _git(base, "clone", "-q", str(bare), str(fork), env=env)
    fork_env = env | {"GIT_AUTHOR_NAME": "Contributor", "GIT_COMMITTER_NAME": "Contributor"}
    _git(fork, "switch", "-q", "-c", "fix", env=env)
    pr7_earlier = _commit(fork, fork_env, {"version.txt": "pr7-1"}, "pull request, first push")
    pr7 = _commit(fork, fork_env, {"version.txt": "pr7-2"}, "pull request, second push")
    _git(fork, "switch", "-q", "-c", "gl-fix", "origin/main", env=env)
    mr8_earlier = _commit(fork, fork_env, {"version.txt": "mr8-1"}, "merge request, first push")
    mr8 = _commit(fork, fork_env, {"version.txt": "mr8-2"}, "merge request, second push")
    # What the forge does with a fork's pull request head: a ref outside refs/heads.
    _git(fork, "push", "-q", str(bare), "fix:refs/pull/7/head", env=env)
    _git(fork, "push", "-q", str(bare), "gl-fix:refs/merge-requests/8/head", env=env)
    for commit in (pr7_earlier, pr7, mr8_earlier, mr8):
        assert not _git(
            bare, "for-each-ref", "--contains", commit, "refs/heads", "refs/tags", env=env
        )

    # A valid branch name that Kubernetes would rewrite in a plain env value ($$ -> $).
    _git(bare, "branch", DOLLARS, "main", env=env)

    tag_object = _git(bare, "rev-parse", "v1.0.0", env=env)
    tag_commit = _git(bare, "rev-parse", "v1.0.0^{commit}", env=env)
    assert tag_object != tag_commit == first
    assert _git(bare, "rev-parse", "main", env=env) == tip != build
    return Upstream(
        root, first, build, tip, feature, tag_object, tag_commit, pr7_earlier, pr7, mr8_earlier, mr8
    )


Server = GitHttpServer | GitDaemon
Serve = Callable[..., Server]


@pytest.fixture
def serve(upstream: Upstream) -> Iterator[Serve]:
    """Start a server for this test; every server started is stopped at the test's end."""
    with ExitStack() as stack:

        def start(protocol: str = "http", **options: Any) -> Server:
            if protocol == "git":
                return stack.enter_context(GitDaemon(upstream.root))
            return stack.enter_context(GitHttpServer(upstream.root, **options))

        yield start


def _event(
    kind: str,
    ref: str,
    sha: str,
    *,
    forge: str = "github",
    pr_number: int | None = None,
    private: bool = False,
) -> GitEvent:
    host = {"github": "github.com", "gitlab": "gitlab.com", "gitea": "gitea.example.com"}[forge]
    pull = {}
    if pr_number is not None:
        pull = {
            "pr_number": pr_number,
            "base_ref": "refs/heads/main",
            "head_repository": "contributor/api",
            "fork": True,
        }
    return GitEvent(
        forge_kind=forge,
        forge_name=forge,
        repository="acme/api",
        repository_url=f"https://{host}/acme/api",
        clone_url=f"https://{host}/acme/api.git",
        default_branch="main",
        private=private,
        kind=kind,
        ref=ref,
        sha=sha,
        delivery_id="delivery-1",
        **pull,
    )


@dataclass(frozen=True)
class Ran:
    init: subprocess.CompletedProcess[str]
    job: subprocess.CompletedProcess[str] | None
    """None when the init container failed (Kubernetes then does not start the job)."""
    workspace: Path
    home: Path
    env: dict[str, str]
    """The environment without the manifest's variables: what the image would provide."""


def _values(container: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """A container's env as the kubelet resolves it (`$$`, `$(NAME)`); `secrets` by (Secret
    name, key)."""
    values: dict[str, str] = {}
    for variable in container.get("env", []):
        if "value" in variable:
            values[variable["name"]] = kubelet_expand(variable["value"], values)
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            values[variable["name"]] = secrets[ref["name"], ref["key"]]
    return values


def _local(path: str, workspace: Path) -> Path:
    """A manifest path under /workspace, mapped to the test's workspace directory."""
    assert path == jobpod.WORKSPACE or path.startswith(jobpod.WORKSPACE + "/"), path
    return workspace / path[len(jobpod.WORKSPACE) :].lstrip("/")


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT,
        start_new_session=True,  # no controlling terminal: git cannot prompt
    )


def _pipeline(
    tmp_path: Path,
    ci_yaml: str,
    event: GitEvent,
    server: Server,
    secrets: dict[tuple[str, str], str] | None = None,
    *,
    repository: str = REPOSITORY,
    script: str | None = None,
) -> Ran:
    if script is None:  # a tag push fetches its tag, which the options script does
        script = jobpod.CHECKOUT_SCRIPT if event.kind is EventKind.TAG else jobpod.INIT_SCRIPT
    checked = check(ci_yaml)
    assert checked.config is not None, checked.diagnostics
    result = plan(checked.config, event, Settings.embedded())
    assert result.workflow is not None, result.skipped
    spec = result.workflow["spec"]
    (template,) = [
        with_defaults(spec["templateDefaults"], t) for t in spec["templates"] if "container" in t
    ]
    (init,) = template["initContainers"]
    assert init["name"] == "checkout"
    assert init["command"] == ["sh", "-c", script]

    workspace, home = tmp_path / "workspace", tmp_path / "knargo"
    workspace.mkdir()
    home.mkdir()
    (tmp_path / "home").mkdir()
    image = git_env(tmp_path / "home")
    init_env = (
        image
        | _values(init, secrets or {})
        | {
            "KNARGO_HOME": str(home),
            "KNARGO_WORKSPACE": str(workspace),
            "KNARGO_CLONE_URL": server.url(repository),
        }
    )
    init_run = _run(init["command"], init_env, _local(init["workingDir"], workspace))
    if init_run.returncode != 0:
        return Ran(init_run, None, workspace, home, image)
    container = template["container"]
    assert all("value" in v for v in container["env"]), "the test's jobs use no secrets"
    job_env = image | _values(container, {}) | {"KNARGO_HOME": str(home)}
    job_run = _run(container["command"], job_env, _local(container["workingDir"], workspace))
    return Ran(init_run, job_run, workspace, home, image)


def _in_workspace(ran: Ran, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=ran.workspace,
        env=ran.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _assert_checked_out(ran: Ran, sha: str, *, fallback: bool) -> None:
    assert ran.init.returncode == 0, ran.init.stderr
    assert _in_workspace(ran, "rev-parse", "HEAD").stdout.strip() == sha
    assert f"knargo: checked out {sha}" in ran.init.stdout
    assert (FALLBACK in ran.init.stderr) is fallback, ran.init.stderr
    helpers = _in_workspace(
        ran, "config", "--file", ".git/config", "--get-all", "credential.helper"
    )
    assert helpers.returncode == 1, f"credential.helper left: {helpers.stdout}"
    assert "credential" not in (ran.workspace / ".git" / "config").read_text()
    assert ran.job is not None
    assert _in_workspace(ran, "status", "--porcelain", "-uno").stdout == ""


def _assert_exactly_one_commit(ran: Ran) -> None:
    """The shallow fetch by id: the commit alone, its parents not even known."""
    assert _in_workspace(ran, "rev-list", "--count", "--all").stdout.strip() == "1"
    assert (ran.workspace / ".git" / "shallow").is_file()


def _job_output(ran: Ran) -> str:
    assert ran.job is not None
    assert ran.job.returncode == 0, ran.job.stderr
    return ran.job.stdout


# Pushes, tags and pull requests, fetched by id over HTTP (v2) and git:// -------------------


@pytest.mark.parametrize("protocol", ["http", "git"])
def test_branch_push_gets_exactly_the_pushed_commit_not_the_tip(
    tmp_path: Path, upstream: Upstream, serve: Serve, protocol: str
) -> None:
    server = serve(protocol)
    event = _event("push", "refs/heads/main", upstream.main_build)
    ran = _pipeline(tmp_path, CAT_VERSION, event, server)
    _assert_checked_out(ran, upstream.main_build, fallback=False)
    _assert_exactly_one_commit(ran)
    if isinstance(server, GitHttpServer):
        assert server.protocols and set(server.protocols) == {"version=2"}, server.protocols
    for other in (upstream.main_tip, upstream.main_first):
        assert _in_workspace(ran, "cat-file", "-e", other).returncode != 0
    assert _job_output(ran) == "main-2"


def test_push_of_a_branch_with_a_slash(tmp_path: Path, upstream: Upstream, serve: Serve) -> None:
    event = _event("push", "refs/heads/feature/x", upstream.feature)
    ran = _pipeline(tmp_path, CAT_VERSION, event, serve())
    _assert_checked_out(ran, upstream.feature, fallback=False)
    _assert_exactly_one_commit(ran)
    assert _job_output(ran) == "feature-x"


@pytest.mark.parametrize("protocol", ["http", "git"])
def test_annotated_tag_gets_the_tagged_commit(
    tmp_path: Path, upstream: Upstream, serve: Serve, protocol: str
) -> None:
    event = _event("tag", "refs/tags/v1.0.0", upstream.tag_commit)
    ran = _pipeline(tmp_path, CAT_VERSION, event, serve(protocol))
    _assert_checked_out(ran, upstream.tag_commit, fallback=False)
    assert _in_workspace(ran, "cat-file", "-t", "HEAD").stdout.strip() == "commit"
    _assert_exactly_one_commit(ran)
    assert _job_output(ran) == "main-1"
    # The tag came with the commit, with no checkout: key, so `git describe` names it.
    assert _in_workspace(ran, "describe", "--tags").stdout.strip() == "v1.0.0"


PULL_REQUESTS = {
    "github-pull-7": ("github", 7, "pr7"),
    "gitea-pull-7": ("gitea", 7, "pr7"),
    "gitlab-merge-request-8": ("gitlab", 8, "mr8"),
}


@pytest.mark.parametrize("protocol", ["http", "git"])
@pytest.mark.parametrize("case", list(PULL_REQUESTS))
def test_fork_pull_request_gets_the_head_commit_from_the_fork(
    tmp_path: Path, upstream: Upstream, serve: Serve, case: str, protocol: str
) -> None:
    forge, number, head = PULL_REQUESTS[case]
    sha = getattr(upstream, head)
    event = _event("pull_request", "refs/heads/fix", sha, forge=forge, pr_number=number)
    ran = _pipeline(tmp_path, CAT_VERSION, event, serve(protocol))
    _assert_checked_out(ran, sha, fallback=False)
    _assert_exactly_one_commit(ran)
    assert _job_output(ran) == f"{head}-2"


# The fallback: a server that refuses to fetch a commit by id --------------------------------

REFUSED = {
    # A branch push whose commit is no longer the branch's tip.
    "branch-not-tip": ("push", "refs/heads/main", "main_build", "github", None, "main-2"),
    # The tag's commit is not advertised (only the tag object and its peeled line are).
    "annotated-tag": ("tag", "refs/tags/v1.0.0", "tag_commit", "github", None, "main-1"),
    # The pull request got another push after the event: its commit is reachable, not a tip.
    "github-pull-7": ("pull_request", "refs/heads/fix", "pr7_earlier", "github", 7, "pr7-1"),
    "gitlab-merge-request-8": (
        "pull_request",
        "refs/heads/gl-fix",
        "mr8_earlier",
        "gitlab",
        8,
        "mr8-1",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_fallback_fetches_the_event_ref_when_fetch_by_id_is_refused(
    tmp_path: Path, upstream: Upstream, serve: Serve, case: str
) -> None:
    kind, ref, commit, forge, number, expected = REFUSED[case]
    sha = getattr(upstream, commit)
    event = _event(kind, ref, sha, forge=forge, pr_number=number)
    server = serve(refuse_fetch_by_id=True)
    ran = _pipeline(tmp_path, CAT_VERSION, event, server)
    _assert_checked_out(ran, sha, fallback=True)
    assert f"does not allow request for unadvertised object {sha}" in ran.init.stderr
    assert server.protocols and set(server.protocols) == {""}, server.protocols
    assert _job_output(ran) == expected


def test_the_fallback_fetches_a_branch_whose_name_kubernetes_would_rewrite(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    event = _event("push", f"refs/heads/{DOLLARS}", upstream.main_build)
    ran = _pipeline(tmp_path, CAT_VERSION, event, serve(refuse_fetch_by_id=True))
    _assert_checked_out(ran, upstream.main_build, fallback=True)
    assert f"fetching refs/heads/{DOLLARS}" in ran.init.stderr
    assert _job_output(ran) == "main-2"


def test_a_tip_is_fetched_by_id_even_when_unadvertised_wants_are_refused(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    event = _event("pull_request", "refs/heads/fix", upstream.pr7, pr_number=7)
    ran = _pipeline(tmp_path, CAT_VERSION, event, serve(refuse_fetch_by_id=True))
    _assert_checked_out(ran, upstream.pr7, fallback=False)
    _assert_exactly_one_commit(ran)
    assert _job_output(ran) == "pr7-2"


# Private repositories: the forge token, through a credential helper that does not stay -----


@pytest.mark.parametrize("refuse_fetch_by_id", [False, True], ids=["by-id", "fallback"])
def test_private_repository_is_fetched_with_the_token(
    tmp_path: Path, upstream: Upstream, serve: Serve, refuse_fetch_by_id: bool
) -> None:
    server = serve(credentials=("x-access-token", TOKEN), refuse_fetch_by_id=refuse_fetch_by_id)
    event = _event("push", "refs/heads/main", upstream.main_build, private=True)
    secrets = {("knargo-forge-github", "token"): TOKEN}
    ran = _pipeline(tmp_path, CAT_VERSION, event, server, secrets)
    _assert_checked_out(ran, upstream.main_build, fallback=refuse_fetch_by_id)
    assert any(r.endswith(" 401") for r in server.requests), server.requests
    assert any(r.endswith(" 200") for r in server.requests), server.requests
    for leftover in (ran.init.stdout, ran.init.stderr, _job_output(ran)):
        assert TOKEN not in leftover
    for path in (ran.workspace / ".git").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert _job_output(ran) == "main-2"


def test_private_repository_without_the_token_fails(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    server = serve(credentials=("x-access-token", TOKEN))
    event = _event("push", "refs/heads/main", upstream.main_build, private=True)
    secrets = {("knargo-forge-github", "token"): "wrong"}
    ran = _pipeline(tmp_path, CAT_VERSION, event, server, secrets)
    assert ran.init.returncode != 0
    assert "Authentication failed" in ran.init.stderr
    assert ran.job is None


# The job's script and environment ----------------------------------------------------------

TEMPLATE = "{{workflow.name}} ${{ x }} 'q' \"dq\" ünï"
BYTE_FOR_BYTE = r"""jobs:
  build:
    image: alpine:3.20
    env:
      TEMPLATE: "{{workflow.name}} ${{ x }} 'q' \"dq\" ünï"
    run: |
      printf '%s' "$TEMPLATE" > out.txt
      cat "$KNARGO_HOME/script" > script-copy.txt
      printf '%s\n' '{{inputs.x}} ${{ x }} $(id) `id` \' "ünï"
"""
BYTE_FOR_BYTE_RUN = (
    "printf '%s' \"$TEMPLATE\" > out.txt\n"
    'cat "$KNARGO_HOME/script" > script-copy.txt\n'
    "printf '%s\\n' '{{inputs.x}} ${{ x }} $(id) `id` \\' \"ünï\"\n"
)


def test_script_and_env_values_arrive_byte_for_byte(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    event = _event("push", "refs/heads/main", upstream.main_build)
    ran = _pipeline(tmp_path, BYTE_FOR_BYTE, event, serve())
    _assert_checked_out(ran, upstream.main_build, fallback=False)
    assert _job_output(ran) == "{{inputs.x}} ${{ x }} $(id) `id` \\\nünï\n"
    assert (ran.workspace / "out.txt").read_bytes() == TEMPLATE.encode()
    assert (ran.workspace / "script-copy.txt").read_bytes() == BYTE_FOR_BYTE_RUN.encode()


def test_sh_stops_at_the_first_failing_command(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    ci_yaml = (
        "jobs:\n  build:\n    image: alpine:3.20\n    run: |\n"
        "      echo before\n      false\n      echo after\n"
    )
    event = _event("push", "refs/heads/main", upstream.main_build)
    ran = _pipeline(tmp_path, ci_yaml, event, serve())
    _assert_checked_out(ran, upstream.main_build, fallback=False)
    assert ran.job is not None
    assert ran.job.returncode != 0
    assert ran.job.stdout == "before\n"


@pytest.mark.parametrize(("shell", "fails"), [("bash", True), ("sh", False)])
def test_bash_fails_a_pipeline_whose_first_command_fails(
    tmp_path: Path, upstream: Upstream, serve: Serve, shell: str, fails: bool
) -> None:
    ci_yaml = (
        f"jobs:\n  build:\n    image: alpine:3.20\n    shell: {shell}\n    run: |\n"
        "      echo before\n      false | true\n      echo after\n"
    )
    event = _event("push", "refs/heads/main", upstream.main_build)
    ran = _pipeline(tmp_path, ci_yaml, event, serve())
    _assert_checked_out(ran, upstream.main_build, fallback=False)
    assert ran.job is not None
    assert (ran.job.returncode != 0) is fails
    assert ran.job.stdout == ("before\n" if fails else "before\nafter\n")


def test_working_directory_is_where_the_script_starts(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    ci_yaml = (
        "jobs:\n  build:\n    image: alpine:3.20\n    working-directory: sub/dir\n"
        '    run: |\n      pwd -P\n      cat marker.txt\n      echo "$KNARGO_SHA"\n'
    )
    event = _event("push", "refs/heads/main", upstream.main_build)
    ran = _pipeline(tmp_path, ci_yaml, event, serve())
    _assert_checked_out(ran, upstream.main_build, fallback=False)
    where = (ran.workspace / "sub" / "dir").resolve()
    assert _job_output(ran) == f"{where}\nmarker\n{upstream.main_build}\n"


def test_a_working_directory_the_checkout_lacks_fails_the_job_with_its_path(
    tmp_path: Path, upstream: Upstream, serve: Serve
) -> None:
    # A container's workingDir would be created by the runtime: the job's command enters it.
    ci_yaml = "jobs:\n  build:\n    image: alpine:3.20\n    working-directory: no/such\n"
    ci_yaml += "    run: echo ran\n"
    event = _event("push", "refs/heads/main", upstream.main_build)
    ran = _pipeline(tmp_path, ci_yaml, event, serve())
    _assert_checked_out(ran, upstream.main_build, fallback=False)
    assert ran.job is not None and ran.job.returncode == 1
    assert ran.job.stdout == ""
    assert 'working-directory "no/such" does not exist in the checkout' in ran.job.stderr
    assert not (ran.workspace / "no").exists()


# A commit the server does not have ---------------------------------------------------------


@pytest.mark.parametrize("refuse_fetch_by_id", [False, True], ids=["by-id", "fallback"])
def test_unknown_commit_fails_the_checkout_quickly(
    tmp_path: Path, upstream: Upstream, serve: Serve, refuse_fetch_by_id: bool
) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    event = _event("push", "refs/heads/main", sha)
    server = serve(refuse_fetch_by_id=refuse_fetch_by_id)
    started = time.monotonic()
    ran = _pipeline(tmp_path, CAT_VERSION, event, server)
    assert time.monotonic() - started < 10
    assert ran.init.returncode != 0
    assert ran.job is None
    assert FALLBACK in ran.init.stderr
    assert f"reference is not a tree: {sha}" in ran.init.stderr
    assert "knargo: checked out" not in ran.init.stdout
