"""`checkout:` in `knargo run`: the same init container, run on this machine.

The local executor runs the template's checkout script against the local repository (its
`file://` URL standing in for the forge's clone URL), so depth, tags, submodules and
`checkout: false` mean there what they mean in a pod. Each job checks its own checkout and
fails otherwise, so a passing run is the proof.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from test_local_kit import commit, make_repo
from test_local_run import knargo

CI = """\
jobs:
  default:
    image: alpine
    run: test "$(git rev-list --count HEAD)" = 1 && test -z "$(git tag -l)"
  shallow:
    image: alpine
    checkout: {depth: 2}
    run: test "$(git rev-list --count HEAD)" = 2
  history:
    image: alpine
    checkout: {depth: 0, tags: true}
    run: |
      test "$(git rev-list --count HEAD)" = 3
      git describe --tags > described.txt
      test "$(cat described.txt)" = "v1.0-1-g$(git rev-parse --short=7 HEAD)"
  nothing:
    image: alpine
    checkout: false
    run: test -z "$(ls -A)"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"ci.yaml": CI, "app.txt": "1\n"})
    commit(repo, {"app.txt": "2\n"}, "second")
    subprocess.run(["git", "-C", str(repo), "tag", "v1.0"], check=True)
    commit(repo, {"app.txt": "3\n"}, "third")
    return repo


def _passed(out: str, *jobs: str) -> None:
    for job in jobs:
        assert re.search(rf"^  {job} +passed in", out, re.M), out


def test_depth_tags_and_no_checkout_run_locally(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 0, out + err
    _passed(out, "default", "shallow", "history", "nothing")


def test_a_job_that_expects_a_checkout_fails_without_one(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repo, {"ci.yaml": CI.replace("checkout: {depth: 2}", "checkout: false")}, "no")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "shallow")
    assert code == 1
    assert re.search(r"^  shallow +failed", out, re.M), out


def test_a_local_tag_run_has_its_tag(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ci = "jobs:\n  release:\n    image: alpine\n    checkout: {depth: 1}\n"
    ci += '    run: test "$(git describe --tags)" = v2.0\n'
    commit(repo, {"ci.yaml": ci}, "release")
    subprocess.run(["git", "-C", str(repo), "tag", "-a", "v2.0", "-m", "2.0"], check=True)
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--event", "tag", "--tag", "v2.0")
    assert code == 0, out + err
    _passed(out, "release")


def test_submodules_beside_the_repository_are_fetched_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A relative submodule URL resolves against the local repository's path, as it resolves
    against the forge's clone URL in a pod."""
    lib = make_repo(tmp_path / "lib-work", {"lib.txt": "lib\n"})
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(lib), str(tmp_path / "lib.git")], check=True
    )
    lib_sha = subprocess.run(
        ["git", "-C", str(lib), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    ci = "jobs:\n  build:\n    image: alpine\n    checkout: {submodules: true}\n"
    ci += '    run: test "$(cat lib/lib.txt)" = lib\n'
    gitmodules = '[submodule "lib"]\n\tpath = lib\n\turl = ../lib.git\n'
    repo = make_repo(tmp_path / "app", {"ci.yaml": ci, ".gitmodules": gitmodules})
    for args in (
        ["update-index", "--add", "--cacheinfo", f"160000,{lib_sha},lib"],
        ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "lib"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    code, out, err = knargo(capsys, "run", "-C", str(repo))
    assert code == 0, out + err
    _passed(out, "build")
