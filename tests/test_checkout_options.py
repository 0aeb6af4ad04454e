"""`checkout:` options run for real: the emitted init container against loopback git servers.

As in `test_checkout.py`, the Workflow comes from the real translator, and its `checkout` init
container and job command run with `sh` (only volume paths and the clone URL replaced). The
served forge holds `app.git` (seven commits on main, annotated tags `v0.1.0` on the first and
`v0.2.0` on the sixth, the seventh adding the submodule `lib` at `../lib.git`), `lib.git`
(with its own submodule `deep` at `../deep.git`, and a commit after the one `app` records)
and `deep.git`. The server's record of each
upload-pack request shows what the checkout asked for (`deepen 5`, tags).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitserver import TIMEOUT, GitHttpServer, author_env, git_env, missing_git
from knargo.contract.events import GitEvent
from knargo.translation import jobpod
from test_checkout import Ran, _event, _in_workspace, _pipeline
from test_script_transport import kubelet_expand

_MISSING = missing_git()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

APP = "app.git"
TOKEN = "s3cr3t-submodule-token"
ODD_TAG = "v$$(id)"
GITMODULE = '[submodule "{name}"]\n\tpath = {name}\n\turl = ../{name}.git\n'


@dataclass(frozen=True)
class Forge:
    root: Path
    commits: list[str]
    """main's commits, oldest first; the last adds the submodule."""
    lib: str
    deep: str


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def _repository(base: Path, env: dict[str, str], name: str) -> Path:
    work = base / "work" / name
    _git(base, env, "init", "-q", "-b", "main", str(work))
    return work


