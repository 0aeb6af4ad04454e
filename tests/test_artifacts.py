"""Artifacts and caches: the rendered Workflow (fork rule included) and local runs under
`.knargo/` (build → test → publish, a missing path, a cache hit, a fork that never writes)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from argo_schemas import problems
from knargo.contract.events import EventKind, GitEvent
from knargo.language.artifacts import overlaps
from knargo.language.lint import check
from knargo.local.cluster import LocalCluster
from knargo.local.engine import Engine
from knargo.local.executor import Executor, Options
from knargo.local.files import Store
from knargo.local.secrets import Secrets
from knargo.translation import artifacts
from knargo.translation.plan import plan
from knargo.translation.templates import with_defaults
from test_local_kit import Executed, make_repo, push_event, settings
from test_translate_golden import BASE_EVENT

KNATIVE = Path(__file__).parent.parent / "knative"

PIPELINE = """\
jobs:
  build:
    image: alpine
    run: |
      mkdir -p dist .cache/deps
      echo wheel > dist/app.whl
      [ -f .cache/deps/blob ] || head -c 50000 /dev/zero > .cache/deps/blob
    artifacts:
      paths: [dist/]
    cache:
      key: deps
      files: requirements.txt
      paths: .cache/deps
  test:
    needs: build
    image: alpine
    run: test "$(cat dist/app.whl)" = wheel
  publish:
    needs: [build, test]
    image: alpine
    run: ls dist/app.whl
