"""`concurrency:` on a job: a mutex per repository and group (knargo.translation.mutexes),
the pending status of a job waiting for it, and the local executor honouring it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from argo_schemas import problems
from argo_sim import run
from knargo.config.settings import Settings
from knargo.contract.events import Envelope, GitEvent
from knargo.forges import STATUSES
from knargo.functions.report import report
from knargo.functions.status import Current, State, Update, due, from_workflow
from knargo.language.lint import check
from knargo.local.cluster import LocalCluster
from knargo.local.engine import Engine
from knargo.local.executor import Executor, Options
from knargo.local.secrets import Secrets
from knargo.translation.mutexes import group_name, mutex_name
from knargo.translation.plan import plan
from test_local_kit import commit, final_statuses, make_repo, push_event, settings, start_chain
from test_local_runcontrol import wait_for
from test_report import Cluster, Forge, updated

SETTINGS = Settings.embedded()
CI = """\
jobs:
  build: {image: alpine, run: make}
  deploy:
    needs: build
    image: alpine
    run: make deploy
    concurrency:
      group: deploy-${{ branch }}
"""


def event(repository: str = "acme/api", ref: str = "refs/heads/main", sha: str = "a") -> GitEvent:
    return GitEvent(
        forge_kind="github",
        forge_name="github",
        repository=repository,
        repository_url=f"https://github.com/{repository}",
        clone_url=f"https://github.com/{repository}.git",
        default_branch="main",
        kind="push",
        ref=ref,
        sha=sha * 40,
        delivery_id=f"d-{sha}",
    )


def workflow(git: GitEvent, text: str = CI) -> dict[str, Any]:
    config = check(text).config
    assert config is not None
    result = plan(config, git, SETTINGS)
    assert result.workflow is not None
    return dict(result.workflow)


def template(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in manifest["spec"]["templates"] if t["name"] == name)


def test_runs_of_one_repository_and_group_share_the_mutex_and_others_do_not() -> None:
    first, second = workflow(event(sha="a")), workflow(event(sha="b"))
    mutex = template(first, "deploy")["synchronization"]
    assert mutex == template(second, "deploy")["synchronization"]
    assert mutex["mutexes"][0]["name"].startswith("api-deploy-main-")
    assert "synchronization" not in template(first, "build")
    other_repo = workflow(event(repository="acme/web"))["spec"]
    other_branch = workflow(event(ref="refs/heads/next"))["spec"]
    for spec in (other_repo, other_branch):
        theirs = template({"spec": spec}, "deploy")["synchronization"]
        assert theirs != mutex
    assert problems(first) == []


@pytest.mark.parametrize(
    "group", ["deploy/prod", "x" * 300, "{{workflow.name}}", "   ", "émoji 🚀", "a--b"]
)
def test_a_mutex_name_is_valid_whatever_the_group_is(group: str) -> None:
    name = mutex_name("github", "acme/api", group)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 70
    assert name != mutex_name("github", "acme/api", group + "!")
    assert name != mutex_name("gitlab", "acme/api", group)


def test_group_values_are_the_events() -> None:
    pushed = event(ref="refs/heads/feature/x")
    assert group_name("d-${{ branch }}-${{event}}-${{ pull_request }}", pushed) == (
        "d-feature/x-push-"
    )


def test_a_job_waiting_for_its_group_is_pending_with_the_group_named() -> None:
    manifest = workflow(event(ref="refs/heads/feature"))
    snapshots = list(run(manifest, {}, held={"deploy"}))
    waiting = [s for s in snapshots if "synchronizationStatus" in str(s["status"]["nodes"])]
    assert waiting, "the simulation shows the node waiting for the lock"
    _, updates = from_workflow(waiting[0], "knargo", SETTINGS.argo_ui_url)
    by_context = {u.context: u for u in updates}
    assert by_context["knargo/deploy"].state is State.QUEUED
    assert by_context["knargo/deploy"].description == (
        "waiting for concurrency group deploy-feature"
    )
    assert by_context["knargo"].state is State.RUNNING


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_report_posts_the_wait_then_the_run_then_the_result(kind: str) -> None:
    forge, cluster = Forge(kind), Cluster()
    manifest = workflow(event(ref="refs/heads/feature"))
    for snapshot in run(manifest, {}, held={"deploy"}):
        cluster.workflow = snapshot
        report(updated(snapshot), SETTINGS, forge, cluster)
    deploy = [(p.state, p.description) for p in forge.posts if p.context == "knargo/deploy"]
    assert deploy[:2] == [
        (State.QUEUED, "queued"),
        (State.QUEUED, "waiting for concurrency group deploy-feature"),
    ]
    assert [state for state, _ in deploy[2:]] == [State.RUNNING, State.SUCCESS]
    pending = STATUSES[kind].states[State.QUEUED]  # type: ignore[index]
    assert forge.final()["knargo/deploy"][0] != pending


def test_an_argo_message_alone_is_read_as_waiting_too() -> None:
    """Older controllers set only the node's message."""
    manifest = workflow(event(ref="refs/heads/feature"))
    snapshot = next(
        s for s in run(manifest, {}, held={"deploy"}) if "Mutex" in str(s["status"]["nodes"])
    )
    for node in snapshot["status"]["nodes"].values():
        node.pop("synchronizationStatus", None)
    _, updates = from_workflow(snapshot, "knargo", SETTINGS.argo_ui_url)
    [deploy] = [u for u in updates if u.context == "knargo/deploy"]
    assert deploy.description == "waiting for concurrency group deploy-feature"


