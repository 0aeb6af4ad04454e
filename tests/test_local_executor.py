"""The local executor runs Workflows as knargo emits them, with Argo's semantics.

Each test translates a ci.yaml with the real translator and runs the Workflow on the local
executor against a throw-away repository: needs, parallel tasks, env, secrets, timeouts,
retries, continue-on-error and the script byte for byte; the status it writes is read back
the way report reads it.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from knargo.contract import events
from knargo.functions.status import State, from_workflow
from knargo.language.lint import check
from knargo.local.cluster import LocalCluster
from knargo.local.engine import Engine, EngineUnavailable, find_engine
from knargo.local.executor import Executor, Options
from knargo.local.nodes import node_id
from knargo.local.pod import DEADLINE
from knargo.local.secrets import Secrets, SecretsFileError, load_secrets
from knargo.translation.plan import plan
from test_local_kit import execute, make_repo, push_event, settings


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "hello\n", "sub/dir/marker.txt": "marker\n"})


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder outside the jobs' checkouts where they leave evidence."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def ci(out: Path, jobs: str, top: str = "") -> str:
    return f"env:\n  OUT: {json.dumps(str(out))}\n{top}jobs:\n{jobs}"


def states(workflow: dict[str, object]) -> dict[str, tuple[State, str]]:
    _, updates = from_workflow(workflow, "knargo", "http://argo")
    return {u.context: (u.state, u.description) for u in updates}


WAIT_FOR = (
    'i=0; while [ ! -f "$OUT/{0}" ]; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.05; done'
)


def test_needs_order_tasks_and_independent_ones_run_in_parallel(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    jobs = f"""\
  a: {{image: alpine, run: 'echo a >> "$OUT/order"'}}
  b:
    needs: a
    image: alpine
    run: |
      echo b >> "$OUT/order"; touch "$OUT/b"
      {WAIT_FOR.format("c")}
  c:
    needs: a
    image: alpine
    run: |
      echo c >> "$OUT/order"; touch "$OUT/c"
      {WAIT_FOR.format("b")}
  d: {{needs: [b, c], image: alpine, run: 'echo d >> "$OUT/order"'}}
"""
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert ran.workflow["status"]["phase"] == "Succeeded"
    order = (out / "order").read_text().split()
    assert order[0] == "a" and order[-1] == "d" and sorted(order[1:3]) == ["b", "c"]
    assert all(ran.nodes[t]["phase"] == "Succeeded" for t in "abcd")
    assert ran.workflow["status"]["progress"] == "4/4"


def test_a_failed_task_omits_its_dependents_only(repo: Path, out: Path, tmp_path: Path) -> None:
    jobs = """\
  build: {image: alpine, run: 'echo compiling; exit 3'}
  test: {needs: build, image: alpine, run: 'touch "$OUT/test"'}
  deploy: {needs: test, image: alpine, run: 'touch "$OUT/deploy"'}
  docs: {image: alpine, run: 'touch "$OUT/docs"'}
"""
    ran = execute(repo, ci(out, jobs), tmp_path)
    nodes = ran.nodes
    assert (nodes["build"]["phase"], nodes["build"]["message"]) == ("Failed", "Error (exit code 3)")
    for task in ("test", "deploy"):
        assert (nodes[task]["type"], nodes[task]["phase"]) == ("Skipped", "Omitted")
        assert nodes[task]["message"] == "omitted: depends condition not met"
    assert nodes["docs"]["phase"] == "Succeeded"
    assert sorted(p.name for p in out.iterdir()) == ["docs"]
    assert ran.workflow["status"]["phase"] == "Failed"
    assert "compiling" in ran.log("build")
    assert states(ran.workflow)["knargo"][0] is State.FAILURE
    assert states(ran.workflow)["knargo/deploy"][0] is State.SKIPPED


def test_continue_on_error_lets_dependents_run(repo: Path, out: Path, tmp_path: Path) -> None:
    jobs = """\
  flaky: {image: alpine, continue-on-error: true, run: exit 4}
  next: {needs: flaky, image: alpine, run: 'touch "$OUT/next"'}
"""
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert (ran.nodes["flaky"]["phase"], ran.nodes["next"]["phase"]) == ("Failed", "Succeeded")
    assert ran.workflow["status"]["phase"] == "Succeeded"
    assert (out / "next").exists()


def test_env_is_the_templates_and_nothing_of_the_callers(
    repo: Path, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLER_ONLY_SECRET", "leak")
    top = '  SHARED: top\n  TOP: top\n  BRACES: "{{workflow.name}} ${{ x }}"\n'
    jobs = """\
  show:
    image: alpine
    env: {SHARED: job}
    run: |
      printf '%s|%s|%s|%s|%s|%s\\n' "$TOP" "$SHARED" "$BRACES" \\
        "$KNARGO_JOB" "$CI" "$KNARGO_EVENT" > "$OUT/env"
      env > "$OUT/all"
