"""Concurrency groups: a newer run terminates the older runs of its group, in the forge's
commit order whatever order and however often the deliveries arrive.

generate runs end to end (the real `kubernetes` client against the loopback API server,
ci.yaml and compares from the loopback forge); report's statuses of a terminated run come from
`knargo.functions.status` with each forge's state names.
"""

# ruff: noqa: F811  (tests take the imported `env` fixture by its name)
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from forgefake import ForgeFake
from knargo.contract import events
from knargo.contract.events import ForgeKind
from knargo.forges import STATUSES
from knargo.functions import status
from test_generate_function import Env, env, pull_request, push, reply  # noqa: F401

BASE, OLD, NEW = "a" * 40, "b" * 40, "c" * 40  # OLD's parent is BASE, NEW's is OLD
CI = """\
jobs:
  build: {image: alpine, run: make}
  test: {image: alpine, run: make test, needs: build}
"""
GROUPED = "concurrency:\n  group: deploy-${{ branch }}\n  cancel-in-progress: true\n" + CI


def history(forge: ForgeFake, text: str = CI) -> None:
    forge.add_commit("github", "acme/api", BASE)
    forge.add_commit("github", "acme/api", OLD, parents=[BASE])
    forge.add_commit("github", "acme/api", NEW, parents=[OLD])
    for sha in (BASE, OLD, NEW):
        forge.add_file("github", "acme/api", sha, "ci.yaml", text.encode())


def runs(env: Env) -> dict[str, dict[str, Any]]:
    """sha → the run of that commit (one each in these tests)."""
    return {w["metadata"]["annotations"]["knargo.dev/sha"]: w for w in env.workflows()}


def patches(env: Env) -> list[Any]:
    return [r.body for r in env.kube.requests if r.method == "PATCH" and "/workflows/" in r.path]


def pr(sha: str, delivery: str, with_before: bool = True) -> Any:
    before = {OLD: BASE, NEW: OLD}[sha] if with_before else None
    return pull_request(sha=sha, before=before, delivery=delivery)


ORDERS = [
    ("old", "new"),
    ("new", "old"),
    ("old", "new", "old", "new"),
    ("new", "old", "new", "old"),
]


@pytest.mark.parametrize("with_before", [True, False], ids=["before", "compare"])
@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_only_the_newer_commit_keeps_running(
    env: Env, order: tuple[str, ...], with_before: bool
) -> None:
    """`before` (GitHub's synchronize) orders without an API call; without it (Gitea's
    pull_request payloads) the forge's compare does."""
    history(env.forge)
    deliveries = {"old": (OLD, "d-old"), "new": (NEW, "d-new")}
    answers = [reply(env.post(pr(*deliveries[name], with_before))) for name in order]
    found = runs(env)
    assert NEW in found, "the newer commit always runs"
    assert found[NEW]["spec"].get("shutdown") is None
    if OLD in found:  # the older commit ran only when it arrived first
        assert order[0] == "old"
        assert found[OLD]["spec"]["shutdown"] == "Terminate"
        assert (
            found[OLD]["metadata"]["annotations"]["knargo.dev/cancelled"] == "superseded by ccccccc"
        )
    else:
        assert order[0] == "new"
    old_answers = [a for a, name in zip(answers, order, strict=True) if name == "old"]
    late = old_answers[1:] if order[0] == "old" else old_answers
    for answer in late:
        assert answer.type == events.PIPELINE_SKIPPED
        assert answer.data["reason"].startswith("superseded by ccccccc")
        assert answer.data["report"] is False
    assert len(patches(env)) == (1 if order[0] == "old" else 0), "terminated once at most"


def test_a_run_of_the_same_commit_is_left_alone(env: Env) -> None:
    history(env.forge)
    reply(env.post(pr(NEW, "d-1")))
    reply(env.post(pr(NEW, "d-2")))  # a replay with a new delivery id (Gitea does that)
    assert len(env.workflows()) == 2 and patches(env) == []