def test_a_run_cancelled_while_a_job_waits_for_its_group_shows_the_job_cancelled() -> None:
    manifest = workflow(event(ref="refs/heads/feature"))
    snapshot = next(
        s for s in run(manifest, {}, held={"deploy"}) if "Mutex" in str(s["status"]["nodes"])
    )
    snapshot["spec"]["shutdown"] = "Terminate"
    snapshot["metadata"]["annotations"]["knargo.dev/cancelled"] = "superseded by bbbbbbb"
    snapshot["status"].update(phase="Failed", message="Stopped with strategy 'Terminate'")
    _, updates = from_workflow(snapshot, "knargo", SETTINGS.argo_ui_url)
    [deploy] = [u for u in updates if u.context == "knargo/deploy"]
    assert (deploy.state, deploy.description) == (
        State.CANCELLED,
        "cancelled: superseded by bbbbbbb",
    )


# --- the local executor ------------------------------------------------------------------

DEPLOY = """\
env:
  OUT: {out}
jobs:
  deploy:
    image: alpine
    retries: {retries}
    concurrency:
      group: deploy-${{{{ branch }}}}
    run: |
      if [ -e "$OUT/busy" ]; then echo "$KNARGO_SHA" >> "$OUT/overlap"; fi
      touch "$OUT/busy"; sleep 0.4; rm "$OUT/busy"
      echo "$KNARGO_SHA" >> "$OUT/done"
"""


HOLD = 'i=0; while [ ! -f "$OUT/release" ] && [ $i -lt 2400 ]; do i=$((i+1)); sleep 0.05; done'
"""In place of the deploy's sleep: hold the group until the test creates `$OUT/release`."""


def deploy_ci(tmp_path: Path, retries: int = 0, hold: bool = False) -> tuple[Path, str]:
    """A folder for the jobs' evidence, and DEPLOY writing there."""
    out = tmp_path / "out"
    out.mkdir()
    text = DEPLOY.format(out=json.dumps(str(out)), retries=retries)
    return out, text.replace("sleep 0.4", HOLD) if hold else text


def run_pushes(
    tmp_path: Path, text: str, count: int, published: list[Envelope]
) -> tuple[LocalCluster, Executor, list[str]]:
    """`count` pushes of a new repository, their Workflows all submitted at once to one
    local executor; the cluster, the executor and the Workflows' names."""
    repo = make_repo(tmp_path / "repo", {"README.md": "one\n"})
    config = check(text).config
    assert config is not None
    workflows = []
    for index in range(count):
        commit(repo, {"README.md": f"{index}\n"})
        result = plan(config, push_event(repo), settings())
        assert result.workflow is not None
        workflows.append(result.workflow)
    cluster = LocalCluster(tmp_path / "cluster")
    executor = Executor(
        cluster,
        published.append,
        Options(
            runs=tmp_path / "runs",
            clone_url=repo.as_uri(),
            secrets=Secrets({}),
            engine=Engine("local"),
            base_env=dict(os.environ),
            backoff_scale=0.0,
        ),
    )
    cluster.watchers.append(executor.submit)
    for manifest in workflows:
        assert cluster.create_workflow(manifest)
    return cluster, executor, [w["metadata"]["name"] for w in workflows]