"""
    ran = execute(repo, ci(out, jobs, top), tmp_path)
    assert ran.workflow["status"]["phase"] == "Succeeded", ran.log("show")
    assert (out / "env").read_text() == "top|job|{{workflow.name}} ${{ x }}|show|true|push\n"
    assert "CALLER_ONLY_SECRET" not in (out / "all").read_text()
    assert f"PATH={os.environ['PATH']}" in (out / "all").read_text()


def test_secrets_come_from_the_secrets_file_and_are_never_shown(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    value = "s3cr3t-value-42"
    jobs = """\
  deploy:
    image: alpine
    secrets: {NODE_AUTH_TOKEN: NPM_TOKEN}
    run: |
      printf '%s' "$NODE_AUTH_TOKEN" > "$OUT/token"
      echo "token: $NODE_AUTH_TOKEN"
"""
    ran = execute(repo, ci(out, jobs), tmp_path, secrets={"NPM_TOKEN": value})
    assert ran.workflow["status"]["phase"] == "Succeeded", ran.log("deploy")
    assert (out / "token").read_text() == value  # resolved by the secret's name, not the env's
    log = ran.log("deploy")
    assert "token: ***" in log
    assert value not in log
    assert value not in json.dumps([e.data for e in ran.published])
    assert value not in json.dumps(ran.workflow)
    assert value not in repr(Secrets({"NPM_TOKEN": value}))


def test_a_missing_secret_stops_the_job_before_it_starts(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    jobs = """\
  deploy:
    image: alpine
    secrets: {NODE_AUTH_TOKEN: NPM_TOKEN, MISSING: ABSENT}
    run: touch "$OUT/ran"
"""
    ran = execute(repo, ci(out, jobs), tmp_path, secrets={"NPM_TOKEN": "s3cr3t-value-42"})
    assert ran.workflow["status"]["phase"] == "Failed"
    assert not (out / "ran").exists()
    message = (
        "cannot start: no secret for $MISSING in .knargo/secrets.env; add the secret ci.yaml "
        "names there as NAME=value (the cluster would not start this pod either)"
    )
    assert states(ran.workflow)["knargo/deploy"] == (State.ERROR, message)
    assert f"knargo: {message}" in ran.log("deploy")


def test_a_working_directory_the_checkout_lacks_fails_the_job(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    jobs = """\
  build:
    image: alpine
    working-directory: no/such/dir
    run: touch "$OUT/ran"
"""
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert ran.workflow["status"]["phase"] == "Failed"
    assert not (out / "ran").exists()
    assert 'working-directory "/workspace/no/such/dir" does not exist' in ran.log("build")


def test_a_program_that_cannot_start_is_named_with_its_path(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    jobs = """\
  build:
    image: alpine
    env: {PATH: /nonexistent}
    run: touch "$OUT/ran"
"""
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert ran.workflow["status"]["phase"] == "Failed"
    assert 'cannot start "sh": No such file or directory (PATH=/nonexistent)' in ran.log("build")


def test_a_secret_is_found_by_its_env_name_as_a_fallback() -> None:
    secrets = Secrets({"TOKEN": "t"})
    assert secrets.resolve("localhost/local/repo", "TOKEN", "knargo-unknown-object") == "t"
    assert secrets.resolve("localhost/local/repo", "OTHER", "knargo-unknown-object") is None


def test_the_secrets_file_format(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("# comment\n\nA=1\nexport B = two words\nC='quoted = x'\nD=\"x\"\nE=\n")
    assert dict(load_secrets(path).values) == {
        "A": "1",
        "B": "two words",
        "C": "quoted = x",
        "D": "x",
        "E": "",
    }
    assert load_secrets(tmp_path / "none.env").values == {}
    path.write_text("not-a-line-with-value hunter2\n")
    with pytest.raises(SecretsFileError) as raised:
        load_secrets(path)
    assert "hunter2" not in str(raised.value) and ":1:" in str(raised.value)


def test_a_timeout_ends_the_job_and_its_children(repo: Path, out: Path, tmp_path: Path) -> None:
    jobs = """\
  slow:
    image: alpine
    timeout: 1s
    run: |
      (sleep 2; touch "$OUT/late") &
      sleep 30
  after: {needs: slow, image: alpine, run: 'true'}