def test_a_finished_run_is_not_patched(env: Env) -> None:
    history(env.forge)
    reply(env.post(pr(OLD, "d-old")))
    (done,) = env.workflows()
    done["status"] = {"phase": "Succeeded"}
    env.kube.put_object(done, "workflows")
    reply(env.post(pr(NEW, "d-new")))
    assert patches(env) == []


def test_other_pull_requests_and_pushes_are_other_groups(env: Env) -> None:
    history(env.forge)
    reply(env.post(pr(OLD, "d-old")))
    other_pr = pull_request(sha=NEW, before=OLD, delivery="d-8").model_copy(update={"pr_number": 8})
    reply(env.post(other_pr))
    reply(env.post(push(sha=NEW, before=OLD, delivery="d-push")))
    assert patches(env) == [] and len(env.workflows()) == 3


def test_pushes_to_the_default_branch_run_side_by_side(env: Env) -> None:
    history(env.forge)
    for sha, before in ((OLD, BASE), (NEW, OLD)):
        reply(env.post(push(sha=sha, before=before, delivery=f"d-{sha[:1]}")))
    assert len(env.workflows()) == 2 and patches(env) == []


def test_a_group_of_concurrency_cancels_older_pushes_of_the_branch(env: Env) -> None:
    history(env.forge, GROUPED)
    reply(env.post(push(sha=OLD, before=BASE, delivery="d-old")))
    other = reply(env.post(push(ref="refs/heads/dev", sha=OLD, before=BASE, delivery="d-dev")))
    assert other.type == events.PIPELINE_SUBMITTED
    newer = reply(env.post(push(sha=NEW, before=OLD, delivery="d-new")))
    found = {w["metadata"]["name"]: w for w in env.workflows()}
    new_run = found[newer.data["workflow"]]
    assert new_run["metadata"]["annotations"]["knargo.dev/concurrency"] == "deploy-main"
    stopped = [n for n, w in found.items() if w["spec"].get("shutdown") == "Terminate"]
    assert len(stopped) == 1, "main's older run only; dev is another group"
    assert (
        found[stopped[0]]["metadata"]["labels"]["knargo.dev/concurrency"]
        == (new_run["metadata"]["labels"]["knargo.dev/concurrency"])
    )
    assert any("concurrency: terminated" in note for note in newer.data["notes"])


def test_without_cancel_in_progress_a_group_runs_side_by_side(env: Env) -> None:
    history(env.forge, GROUPED.replace("true", "false"))
    for sha, before in ((OLD, BASE), (NEW, OLD)):
        reply(env.post(push(sha=sha, before=before, delivery=f"d-{sha[:1]}")))
    assert len(env.workflows()) == 2 and patches(env) == []


def test_the_api_server_fake_checks_the_patch(env: Env, tmp_path: Path) -> None:
    """A shutdown strategy that is not a string, or an annotation that is not, is refused
    as the API server refuses it (the CRD's schema); knargo's own patch is accepted."""
    from knargo.contract.errors import PermanentError
    from knargo.io.kube import Cluster

    history(env.forge)
    reply(env.post(pr(OLD, "d-old")))
    (run,) = env.workflows()
    name = run["metadata"]["name"]
    cluster = Cluster.from_kubeconfig(str(env.kube.kubeconfig(tmp_path)), None, {})
    for bad in ({"spec": {"shutdown": 5}}, {"metadata": {"annotations": {"a": 1}}}):
        with pytest.raises(PermanentError):
            cluster.patch_workflow("ci", name, bad)
    assert cluster.patch_workflow("ci", "gone", {"spec": {"shutdown": "Terminate"}}) is False
    assert cluster.patch_workflow("ci", name, {"spec": {"shutdown": "Terminate"}}) is True
    assert env.workflows()[0]["spec"]["shutdown"] == "Terminate"