@pytest.mark.parametrize("retries", [0, 1])
def test_the_local_executor_never_overlaps_the_jobs_of_a_group(
    tmp_path: Path, retries: int
) -> None:
    out, text = deploy_ci(tmp_path, retries)
    published: list[Envelope] = []
    cluster, executor, names = run_pushes(tmp_path, text, 3, published)
    executor.wait(timeout=60)
    assert not (out / "overlap").exists()
    assert len((out / "done").read_text().split()) == 3
    waits = set()
    for envelope in published:
        for update in from_workflow(envelope.data, "knargo", "http://argo")[1]:
            if update.context == "knargo/deploy" and update.state is State.QUEUED:
                waits.add(update.description)
    assert "waiting for concurrency group deploy-main" in waits
    for name in names:
        stored = cluster.get_workflow("ci", name)
        assert stored is not None and stored["status"]["phase"] == "Succeeded"
        nodes = stored["status"]["nodes"].values()
        assert not any("synchronizationStatus" in node for node in nodes)


def test_a_run_terminated_while_its_job_waits_for_the_group_ends(tmp_path: Path) -> None:
    out, text = deploy_ci(tmp_path, hold=True)
    cluster, executor, names = run_pushes(tmp_path, text, 2, [])

    def waiting() -> str | None:
        for name in names:
            stored = cluster.get_workflow("ci", name) or {}
            if "synchronizationStatus" in json.dumps(stored.get("status") or {}):
                return name
        return None

    wait_for(waiting, timeout=90)
    waiter = waiting()
    assert waiter is not None
    assert cluster.patch_workflow("ci", waiter, {"spec": {"shutdown": "Terminate"}})
    (out / "release").touch()
    executor.wait(timeout=30)
    stored = cluster.get_workflow("ci", waiter)
    assert stored is not None and stored["status"]["phase"] == "Failed"
    assert len((out / "done").read_text().split()) == 1  # the terminated run's job never ran


def test_the_combinations_of_a_matrix_job_in_a_group_run_one_after_another(
    tmp_path: Path,
) -> None:
    out, text = deploy_ci(tmp_path)
    text = text.replace("    retries: 0\n", "    matrix: {region: [eu, us, ap]}\n")
    cluster, executor, [name] = run_pushes(tmp_path, text, 1, [])
    executor.wait(timeout=60)
    stored = cluster.get_workflow("ci", name)
    assert stored is not None and stored["status"]["phase"] == "Succeeded"
    assert not (out / "overlap").exists()
    assert len((out / "done").read_text().split()) == 3


def test_knargo_dev_posts_the_wait_and_runs_the_groups_jobs_one_at_a_time(
    tmp_path: Path,
) -> None:
    out, text = deploy_ci(tmp_path, hold=True)
    repo = make_repo(tmp_path / "repo", {"ci.yaml": text})
    chain = start_chain(repo)
    try:
        first = push_event(repo)
        commit(repo, {"README.md": "two\n"})
        second = push_event(repo)
        chain.publish(first)
        chain.publish(second)
        group = (State.QUEUED.value, "waiting for concurrency group deploy-main")

        def waiting() -> list[GitEvent]:
            return [
                e
                for e in (first, second)
                if final_statuses(chain, e.sha).get("knargo/deploy") == group
            ]

        wait_for(waiting, timeout=90)
        assert len(waiting()) == 1
        (out / "release").touch()
        assert chain.settle(60)
        for pushed in (first, second):
            assert final_statuses(chain, pushed.sha)["knargo/deploy"][0] == "success"
        assert not (out / "overlap").exists()
    finally:
        chain.stop()


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize(
    "waiting", ["waiting for concurrency group deploy-main", "waiting for approval (production)"]
)
def test_a_late_queued_never_hides_what_a_job_waits_for(kind: str, waiting: str) -> None:
    """generate's reply (every job queued) may arrive after the Workflow's first updates."""
    api = STATUSES[kind]  # type: ignore[index]
    url = "http://argo/workflows/ci/run-1"
    shown = [Current("knargo/deploy", api.states[State.QUEUED], waiting, f"{url}?nodeId=n")]
    late = [Update("knargo/deploy", State.QUEUED, "queued", url)]
    assert due(shown, late, api.states, api.final_states, api.description_limit) == []
    running = [Update("knargo/deploy", State.RUNNING, "running", url)]
    assert due(shown, running, api.states, api.final_states, api.description_limit) == running