"""
    started = time.monotonic()
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert time.monotonic() - started < 5
    assert (ran.nodes["slow"]["phase"], ran.nodes["slow"]["message"]) == ("Failed", DEADLINE)
    assert ran.nodes["after"]["phase"] == "Omitted"
    time.sleep(max(0.0, started + 3 - time.monotonic()))
    assert not (out / "late").exists()


FLAKY = """\
  flaky:
    image: alpine
    retries: {{limit: 2, backoff: {backoff}{policy}}}
    run: |
      n=$(cat "$OUT/count" 2>/dev/null || echo 0)
      echo $((n + 1)) > "$OUT/count"
      echo "attempt $n"
      [ "$n" -ge {succeeds} ]
"""


def test_retries_run_new_attempts_until_one_passes(repo: Path, out: Path, tmp_path: Path) -> None:
    jobs = FLAKY.format(backoff="1s", policy="", succeeds=1)
    ran = execute(repo, ci(out, jobs), tmp_path)
    nodes = ran.nodes
    assert (nodes["flaky"]["type"], nodes["flaky"]["phase"]) == ("Retry", "Succeeded")
    assert (nodes["flaky(0)"]["phase"], nodes["flaky(0)"]["message"]) == (
        "Failed",
        "Error (exit code 1)",
    )
    assert nodes["flaky(1)"]["phase"] == "Succeeded"
    assert "flaky(2)" not in nodes
    assert "knargo: retry 1" in ran.log("flaky")
    assert states(ran.workflow)["knargo/flaky"][0] is State.SUCCESS


def test_retries_are_bounded_backed_off_and_follow_the_policy(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    ran = execute(
        repo, ci(out, FLAKY.format(backoff="2s", policy="", succeeds=9)), tmp_path / "a",
        backoff_scale=0.1,
    )  # fmt: skip
    assert time.monotonic() - started >= 0.2 + 0.4  # 2 s, then 4 s, scaled by 0.1
    assert ran.nodes["flaky"]["phase"] == "Failed"
    assert [n for n in ran.nodes if n.startswith("flaky(")] == ["flaky(0)", "flaky(1)", "flaky(2)"]
    (out / "count").unlink()
    on_error = FLAKY.format(backoff="1s", policy=", policy: on-error", succeeds=9)
    ran = execute(repo, ci(out, on_error), tmp_path / "b")
    assert [n for n in ran.nodes if n.startswith("flaky(")] == ["flaky(0)"]


BYTE_FOR_BYTE = (
    "printf '%s\\n' '{{inputs.x}} }} {{= 1 }} ${{ x }} $(id) `id` \\' \"ünï ✓\"\n"
    'cat "$KNARGO_HOME/script" > "$OUT/script"\n'
    "# a comment that ends with a carriage return\r\n"
)


def test_the_script_runs_byte_for_byte(repo: Path, out: Path, tmp_path: Path) -> None:
    jobs = (
        f"  exact:\n    image: alpine\n    run: {json.dumps(BYTE_FOR_BYTE, ensure_ascii=False)}\n"
    )
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert ran.workflow["status"]["phase"] == "Succeeded", ran.log("exact")
    assert (out / "script").read_bytes() == BYTE_FOR_BYTE.encode()
    assert "{{inputs.x}} }} {{= 1 }} ${{ x }} $(id) `id` \\\nünï ✓\n" in ran.log("exact")


def test_jobs_start_in_their_working_directory_of_a_checkout_of_the_commit(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    jobs = """\
  where:
    image: alpine
    working-directory: sub/dir
    run: |
      pwd -P > "$OUT/pwd"
      cat marker.txt > "$OUT/marker"
      git rev-parse HEAD > "$OUT/head"
