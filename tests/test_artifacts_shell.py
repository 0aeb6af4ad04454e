"""The job command that keeps, restores and caches files, run with `sh` as the pod runs it.

Each test renders a one-job pipeline, takes the job's container as Argo would run it
(`templateDefaults` merged in), and runs its command in a directory standing in for the
pod's `/workspace` and `/knargo` volumes.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from knargo.contract.events import GitEvent
from knargo.language.lint import check
from knargo.translation.plan import plan
from knargo.translation.templates import with_defaults
from test_local_kit import settings
from test_translate_golden import BASE_EVENT


def _container(ci_yaml: str, job: str = "build", **event: Any) -> dict[str, Any]:
    checked = check(ci_yaml)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    found = plan(checked.config, GitEvent.model_validate({**BASE_EVENT, **event}), settings())
    assert found.workflow is not None
    spec = found.workflow["spec"]
    (template,) = [t for t in spec["templates"] if t["name"] == job]
    merged = with_defaults(spec["templateDefaults"], template)
    encoded = [e["value"] for e in merged["initContainers"][0]["env"] if e["name"] == "KNARGO_ENV"]
    return {**merged["container"], "env_file": base64.b64decode(encoded[0]) if encoded else b""}


def _run(container: dict[str, Any], pod: Path, script: str) -> subprocess.CompletedProcess[str]:
    home, workspace = pod / "knargo", pod / "workspace"
    home.mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    (home / "script").write_text(script)
    if container["env_file"]:  # what the checkout container decodes for the job's
        (home / "env").write_bytes(container["env_file"])
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {"PATH": os.environ["PATH"], "KNARGO_HOME": str(home)}
    return subprocess.run(
        container["command"], env=env, cwd=workspace, capture_output=True, text=True, timeout=30
    )


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def _job(artifacts: str = "", cache: str = "", extra: str = "") -> str:
    text = "jobs:\n  build:\n    image: alpine\n    run: make\n" + extra
    if artifacts:
        text += f"    artifacts: {artifacts}\n"
    if cache:
        text += f"    cache: {cache}\n"
    return text


def test_paths_globs_and_nested_paths_are_kept_once(tmp_path: Path) -> None:
    container = _container(
        _job(
            '{paths: [dist, dist/a.whl, "*.txt", "with space/", "$(touch pwned)"], optional: true}'
        )
    )
    script = (
        "mkdir -p dist 'with space' && echo a > dist/a.whl && echo b > dist/b.whl"
        " && echo r > report.txt && echo s > 'with space/f' && echo kept > src.py\n"
    )
    done = _run(container, tmp_path, script)
    assert done.returncode == 0, done.stdout + done.stderr
    kept = tmp_path / "workspace" / ".knargo-out" / "files"
    assert _files(kept) == {"dist/a.whl", "dist/b.whl", "report.txt", "with space/f"}
    assert not (tmp_path / "workspace" / "pwned").exists()
    assert 'optional artifact path "$(touch pwned)" does not exist' in done.stdout
    assert (tmp_path / "workspace" / "src.py").exists()


def test_a_missing_path_fails_the_job_naming_each_path(tmp_path: Path) -> None:
    container = _container(_job("{paths: [dist/, coverage.xml, 'logs/*.log']}"))
    done = _run(container, tmp_path, "mkdir dist && touch dist/x\n")
    assert done.returncode == 1
    assert (
        'artifact path "coverage.xml" "logs/*.log" does not exist when the job ends' in done.stderr
    )
    assert not (tmp_path / "workspace" / ".knargo-out").exists()


def test_a_failing_script_keeps_nothing_and_saves_no_cache(tmp_path: Path) -> None:
    container = _container(_job("{paths: [dist/]}", "{key: k, paths: [.cache]}"))
    done = _run(container, tmp_path, "mkdir -p dist .cache && touch dist/x .cache/y\nexit 3\n")
    assert done.returncode == 3
    assert not (tmp_path / "workspace" / ".knargo-out").exists()
    assert not (tmp_path / "knargo" / "cache" / "out").exists()


def test_received_files_are_in_the_checkout_before_the_script_starts(tmp_path: Path) -> None:
    text = _job("{paths: [dist/]}") + "  test:\n    needs: build\n    image: alpine\n    run: x\n"
    text += "    working-directory: sub\n"
    container = _container(text, "test")
    received = tmp_path / "knargo" / "in" / "build" / "dist"
    received.mkdir(parents=True)
    (received / "app.whl").write_text("wheel\n")
    (tmp_path / "workspace" / "sub").mkdir(parents=True)
    done = _run(container, tmp_path, 'test "$(cat ../dist/app.whl)" = wheel\n')
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored the artifacts of build" in done.stdout


def test_the_cache_key_covers_the_contents_of_its_files(tmp_path: Path) -> None:
    container = _container(_job(cache="{key: deps, files: [lock], paths: [.deps]}"))
    first = tmp_path / "first"
    (first / "workspace").mkdir(parents=True)
    (first / "workspace" / "lock").write_text("v1\n")
    done = _run(container, first, "mkdir -p .deps && echo 1 > .deps/blob\n")
    assert 'cache "deps" miss' in done.stdout and 'cache "deps" saved' in done.stdout
    saved = first / "knargo" / "cache" / "out"
    assert _files(saved) == {"digest", "files/.deps/blob"}

    def again(lock: str) -> str:
        pod = tmp_path / lock
        (pod / "workspace").mkdir(parents=True)
        (pod / "workspace" / "lock").write_text(lock)
        (pod / "knargo" / "cache").mkdir(parents=True)
        os.symlink(saved, pod / "knargo" / "cache" / "in")
        done = _run(container, pod, "test -f .deps/blob || echo no-blob\n")
        assert done.returncode == 0, done.stderr
        return done.stdout

    hit = again("v1\n")
    assert 'cache "deps" hit: restored' in hit and "no-blob" not in hit and "saved" not in hit
    miss = again("v2\n")
    assert 'cache "deps" miss' in miss and "no-blob" in miss and 'cache "deps" saved' in miss


@pytest.mark.parametrize("fork", [True, False])
def test_only_a_fork_is_told_not_to_save(tmp_path: Path, fork: bool) -> None:
    event = {"kind": "pull_request", "pr_number": 1, "head_repository": "x/api", "fork": fork}
    container = _container(_job(cache="{key: k, paths: [.c]}"), **event)
    done = _run(container, tmp_path, "mkdir .c && touch .c/f\n")
    assert done.returncode == 0, done.stderr
    assert ("not saved: a pull request from a fork" in done.stdout) is fork
    assert (tmp_path / "knargo" / "cache" / "out").exists() is not fork


def test_a_job_without_files_in_a_pipeline_with_files_runs_as_usual(tmp_path: Path) -> None:
    text = _job("{paths: [dist/]}") + "  other:\n    image: alpine\n    run: x\n"
    container = _container(text, "other")
    done = _run(container, tmp_path, 'echo "ran in $PWD"\nexit 4\n')
    assert done.returncode == 4
    assert done.stdout == f"ran in {tmp_path / 'workspace'}\n"
