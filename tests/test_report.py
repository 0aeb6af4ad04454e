"""report's decisions: statuses from each event, transitions only, any order of events.

The property test plays a whole run of a Workflow (simulated as Argo updates it) and
delivers its events in random order, with duplicates and drops, interleaved with the cluster
moving on; the final statuses must be the run's true final states, with few posts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from argo_sim import run
from knargo.config.settings import Settings
from knargo.contract import events
from knargo.contract.events import Envelope, GitEvent
from knargo.forges import STATUSES, StatusApi
from knargo.forges.github import CHECKS
from knargo.functions.report import report
from knargo.functions.status import Current, State, Update, shorten
from knargo.language.lint import check
from knargo.translation.plan import plan

CI = """\
jobs:
  build: {image: alpine, run: make}
  test: {image: alpine, run: make test, needs: build}
  lint: {image: alpine, run: make lint, needs: build}
  deploy: {image: alpine, run: make deploy, needs: [test, lint]}
"""
SETTINGS = Settings.embedded()


def git_event(kind: str = "github") -> GitEvent:
    host = {"github": "github.com", "gitlab": "gitlab.com", "gitea": "codeberg.org"}[kind]
    name = {"github": "github", "gitlab": "gitlab", "gitea": "codeberg"}[kind]
    return GitEvent(
        forge_kind=kind,
        forge_name=name,
        repository="acme/api",
        repository_url=f"https://{host}/acme/api",
        clone_url=f"https://{host}/acme/api.git",
        default_branch="main",
        kind="push",
        ref="refs/heads/feature",
        sha="a" * 40,
        delivery_id="d-1",
    )


def workflow_manifest(event: GitEvent) -> dict[str, Any]:
    config = check(CI).config
    assert config is not None
    result = plan(config, event, SETTINGS)
    assert result.workflow is not None
    return dict(result.workflow)


class Forge:
    """In memory: the statuses of one commit as a forge keeps them."""

    def __init__(self, kind: str) -> None:
        # "github-checks": a GitHub App's check runs in place of commit statuses
        apis: dict[str, StatusApi] = {**STATUSES, "github-checks": CHECKS}
        self.statuses: StatusApi = apis[kind]
        self.posts: list[Update] = []
        self.lists = 0

    def api(self, _event: GitEvent) -> StatusApi:
        return self.statuses

    def current(self, _event: GitEvent, _sha: str) -> list[Current]:
        self.lists += 1
        latest: dict[str, Current] = {}
        for post in self.posts:
            latest[post.context.lower()] = Current(
                post.context, self.statuses.states[post.state], post.description, post.target_url
            )
        return list(latest.values())

    def post(self, _event: GitEvent, _sha: str, update: Update) -> None:
        self.posts.append(update)

    def final(self) -> dict[str, tuple[str, str]]:
        return {c.context: (c.state, c.description) for c in self.current(git_event(), "")}


class Cluster:
    def __init__(self) -> None:
        self.workflow: dict[str, Any] | None = None

    def get_workflow(self, _namespace: str, _name: str) -> dict[str, Any] | None:
        return self.workflow


def updated(workflow: Mapping[str, Any]) -> Envelope:
    return Envelope(
        type=events.WORKFLOW_UPDATED,
        source="argo-events/argo/workflows",
        id=f"e-{workflow['metadata']['resourceVersion']}",
        data=dict(workflow),
    )


def submitted(event: GitEvent, manifest: Mapping[str, Any]) -> Envelope:
    name = manifest["metadata"]["name"]
    data = events.PipelineSubmitted(
        event=event,
        namespace="ci",
        workflow=name,
        created=True,
        ui_url=f"{SETTINGS.argo_ui_url}/workflows/ci/{name}",
        jobs=[events.JobInfo(id=j, task=j) for j in ("build", "test", "lint", "deploy")],
    )
    return Envelope(
        type=events.PIPELINE_SUBMITTED,
        source=event.repository_url,
        id="s",
        data=data.model_dump(mode="json"),
    )


def skipped(event: GitEvent, reason: str = 'branch "feature" does not match') -> Envelope:
    data = events.PipelineSkipped(event=event, reason=reason)
    return Envelope(
        type=events.PIPELINE_SKIPPED,
        source=event.repository_url,
        id="k",
        data=data.model_dump(mode="json"),
    )


def test_submitted_queues_every_job_and_the_pipeline() -> None:
    forge, event = Forge("github"), git_event()
    report(submitted(event, workflow_manifest(event)), SETTINGS, forge, Cluster())
    assert [(p.context, p.state, p.description) for p in forge.posts] == [
        ("knargo", State.QUEUED, "queued")
    ] + [(f"knargo/{j}", State.QUEUED, "queued") for j in ("build", "test", "lint", "deploy")]


def test_a_full_run_posts_each_transition_once() -> None:
    forge, cluster, event = Forge("github"), Cluster(), git_event()
    manifest = workflow_manifest(event)
    report(submitted(event, manifest), SETTINGS, forge, cluster)
    for snapshot in run(manifest, {"test": "Failed"}):
        cluster.workflow = snapshot
        report(updated(snapshot), SETTINGS, forge, cluster)
    lists = forge.lists  # one list call per event
    final = forge.final()
    assert final["knargo"] == ("failure", "failed: child failed")
    assert final["knargo/test"] == ("failure", "Error (exit code 1)")
    assert final["knargo/deploy"] == ("success", "skipped: a job it needs did not pass")
    for job in ("build", "lint"):
        assert final[f"knargo/{job}"][0] == "success"
        assert final[f"knargo/{job}"][1].startswith("passed in ")
    # queued, running, final for each job that ran; queued and skipped for the omitted one;
    # queued, running (as pending), final for the pipeline.
    assert len(forge.posts) == 3 * 3 + 2 + 3
    assert lists == 1 + len(list(run(manifest, {"test": "Failed"})))


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_states_in_each_forges_words(kind: str) -> None:
    forge, cluster, event = Forge(kind), Cluster(), git_event(kind)
    manifest = workflow_manifest(event)
    for snapshot in run(manifest, {"build": "Failed"}):
        cluster.workflow = snapshot
        report(updated(snapshot), SETTINGS, forge, cluster)
    final = {k: v[0] for k, v in forge.final().items()}
    expected = {
        "github": ("failure", "failure", "success"),
        "gitlab": ("failed", "failed", "skipped"),
        "gitea": ("failure", "failure", "success"),
    }[kind]
    assert (final["knargo"], final["knargo/build"], final["knargo/deploy"]) == expected


def test_rejected_and_skipped() -> None:
    forge, event = Forge("gitlab"), git_event("gitlab")
    rejected = events.PipelineRejected(event=event, summary="ci.yaml:3:5: " + "é" * 300)
    report(
        Envelope(
            type=events.PIPELINE_REJECTED, source="s", id="r", data=rejected.model_dump(mode="json")
        ),
        SETTINGS,
        forge,
        Cluster(),
    )
    [post] = forge.posts
    assert post.state is State.FAILURE and len(post.description) == 255
    assert post.description.endswith("…") and post.description.startswith("ci.yaml:3:5: é")
    report(skipped(event, 'branch "x" does not match'), SETTINGS, forge, Cluster())
    assert len(forge.posts) == 1  # a skip never replaces the rejection of the same commit
    fresh = Forge("gitlab")
    report(skipped(event, 'branch "x" does not match'), SETTINGS, fresh, Cluster())
    assert fresh.posts == [Update("knargo", State.SKIPPED, 'skipped: branch "x" does not match')]
    quiet = events.PipelineSkipped(event=event, reason="no ci.yaml", report=False)
    report(
        Envelope(
            type=events.PIPELINE_SKIPPED, source="s", id="q", data=quiet.model_dump(mode="json")
        ),
        SETTINGS,
        fresh,
        Cluster(),
    )
    assert len(fresh.posts) == 1


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize("outcome", ["Succeeded", "Failed", None])
def test_a_skipped_push_never_replaces_the_pull_requests_run(
    kind: str, outcome: str | None
) -> None:
    """on.push filters the branch out, on.pull_request runs: one commit, one context."""
    forge, cluster, event = Forge(kind), Cluster(), git_event(kind)
    manifest = workflow_manifest(event)
    snapshots = list(run(manifest, {"build": outcome} if outcome else {}))
    report(submitted(event, manifest), SETTINGS, forge, cluster)
    if outcome:  # the run finished before the skip arrived; else it is still queued
        cluster.workflow = snapshots[-1]
        report(updated(snapshots[-1]), SETTINGS, forge, cluster)
    before = forge.final()
    report(skipped(event), SETTINGS, forge, cluster)
    assert forge.final() == before
    assert forge.final()["knargo"][1] != 'skipped: branch "feature" does not match'


def test_descriptions_are_cut_on_characters() -> None:
    assert shorten("ü" * 200, 140) == "ü" * 139 + "…"
    assert shorten("short", 140) == "short"
    assert shorten("a\n  b", 140) == "a b"


def test_a_workflow_deleted_by_its_ttl_is_read_from_the_event() -> None:
    forge, event = Forge("github"), git_event()
    final = list(run(workflow_manifest(event), {}))[-1]
    report(updated(final), SETTINGS, forge, Cluster())  # the cluster has it no more
    assert forge.final()["knargo"][0] == "success"


def test_scheduled_runs_use_their_own_contexts() -> None:
    event = git_event()
    manifest = workflow_manifest(event)
    manifest["metadata"]["labels"]["knargo.dev/event"] = "schedule"
    forge = Forge("github")
    report(updated(list(run(manifest, {}))[-1]), SETTINGS, forge, Cluster())
    assert set(forge.final()) == {"knargo (schedule)"} | {
        f"knargo (schedule)/{j}" for j in ("build", "test", "lint", "deploy")
    }


def test_a_new_run_of_the_same_commit_may_go_back_to_pending() -> None:
    forge, cluster, event = Forge("github"), Cluster(), git_event()
    manifest = workflow_manifest(event)
    for snapshot in run(manifest, {}):
        report(updated(snapshot), SETTINGS, forge, cluster)
    rerun = dict(manifest, metadata=dict(manifest["metadata"], name="api-push-rerun"))
    first = next(run(rerun, {}, uid="uid-2"))
    report(updated(first), SETTINGS, forge, cluster)
    assert forge.final()["knargo"] == ("pending", "running")


def test_unknown_events_are_permanent_errors() -> None:
    from knargo.contract.errors import PermanentError

    with pytest.raises(PermanentError):
        report(
            Envelope(type="dev.other", source="s", id="x", data={}),
            SETTINGS,
            Forge("github"),
            Cluster(),
        )
    with pytest.raises(PermanentError):
        report(
            Envelope(
                type=events.WORKFLOW_UPDATED,
                source="s",
                id="x",
                data={"metadata": {"name": "n", "namespace": "ci"}},
            ),
            SETTINGS,
            Forge("github"),
            Cluster(),
        )


@settings(max_examples=120, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["github", "gitlab", "gitea", "github-checks"]),
    outcomes=st.dictionaries(
        st.sampled_from(["build", "test", "lint", "deploy"]),
        st.sampled_from(["Succeeded", "Failed"]),
    ),
)
def test_any_order_of_events_ends_in_the_true_final_statuses(
    data: st.DataObject, kind: str, outcomes: dict[str, str]
) -> None:
    event = git_event(kind.removesuffix("-checks"))
    manifest = workflow_manifest(event)
    snapshots = list(run(manifest, outcomes))
    forge, cluster = Forge(kind), Cluster()
    queue: list[Envelope] = [submitted(event, manifest)]
    # The same commit pushed to a branch that on.push filters out: a skip reply, maybe late.
    queue += [skipped(event)] * data.draw(st.integers(0, 2))
    for snapshot in snapshots:  # the cluster moves on; events pile up and trickle out
        cluster.workflow = snapshot
        queue.append(updated(snapshot))
        for _ in range(data.draw(st.integers(0, 2))):
            if queue:
                index = data.draw(st.integers(0, len(queue) - 1))
                envelope = queue[index] if data.draw(st.booleans()) else queue.pop(index)
                report(envelope, SETTINGS, forge, cluster)  # delivered (maybe again)
    rest = data.draw(st.permutations(queue))
    kept = [e for e in rest if data.draw(st.integers(0, 3)) > 0]  # drops
    for envelope in [*kept, updated(snapshots[-1])]:  # the last update arrives at least once
        report(envelope, SETTINGS, forge, cluster)
    truth = Forge(kind)
    report(updated(snapshots[-1]), SETTINGS, truth, Cluster())
    assert forge.final() == truth.final()
    transitions = 3 * 5  # queued, running, final for the pipeline and each job
    assert len(forge.posts) <= transitions + 3  # + a skip that came first
    assert all(p.target_url for p in forge.posts[1:] if p.context == "knargo")


class SlowForge(Forge):
    """A forge that takes its time to answer, as real ones do."""

    def current(self, event: GitEvent, sha: str) -> list[Current]:
        import time

        shown = super().current(event, sha)  # what the forge shows now...
        time.sleep(0.02)  # ...reaches the function a little later
        return shown


@pytest.mark.parametrize("locked", [True, False])
def test_concurrent_events_of_one_commit_post_each_transition_once(locked: bool) -> None:
    import threading

    from knargo.functions.report import CommitLocks

    event, cluster = git_event(), Cluster()
    manifest = workflow_manifest(event)
    snapshots = list(run(manifest, {"test": "Failed"}))
    cluster.workflow = snapshots[-1]
    forge = SlowForge("github")
    locks = CommitLocks() if locked else None
    envelopes = [submitted(event, manifest)] + [updated(s) for s in snapshots] * 2
    threads = [
        threading.Thread(target=report, args=(e, SETTINGS, forge, cluster, locks))
        for e in envelopes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    contexts = {p.context for p in forge.posts}
    if locked:
        # every event reads the finished Workflow: each context goes straight to its final
        # state (the submitted reply may still queue first), and nothing is posted twice
        assert len(forge.posts) <= 2 * len(contexts)
        assert len(forge.posts) == len(set(forge.posts))
    else:  # without the lock the race shows: the same status posted again
        assert len(forge.posts) > len(set(forge.posts))