"""
    ran = execute(repo, ci(out, jobs), tmp_path)
    assert ran.workflow["status"]["phase"] == "Succeeded", ran.log("where")
    name = ran.workflow["metadata"]["name"]
    workspace = (tmp_path / "runs" / name / "where" / "attempt-0" / "workspace").resolve()
    assert (out / "pwd").read_text().strip() == str(workspace / "sub" / "dir")
    assert (out / "marker").read_text() == "marker\n"
    sha = ran.workflow["metadata"]["annotations"]["knargo.dev/sha"]
    assert (out / "head").read_text().strip() == sha


def test_every_change_is_stored_and_published_as_argo_writes_it(
    repo: Path, out: Path, tmp_path: Path
) -> None:
    jobs = "  one: {image: alpine, run: 'true'}\n  two: {needs: one, image: alpine, run: 'true'}\n"
    ran = execute(repo, ci(out, jobs), tmp_path)
    published = ran.published
    assert {e.type for e in published} == {events.WORKFLOW_UPDATED}
    versions = [int(e.data["metadata"]["resourceVersion"]) for e in published]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert published[0].data["status"]["phase"] == "Running"
    assert published[-1].data == ran.workflow
    name = ran.workflow["metadata"]["name"]
    nodes = ran.workflow["status"]["nodes"]
    assert nodes[name]["type"] == "DAG" and nodes[name]["templateName"] == "pipeline"
    for task in ("one", "two"):
        node = ran.nodes[task]
        assert node["id"] == node_id(name, f"{name}.{task}")
        assert node["name"] == f"{name}.{task}" and node["templateName"] == task
        assert node["startedAt"].endswith("Z") and node["finishedAt"] >= node["startedAt"]
    phases = [
        [n.get("phase") for n in e.data["status"]["nodes"].values() if n["displayName"] == "two"]
        for e in published
    ]
    seen = [p[0] for p in phases if p]
    assert [p for i, p in enumerate(seen) if i == 0 or seen[i - 1] != p] == [
        "Pending",
        "Running",
        "Succeeded",
    ]
    assert states(ran.workflow) == {
        "knargo": (State.SUCCESS, states(ran.workflow)["knargo"][1]),
        "knargo/one": (State.SUCCESS, states(ran.workflow)["knargo/one"][1]),
        "knargo/two": (State.SUCCESS, states(ran.workflow)["knargo/two"][1]),
    }


def test_node_ids_are_argos_fnv1a_hashes() -> None:
    assert node_id("wf", "wf") == "wf"
    assert node_id("wf", "") == f"wf-{0x811C9DC5}"
    assert node_id("wf", "a") == f"wf-{0xE40C292C}"


def _fake_engine(tmp_path: Path, name: str, script: str) -> None:
    binary = tmp_path / "bin" / name
    binary.parent.mkdir(exist_ok=True)
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)


def test_an_engine_that_is_not_installed_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EngineUnavailable, match=r"--engine podman: podman is not installed"):
        find_engine("podman")


def test_an_engine_without_a_daemon_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    _fake_engine(tmp_path, "docker", f'echo "{daemon}" >&2; exit 1')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(EngineUnavailable) as raised:
        find_engine("docker")
    assert str(raised.value) == f"--engine docker: docker cannot run containers: {daemon}"


def test_a_working_engine_runs_the_image_with_the_pod_volumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_engine(tmp_path, "podman", "echo 0123abc")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    engine = find_engine("podman")
    command = engine.command(
        ["sh", "-c", "run"],
        image="alpine:3.20",
        env={"TOKEN": "value", "CI": "true"},
        workspace=Path("/w"),
        home=Path("/h"),
        workdir="/workspace/sub",
        container="knargo-x",
    )
    assert command == [
        str(tmp_path / "bin" / "podman"), "run", "--rm", "--name", "knargo-x",
        "-v", "/w:/workspace", "-v", "/h:/knargo", "-w", "/workspace/sub",
        "-e", "TOKEN", "-e", "CI", "alpine:3.20", "sh", "-c", "run",
    ]  # fmt: skip
    assert "value" not in command
    assert Engine("local").command(["sh"], image="x", env={}, workspace=Path(), home=Path(),
                                   workdir="/", container="c") == ["sh"]  # fmt: skip


def test_stopping_ends_running_jobs_and_the_workflow(repo: Path, out: Path, tmp_path: Path) -> None:
    jobs = "  slow: {image: alpine, run: sleep 30}\n  later: {needs: slow, image: alpine, run: x}\n"
    config = check(ci(out, jobs)).config
    assert config is not None
    workflow = plan(config, push_event(repo), settings()).workflow
    assert workflow is not None
    cluster = LocalCluster(tmp_path / "cluster")
    running = threading.Event()
    executor = Executor(
        cluster,
        lambda e: running.set() if "Running" in json.dumps(e.data["status"]["nodes"]) else None,
        Options(tmp_path / "runs", repo.as_uri(), Secrets({}), Engine("local"), dict(os.environ)),
    )
    cluster.watchers.append(executor.submit)
    cluster.create_workflow(workflow)
    assert running.wait(10)
    started = time.monotonic()
    executor.stop()
    assert time.monotonic() - started < 5 and executor.idle()
    stored = cluster.get_workflow("ci", workflow["metadata"]["name"])
    assert stored is not None
    assert stored["status"]["phase"] == "Failed"
    nodes = {n["displayName"]: n for n in stored["status"]["nodes"].values()}
    assert nodes["slow"]["message"] == "stopped: knargo was interrupted"
    assert "later" not in nodes or nodes["later"]["phase"] == "Omitted"