# --- report: a terminated run's statuses ------------------------------------------------------


def terminated(nodes: dict[str, str]) -> dict[str, Any]:
    event = pull_request(sha=OLD, delivery="d-old")
    annotations = {
        "knargo.dev/git-event": event.model_dump_json(),
        "knargo.dev/cancelled": "superseded by ccccccc",
    }
    templates = [
        {"name": job, "metadata": {"annotations": {"knargo.dev/job": job}}} for job in nodes
    ]
    status_nodes = {
        f"n-{job}": {"id": f"n-{job}", "type": "Pod", "displayName": job, "templateName": job}
        | (
            {"phase": phase, "message": "workflow shutdown with strategy: Terminate"}
            if phase
            else {}
        )
        for job, phase in nodes.items()
    }
    status_nodes = {k: v for k, v in status_nodes.items() if "phase" in v}
    return {
        "metadata": {
            "name": "api-pr",
            "namespace": "ci",
            "annotations": annotations,
            "labels": {"knargo.dev/event": "pull_request"},
        },
        "spec": {"shutdown": "Terminate", "templates": templates},
        "status": {
            "phase": "Failed",
            "message": "Stopped with strategy 'Terminate'",
            "nodes": status_nodes,
        },
    }


@pytest.mark.parametrize(
    ("forge", "state"), [("github", "error"), ("gitlab", "canceled"), ("gitea", "error")]
)
def test_report_posts_every_context_of_a_terminated_run_as_cancelled(
    forge: str, state: str
) -> None:
    workflow = terminated({"build": "Succeeded", "test": "Failed", "lint": ""})
    _, updates = status.from_workflow(workflow, "knargo", "https://argo.example.com")
    by_context = {u.context: (u.state, u.description) for u in updates}
    cancelled = (status.State.CANCELLED, "cancelled: superseded by ccccccc")
    assert by_context["knargo"] == cancelled
    assert by_context["knargo/test"] == cancelled
    assert by_context["knargo/lint"] == cancelled, "a job that never started is not left pending"
    assert by_context["knargo/build"][0] is status.State.SUCCESS
    api = STATUSES[ForgeKind(forge)]
    assert api.states["cancelled"] == state and state in api.final_states
    assert all(not u.state.final or api.states[u.state] for u in updates)
    assert not [u for u in updates if u.state in (status.State.QUEUED, status.State.RUNNING)]


def test_a_run_still_shutting_down_is_not_yet_cancelled() -> None:
    workflow = terminated({"build": "Running"})
    workflow["status"]["phase"] = "Running"
    _, updates = status.from_workflow(workflow, "knargo", "https://argo.example.com")
    assert {u.state for u in updates} == {status.State.RUNNING}


def test_every_order_of_two_commits_was_tried() -> None:
    assert {o[:2] for o in ORDERS} == set(itertools.permutations(("old", "new")))


# --- the local executor -------------------------------------------------------------------------