"""

FORK = {
    "kind": "pull_request",
    "ref": "refs/heads/feature",
    "base_ref": "refs/heads/main",
    "pr_number": 42,
    "head_repository": "contributor/api",
    "fork": True,
}


def _workflow(text: str, **event: Any) -> dict[str, Any]:
    checked = check(text)
    assert checked.config is not None, checked.diagnostics
    found = plan(checked.config, GitEvent.model_validate({**BASE_EVENT, **event}), settings())
    assert found.workflow is not None
    return dict(found.workflow)


def _templates(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = workflow["spec"]
    return {t["name"]: with_defaults(spec["templateDefaults"], t) for t in spec["templates"]}


def _outputs(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a
        for t in _templates(workflow).values()
        for a in (t.get("outputs") or {}).get("artifacts", [])
    ]


def test_the_producer_keeps_and_the_consumers_receive() -> None:
    workflow = _workflow(PIPELINE)
    assert problems(workflow) == []
    templates = _templates(workflow)
    (files,) = [a for a in templates["build"]["outputs"]["artifacts"] if a["name"] == "files"]
    assert files["s3"]["key"] == "knargo/artifacts/7d/{{workflow.name}}/build.tgz"
    tasks = {t["name"]: t for t in templates["pipeline"]["dag"]["tasks"]}
    source = "{{tasks.build.outputs.artifacts.files}}"
    assert tasks["test"]["arguments"]["artifacts"] == [{"name": "from-build", "from": source}]
    assert tasks["publish"]["arguments"]["artifacts"] == [{"name": "from-build", "from": source}]
    assert "arguments" not in tasks["build"]
    assert workflow["spec"]["artifactRepositoryRef"] == {
        "configMap": "artifact-repositories",
        "key": "default",
    }


def test_a_pipeline_without_files_is_unchanged() -> None:
    workflow = _workflow("jobs:\n  a: {image: alpine, run: 'true'}\n")
    assert "artifactRepositoryRef" not in workflow["spec"]
    assert _outputs(workflow) == []


def test_every_job_of_a_pipeline_with_files_shares_one_command() -> None:
    text = "jobs:\n  a: {image: alpine, run: 'true', artifacts: {paths: [x]}}\n"
    text += "  b: {image: alpine, run: 'true'}\n"
    spec = _workflow(text)["spec"]
    assert spec["templateDefaults"]["container"]["command"] == artifacts.files_command("sh")
    assert [t["container"].get("command") for t in spec["templates"][1:]] == [None, None]


def test_scheduled_runs_keep_and_cache_files_too() -> None:
    checked = check('on:\n  push:\n  schedule: [{cron: "0 3 * * *"}]\n' + PIPELINE)
    assert checked.config is not None, checked.diagnostics
    found = plan(checked.config, GitEvent.model_validate(BASE_EVENT), settings())
    (cron,) = found.cron_workflows
    assert problems(dict(cron)) == []
    spec: Any = cron["spec"]["workflowSpec"]
    assert spec["artifactRepositoryRef"]["key"] == "default"
    keys = [
        a["s3"]["key"] for t in spec["templates"] for a in t.get("outputs", {}).get("artifacts", [])
    ]
    assert "knargo/artifacts/7d/{{workflow.name}}/build.tgz" in keys


def test_a_fork_reads_caches_and_has_no_way_to_write_one() -> None:
    workflow = _workflow(PIPELINE, **FORK)
    assert problems(workflow) == []
    templates = _templates(workflow)
    # It reads: the cache's input artifact is there.
    inputs = templates["build"]["inputs"]["artifacts"]
    assert [a["s3"]["key"] for a in inputs if a["name"] == "cache"] == [
        artifacts.cache_key(GitEvent.model_validate({**BASE_EVENT, **FORK}), "deps")
    ]
    # No write path: no output artifact under the caches' prefix ...
    written = [a["s3"]["key"] for a in _outputs(workflow)]
    assert written and not [k for k in written if k.startswith(artifacts.CACHE_PREFIX)]
    # ... the job's command is told not to stage one ...
    env = {e["name"]: e.get("value") for e in templates["build"]["container"]["env"]}
    assert env["KNARGO_CACHE_SAVE"] == "false"
    # ... and the repository it names holds a credential that cannot write caches.
    assert workflow["spec"]["artifactRepositoryRef"]["key"] == artifacts.FORK_KEY
    repositories = _repositories()
    fork_secret = repositories[artifacts.FORK_KEY]["s3"]["accessKeySecret"]["name"]
    assert fork_secret != repositories["default"]["s3"]["accessKeySecret"]["name"]
    assert not re.search(r"secretKeyRef:\s*\n\s*name: knargo-artifacts", yaml.safe_dump(workflow))
    policy = _policy(fork_secret)
    assert _may_write(policy, "knargo/artifacts/7d/wf/build.tgz")
    assert not _may_write(policy, written[0].replace("artifacts/7d/{{workflow.name}}", "cache/x"))
    assert not _may_write(policy, f"{artifacts.CACHE_PREFIX}/anything.tgz")
    own = _policy(repositories["default"]["s3"]["accessKeySecret"]["name"])
    assert _may_write(own, f"{artifacts.CACHE_PREFIX}/anything.tgz")


def test_the_same_pull_request_from_the_repository_itself_writes_its_cache() -> None:
    workflow = _workflow(PIPELINE, **{**FORK, "fork": False, "head_repository": "acme/api"})
    assert [k for a in _outputs(workflow) if (k := a["s3"]["key"]).startswith("knargo/cache/")]
    assert workflow["spec"]["artifactRepositoryRef"]["key"] == "default"


def _repositories() -> dict[str, Any]:
    documents = yaml.safe_load_all((KNATIVE / "artifact-repositories.yaml").read_text())
    (config_map,) = [d for d in documents if d and d["kind"] == "ConfigMap"]
    assert config_map["metadata"]["name"] == artifacts.CONFIG_MAP
    return {k: yaml.safe_load(v) for k, v in config_map["data"].items()}


def _policy(secret: str) -> dict[str, Any]:
    """The bucket policy docs/deploy.md attaches to the user whose keys `secret` holds."""
    return dict(json.loads((KNATIVE / "minio" / f"{secret}.json").read_text()))


def _may_write(policy: dict[str, Any], key: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"]
        if statement["Effect"] == "Allow" and any(a in ("s3:PutObject", "s3:*") for a in actions):
            for resource in statement["Resource"]:
                prefix = resource.removeprefix("arn:aws:s3:::knargo/")
                if (prefix.endswith("*") and key.startswith(prefix[:-1])) or prefix == key:
                    return True
    return False


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("dist/", "dist/*.whl", True),
        ("./dist", "dist", True),
        ("dist", "dist-docs", False),
        ("build/*.whl", "build/*.tar.gz", False),
        ("out/a", "out/b", False),
        ("*", "anything/deep", True),
    ],
)
def test_overlapping_paths(first: str, second: str, expected: bool) -> None:
    assert overlaps(first, second) is expected
    assert overlaps(second, first) is expected


# Local runs: the whole chain of files on one machine, as Argo would move them.


def _run(repo: Path, tmp: Path, text: str, **event: Any) -> Executed:
    checked = check(text)
    assert checked.config is not None, checked.diagnostics
    git_event = push_event(repo)
    if event:
        git_event = git_event.model_copy(update=event)
    workflow = plan(checked.config, git_event, settings()).workflow
    assert workflow is not None
    cluster = LocalCluster(tmp / "cluster")
    executor = Executor(
        cluster,
        lambda _: None,
        Options(
            runs=tmp / "runs",
            clone_url=repo.as_uri(),
            secrets=Secrets({}),
            engine=Engine("local"),
            base_env=dict(os.environ),
            backoff_scale=0.0,
        ),
    )
    cluster.watchers.append(executor.submit)
    assert cluster.create_workflow(workflow)
    executor.wait(timeout=60)
    meta = workflow["metadata"]
    stored = cluster.get_workflow(meta["namespace"], meta["name"])
    assert stored is not None
    return Executed(stored, [], tmp / "runs")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"ci.yaml": PIPELINE, "requirements.txt": "flask==3.0\n"})


def _phases(run: Executed) -> dict[str, str]:
    return {
        name: node["phase"]
        for name, node in run.nodes.items()
        if name != run.workflow["metadata"]["name"]
    }


def test_build_test_publish_pass_dist_along_and_a_second_run_hits_the_cache(
    repo: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = _run(repo, state, PIPELINE)
    assert _phases(first) == {"build": "Succeeded", "test": "Succeeded", "publish": "Succeeded"}
    assert 'cache "deps" miss' in first.log("build")
    assert re.search(r'cache "deps" saved: \d+ KiB', first.log("build"))
    assert "restored the artifacts of build" in first.log("test")
    assert "restored the artifacts of build" in first.log("publish")
    name = first.workflow["metadata"]["name"]
    assert (state / "artifacts" / "7d" / name / "build" / "dist" / "app.whl").read_text() == (
        "wheel\n"
    )
    second = _run(repo, state, PIPELINE)
    assert second.workflow["metadata"]["name"] != name
    assert re.search(r'cache "deps" hit: restored \d+ KiB', second.log("build"))
    assert "saved" not in second.log("build")


def test_a_missing_artifact_path_fails_build_and_names_the_path(repo: Path, tmp_path: Path) -> None:
    text = PIPELINE.replace("paths: [dist/]", "paths: [dist/, reports/junit.xml]")
    run = _run(repo, tmp_path / "state", text)
    assert _phases(run) == {"build": "Failed", "test": "Omitted", "publish": "Omitted"}
    assert 'artifact path "reports/junit.xml" does not exist' in run.log("build")
    optional = text.replace(
        "paths: [dist/, reports/junit.xml]", "{paths: [dist/, x], optional: true}"
    )
    optional = optional.replace("artifacts:\n      {", "artifacts: {")
    passed = _run(repo, tmp_path / "state", optional)
    assert _phases(passed)["publish"] == "Succeeded", passed.log("build")


def test_a_fork_run_reads_the_cache_and_writes_none(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    fork = {
        "kind": EventKind.PULL_REQUEST,
        "fork": True,
        "pr_number": 7,
        "head_repository": "someone/repo",
        "base_ref": "refs/heads/main",
    }
    cold = _run(repo, state, PIPELINE, **fork)
    assert _phases(cold)["publish"] == "Succeeded"
    assert "not saved: a pull request from a fork" in cold.log("build")
    assert not (state / "cache").exists()
    _run(repo, state, PIPELINE)  # the base repository's own push fills the cache
    caches = sorted((state / "cache").rglob("digest"))
    assert len(caches) == 1
    before = caches[0].stat().st_mtime_ns
    warm = _run(repo, state, PIPELINE, **fork)
    assert re.search(r'cache "deps" hit', warm.log("build"))
    assert sorted((state / "cache").rglob("digest")) == caches
    assert caches[0].stat().st_mtime_ns == before


def test_expired_artifacts_are_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path)
    old = tmp_path / "artifacts" / "1d" / "run-a"
    kept = tmp_path / "artifacts" / "3d" / "run-a"
    for directory in (old, kept):
        directory.mkdir(parents=True)
    now = old.stat().st_mtime + 2 * 86_400
    assert store.expire(now) == [old]
    assert kept.is_dir()


def test_the_artifact_repository_keys_are_templates_without_values() -> None:
    documents = [
        d for d in yaml.safe_load_all((KNATIVE / "artifact-repositories.yaml").read_text()) if d
    ]
    secrets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Secret"}
    named = {
        selector["name"]
        for repository in _repositories().values()
        for field, selector in repository["s3"].items()
        if field.endswith("Secret")
    }
    assert named == set(secrets) == {"knargo-artifacts", "knargo-artifacts-fork"}
    assert all("data" not in s and "stringData" not in s for s in secrets.values())


def test_the_demo_shows_an_artifact_passed_and_a_cache_hit_on_the_second_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from knargo.local import demo

    assert demo.main(["--source", str(KNATIVE.parent / "examples" / "demo")]) == 0
    out = capsys.readouterr().out
    assert re.search(r'cache "deps" miss\n.*\n.*\n  \| knargo: cache "deps" saved: \d+ KiB', out)
    assert re.search(r'cache "deps" hit: restored \d+ KiB', out)
    assert out.index('"deps" saved') < out.index('"deps" hit')
    assert re.search(r"restored the artifacts of build \(\d+ KiB\)", out)
    assert "publishing dist/greeting.txt: Hello, knargo demo!" in out


def test_saving_an_object_replaces_the_older_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    template = {
        "outputs": {
            "artifacts": [
                {
                    "name": "cache",
                    "path": "/knargo/cache/out",
                    "s3": {"key": "knargo/cache/r/k.tgz"},
                }
            ]
        }
    }
    for content in ("first", "second"):
        out = tmp_path / content / "knargo" / "cache" / "out"
        out.mkdir(parents=True)
        (out / "digest").write_text(content)
        store.save(template, "wf", tmp_path / content)
        assert not out.exists()
    saved = tmp_path / "store" / "cache" / "r" / "k"
    assert (saved / "digest").read_text() == "second"
    assert [p.name for p in saved.parent.iterdir()] == ["k"]


def test_a_job_that_makes_the_path_itself_gets_no_warning() -> None:
    text = """\
jobs:
  linux:
    image: alpine
    run: make dist/ && ls dist/
    artifacts: {paths: [dist/]}
  mac:
    image: alpine
    run: make dist/ && ls dist/
    artifacts: {paths: [dist/]}
  report:
    image: alpine
    run: ls dist/
"""
    found = [(d.line, d.message.split(",")[1]) for d in check(text).diagnostics]
    assert found == [(12, ' an artifact of job "linux"'), (12, ' an artifact of job "mac"')]