def _commit(
    work: Path, env: dict[str, str], message: str, submodule: tuple[str, str] | None = None
) -> str:
    (work / f"{work.name}.txt").write_text(message + "\n")
    _git(work, env, "add", "-A")
    if submodule is not None:
        name, sha = submodule
        (work / ".gitmodules").write_text(GITMODULE.format(name=name))
        _git(work, env, "add", ".gitmodules")
        _git(work, env, "update-index", "--add", "--cacheinfo", f"160000,{sha},{name}")
    _git(work, env, "commit", "-q", "-m", message)
    return _git(work, env, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def forge(tmp_path_factory: pytest.TempPathFactory) -> Forge:
    base = tmp_path_factory.mktemp("forge")
    (base / "home").mkdir()
    env = author_env(base / "home")
    deep_work = _repository(base, env, "deep")
    deep = _commit(deep_work, env, "deep")
    lib_work = _repository(base, env, "lib")
    _commit(lib_work, env, "lib-1")
    lib = _commit(lib_work, env, "lib-2", ("deep", deep))
    _commit(lib_work, env, "lib-3")  # the recorded commit is not the tip: fetched by id
    app = _repository(base, env, "app")
    commits = []
    for n in range(1, 8):
        commits.append(_commit(app, env, f"app-{n}", ("lib", lib) if n == 7 else None))
        if n in (1, 6):
            version = "v0.1.0" if n == 1 else "v0.2.0"
            _git(app, env, "tag", "-a", version, "-m", f"release {version}")
    root = base / "served"
    root.mkdir()
    for work in (app, lib_work, deep_work):
        _git(base, env, "clone", "-q", "--bare", str(work), str(root / f"{work.name}.git"))
    return Forge(root, commits, lib, deep)


Serve = Callable[..., GitHttpServer]


@pytest.fixture
def serve(forge: Forge) -> Iterator[Serve]:
    with ExitStack() as stack:

        def start(**options: Any) -> GitHttpServer:
            return stack.enter_context(GitHttpServer(forge.root, **options))

        yield start


def _ci(checkout: str, run: str = "echo ran") -> str:
    return f"jobs:\n  build:\n    image: alpine:3.20\n    checkout: {checkout}\n    run: {run}\n"


def _run(
    tmp_path: Path,
    checkout: str,
    event: GitEvent,
    server: GitHttpServer,
    run: str = "echo ran",
    secrets: dict[tuple[str, str], str] | None = None,
) -> Ran:
    ci_yaml = _ci(checkout, run)
    return _pipeline(
        tmp_path, ci_yaml, event, server, secrets, repository=APP, script=jobpod.CHECKOUT_SCRIPT
    )


def _output(ran: Ran) -> str:
    assert ran.init.returncode == 0, ran.init.stderr
    assert ran.job is not None
    assert ran.job.returncode == 0, ran.job.stderr
    return ran.job.stdout


def _push(forge: Forge, **fields: Any) -> GitEvent:
    return _event("push", "refs/heads/main", forge.commits[6], **fields)


def _tag_push(forge: Forge) -> GitEvent:
    return _event("tag", "refs/tags/v0.2.0", forge.commits[5])


def _count(ran: Ran) -> int:
    return int(_in_workspace(ran, "rev-list", "--count", "HEAD").stdout)


def _deepen(server: GitHttpServer) -> list[str]:
    return [d for upload in server.uploads for d in upload.values("deepen")]


# depth -------------------------------------------------------------------------------------


def test_depth_5_gives_5_commits(tmp_path: Path, forge: Forge, serve: Serve) -> None:
    server = serve()
    ran = _run(tmp_path, "{depth: 5}", _push(forge), server, "git log --format=%s")
    assert _output(ran).split() == [f"app-{n}" for n in (7, 6, 5, 4, 3)]
    assert _count(ran) == 5
    assert (ran.workspace / ".git" / "shallow").is_file()
    assert _deepen(server) == ["5"]


def test_depth_0_fetches_the_full_history(tmp_path: Path, forge: Forge, serve: Serve) -> None:
    server = serve()
    ran = _run(tmp_path, "{depth: 0}", _push(forge), server, "git log --format=%s")
    assert _output(ran).split() == [f"app-{n}" for n in range(7, 0, -1)]
    assert not (ran.workspace / ".git" / "shallow").exists()
    assert _deepen(server) == []
    assert _in_workspace(ran, "tag", "-l").stdout == ""  # tags: false


# tags --------------------------------------------------------------------------------------


def test_depth_0_with_tags_makes_git_describe_succeed_on_a_tag_push(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    ran = _run(tmp_path, "{depth: 0, tags: true}", _tag_push(forge), serve(), "git describe")
    assert _output(ran) == "v0.2.0\n"
    assert _in_workspace(ran, "tag", "-l").stdout.split() == ["v0.1.0", "v0.2.0"]
    assert _in_workspace(ran, "rev-parse", "HEAD").stdout.strip() == forge.commits[5]


def test_depth_0_with_tags_describes_a_branch_push_from_the_nearest_tag(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    ran = _run(tmp_path, "{depth: 0, tags: true}", _push(forge), serve(), "git describe")
    assert _output(ran) == f"v0.2.0-1-g{forge.commits[6][:7]}\n"


def test_a_tag_push_has_its_own_tag_without_tags(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    ran = _run(tmp_path, "{depth: 1}", _tag_push(forge), serve(), "git describe --tags")
    assert _output(ran) == "v0.2.0\n"
    assert _in_workspace(ran, "tag", "-l").stdout.split() == ["v0.2.0"]
    assert _count(ran) == 1


def test_a_tag_whose_name_argo_or_kubernetes_would_rewrite_is_fetched(
    tmp_path: Path, forge: Forge
) -> None:
    root = tmp_path / "served"
    shutil.copytree(forge.root, root)
    (tmp_path / "git-home").mkdir()
    env = author_env(tmp_path / "git-home")
    _git(root / APP, env, "tag", "-a", "-m", "odd", ODD_TAG, forge.commits[4])
    event = _event("tag", f"refs/tags/{ODD_TAG}", forge.commits[4])
    with GitHttpServer(root, refuse_fetch_by_id=True) as server:
        ran = _run(tmp_path, "{depth: 1}", event, server, "git describe")
    assert f"fetching refs/tags/{ODD_TAG}" in ran.init.stderr
    assert _output(ran) == f"{ODD_TAG}\n"


def test_a_tag_push_gets_its_tag_when_fetch_by_id_is_refused(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    server = serve(refuse_fetch_by_id=True)
    # v0.2.0's commit is not main's tip, so the server refuses it by id.
    ran = _run(tmp_path, "{depth: 0, tags: true}", _tag_push(forge), server, "git describe")
    assert "by id failed; fetching refs/tags/v0.2.0" in ran.init.stderr
    assert _output(ran) == "v0.2.0\n"


def test_the_tags_are_asked_for_only_with_tags(tmp_path: Path, forge: Forge, serve: Serve) -> None:
    """The fetch wants the commit alone, or with `tags: true` also both tag objects."""
    home = tmp_path / "home-for-rev-parse"
    home.mkdir()
    env = git_env(home)
    tag_objects = _git(forge.root / APP, env, "rev-parse", "v0.1.0", "v0.2.0").split()
    wanted = {}
    for tags in ("false", "true"):
        server = serve()
        where = tmp_path / tags
        where.mkdir()
        _output(_run(where, f"{{depth: 0, tags: {tags}}}", _push(forge), server))
        wanted[tags] = sorted(w for upload in server.uploads for w in upload.values("want"))
    assert wanted == {
        "false": [forge.commits[6]],
        "true": sorted([forge.commits[6], *tag_objects]),
    }


# submodules --------------------------------------------------------------------------------


def test_submodules_true_fetches_nested_submodules(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    ran = _run(tmp_path, "{submodules: true}", _push(forge), serve(), "cat lib/lib.txt")
    assert _output(ran) == "lib-2\n"
    assert (ran.workspace / "lib" / "deep" / "deep.txt").read_text() == "deep\n"
    status = _in_workspace(ran, "submodule", "status", "--recursive").stdout
    assert f" {forge.lib} lib" in status and f" {forge.deep} lib/deep" in status
    assert "-" not in {line[0] for line in status.splitlines()}  # all initialised


@pytest.mark.parametrize(("depth", "commits"), [(1, "1"), (3, "1"), (0, "2")])
def test_submodules_are_shallow_unless_the_depth_is_0(
    tmp_path: Path, forge: Forge, serve: Serve, depth: int, commits: str
) -> None:
    checkout = f"{{depth: {depth}, submodules: true}}"
    ran = _run(tmp_path, checkout, _push(forge), serve(), "git -C lib rev-list --count HEAD")
    assert _output(ran) == commits + "\n"


def test_without_submodules_the_submodule_stays_empty(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    server = serve()
    ran = _run(tmp_path, "{depth: 1}", _push(forge), server)
    _output(ran)
    assert list((ran.workspace / "lib").iterdir()) == []
    assert not any("lib.git" in request for request in server.requests)


def test_submodules_of_a_private_repository_get_the_forge_token(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    server = serve(credentials=("x-access-token", TOKEN))
    event = _push(forge, private=True)
    secrets = {("knargo-forge-github", "token"): TOKEN}
    ran = _run(tmp_path, "{submodules: true}", event, server, "cat lib/deep/deep.txt", secrets)
    assert _output(ran) == "deep\n"
    for repository in ("app.git", "lib.git", "deep.git"):
        assert f"POST /{repository}/git-upload-pack 200" in server.requests
    _assert_token_left_nowhere(ran)


def test_a_fork_pull_request_offers_the_token_to_its_own_repository_only(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    """A fork writes `.gitmodules`: a submodule it names on the same forge gets no token."""
    server = serve(credentials=("x-access-token", TOKEN))
    event = _event("pull_request", "refs/heads/fix", forge.commits[6], pr_number=7, private=True)
    secrets = {("knargo-forge-github", "token"): TOKEN}
    ran = _run(tmp_path, "{submodules: true}", event, server, secrets=secrets)
    assert ran.init.returncode != 0 and ran.job is None
    assert "POST /app.git/git-upload-pack 200" in server.requests
    assert not any(
        r.startswith(("GET /lib.git", "POST /lib.git")) and r.endswith(" 200")
        for r in server.requests
    ), server.requests
    assert TOKEN not in ran.init.stdout + ran.init.stderr


def test_a_public_submodule_of_a_fork_pull_request_is_fetched(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    server = serve(credentials=("x-access-token", TOKEN), private=frozenset({APP}))
    event = _event("pull_request", "refs/heads/fix", forge.commits[6], pr_number=7, private=True)
    secrets = {("knargo-forge-github", "token"): TOKEN}
    ran = _run(tmp_path, "{submodules: true}", event, server, "cat lib/lib.txt", secrets)
    assert _output(ran) == "lib-2\n"


def _assert_token_left_nowhere(ran: Ran) -> None:
    assert ran.job is not None
    for text in (ran.init.stdout, ran.init.stderr, ran.job.stdout, ran.job.stderr):
        assert TOKEN not in text
    for path in ran.workspace.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    configs = list(ran.workspace.rglob("config"))
    assert len(configs) >= 3  # the repository's and its two submodules' (.git/modules)
    for config in configs:
        assert "credential" not in config.read_text(errors="replace"), config


# checkout: false ---------------------------------------------------------------------------


def test_checkout_false_leaves_an_empty_workspace_and_runs_the_script(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    server = serve()
    ran = _run(tmp_path, "false", _push(forge), server, "ls -A; echo ran in $(pwd -P)")
    assert _output(ran) == f"ran in {ran.workspace.resolve()}\n"
    assert list(ran.workspace.iterdir()) == []
    assert server.requests == []
    assert "knargo: no checkout (checkout: false)" in ran.init.stdout


def test_a_working_directory_without_a_checkout_must_exist(
    tmp_path: Path, forge: Forge, serve: Serve
) -> None:
    ci_yaml = _ci("false") + "    working-directory: dist\n"
    ran = _pipeline(
        tmp_path, ci_yaml, _push(forge), serve(), repository=APP, script=jobpod.CHECKOUT_SCRIPT
    )
    assert ran.job is not None and ran.job.returncode == 1
    assert 'working-directory "dist" does not exist' in ran.job.stderr


# the script itself -------------------------------------------------------------------------


def test_the_checkout_script_is_text_neither_argo_nor_kubernetes_rewrites() -> None:
    for script in (jobpod.INIT_SCRIPT, jobpod.CHECKOUT_SCRIPT):
        assert "{{" not in script and "$$" not in script
        assert not re.search(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", script)
        assert kubelet_expand(script, {"KNARGO_SHA": "x", "KNARGO_CHECKOUT": "y"}) == script