def test_a_terminated_local_run_starts_no_further_job(tmp_path: Path) -> None:
    """`knargo dev` and `knargo run`: a run patched with `spec.shutdown` (by a newer run of
    its group, or `/cancel`) starts nothing more and ends as report reads a terminated run."""
    import os
    import threading

    from knargo.language.lint import check
    from knargo.local.cluster import LocalCluster
    from knargo.local.engine import Engine
    from knargo.local.executor import Executor, Options
    from knargo.local.secrets import Secrets
    from knargo.translation.plan import plan
    from test_local_kit import make_repo, push_event, settings

    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    gate = tmp_path / "gate"
    jobs = (
        f"jobs:\n  first: {{image: alpine, run: 'while [ ! -f {gate} ]; do sleep 0.05; done'}}\n"
        "  second: {image: alpine, run: 'true', needs: first}\n"
    )
    config = check(jobs).config
    assert config is not None
    workflow = plan(config, push_event(repo), settings()).workflow
    assert workflow is not None
    name = workflow["metadata"]["name"]
    cluster = LocalCluster(tmp_path / "cluster")
    running = threading.Event()
    executor = Executor(
        cluster,
        lambda e: running.set() if "Running" in str(e.data["status"].get("nodes")) else None,
        Options(tmp_path / "runs", repo.as_uri(), Secrets({}), Engine("local"), dict(os.environ)),
    )
    cluster.watchers.append(executor.submit)
    cluster.create_workflow(workflow)
    assert running.wait(10)
    reason = {"knargo.dev/cancelled": "superseded by ccccccc"}
    patch = {"metadata": {"annotations": reason}, "spec": {"shutdown": "Terminate"}}
    assert cluster.patch_workflow("ci", name, patch)
    gate.write_text("")
    executor.wait(10)
    stored = cluster.get_workflow("ci", name)
    assert stored is not None and stored["status"]["phase"] == "Failed"
    assert stored["status"]["message"] == "Stopped with strategy 'Terminate'"
    nodes = {n["displayName"] for n in stored["status"]["nodes"].values()}
    assert "second" not in nodes
    _, updates = status.from_workflow(stored, "knargo", "http://argo")
    by_context = {u.context: (u.state, u.description) for u in updates}
    assert by_context["knargo/second"] == (
        status.State.CANCELLED,
        "cancelled: superseded by ccccccc",
    )
    assert by_context["knargo/first"][0] is status.State.SUCCESS


# --- two generate instances at the same moment ------------------------------------------------


class _Commits:
    """generate's Files port over a tiny history: BASE ← OLD ← NEW."""

    def __init__(self) -> None:
        self.parents = {OLD: BASE, NEW: OLD}

    def read_file(self, event: Any, path: str, limit: int) -> bytes:
        return CI.encode()

    def changed_paths(self, event: Any) -> None:
        return None

    def _line(self, commit: str) -> list[str]:
        line = [commit]
        while line[-1] in self.parents:
            line.append(self.parents[line[-1]])
        return line

    def commits_between(self, event: Any, base: str, head: str) -> int | None:
        """The commits of `head` that `base` lacks."""
        return len([c for c in self._line(head) if c not in self._line(base)])


def test_runs_created_at_the_same_moment_still_leave_only_the_newer(tmp_path: Path) -> None:
    """Both instances read the group before either run existed; each checks the group again
    once its run exists, so the older run ends terminated whichever was created first."""
    from knargo.config.settings import Settings
    from knargo.functions.generate import generate
    from knargo.local.cluster import LocalCluster

    settings = Settings.model_validate(
        {
            "forges": [
                {
                    "name": "github",
                    "kind": "github",
                    "api_url": "x",
                    "web_url": "https://github.com",
                }
            ]
        }
    )
    cluster = LocalCluster(tmp_path)
    files = _Commits()
    newer = pull_request(sha=NEW, before=None, delivery="d-new")
    create = cluster.create_workflow

    def racing(manifest: Any) -> bool:
        if manifest["metadata"]["annotations"]["knargo.dev/sha"] == OLD:
            # The other instance, between this one's read of the group and its create.
            generate(newer, settings, None, files, cluster)
        return create(manifest)

    cluster.create_workflow = racing  # type: ignore[method-assign]
    generate(pull_request(sha=OLD, before=None, delivery="d-old"), settings, None, files, cluster)
    found = {w["metadata"]["annotations"]["knargo.dev/sha"]: w for w in cluster.workflows("ci")}
    assert found[NEW]["spec"].get("shutdown") is None
    assert found[OLD]["spec"]["shutdown"] == "Terminate"
    assert found[OLD]["metadata"]["annotations"]["knargo.dev/cancelled"] == "superseded by ccccccc"
    assert [w["metadata"]["annotations"]["knargo.dev/sha"] for w in cluster.workflows("ci")
            if w["spec"].get("shutdown")] == [OLD]  # fmt: skip
