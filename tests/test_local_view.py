"""The live view: plain lines when not on a terminal, a table redrawn in place on one."""

from __future__ import annotations

import io
from pathlib import Path

from knargo.contract import events
from knargo.contract.events import Envelope
from knargo.local.forge import Posted
from knargo.local.view import View, tail

WORKFLOW = "repo-push-abc1234-0123456789"


def workflow(phase: str, nodes: dict[str, str]) -> Envelope:
    status_nodes = {
        f"{WORKFLOW}-{i}": {
            "id": f"{WORKFLOW}-{i}",
            "displayName": task,
            "templateName": task,
            "type": "Pod",
            "phase": node_phase,
            **({"message": "Error (exit code 2)"} if node_phase == "Failed" else {}),
        }
        for i, (task, node_phase) in enumerate(nodes.items())
    }
    templates = [{"name": "pipeline"}] + [
        {"name": t, "metadata": {"annotations": {"knargo.dev/job": t}}} for t in ("build", "test")
    ]
    data = {
        "metadata": {"name": WORKFLOW, "namespace": "ci"},
        "spec": {"templates": templates},
        "status": {"phase": phase, "nodes": status_nodes},
    }
    return Envelope(type=events.WORKFLOW_UPDATED, source="s", id="e", data=data)


def posted(context: str, state: str, description: str) -> Posted:
    return Posted("local/repo", "a" * 40, context, state, state, description, None, "t")


def test_plain_lines_say_each_change_once_and_show_a_failures_log(tmp_path: Path) -> None:
    log = tmp_path / WORKFLOW / "test" / "log"
    log.parent.mkdir(parents=True)
    log.write_text("knargo: checked out abc\nrunning tests\n\nFAIL: test_x\n")
    out = io.StringIO()
    view = View(out, tmp_path, tty=False)
    view.event(workflow("Running", {"build": "Pending"}))
    view.event(workflow("Running", {"build": "Running"}))
    view.event(workflow("Running", {"build": "Running"}))
    view.event(workflow("Running", {"build": "Succeeded", "test": "Failed"}))
    view.status(posted("knargo/test", "failure", "Error (exit code 2)"))
    view.event(workflow("Failed", {"build": "Succeeded", "test": "Failed"}))
    view.event(workflow("Failed", {"build": "Succeeded", "test": "Failed"}))
    view.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == f"pipeline {WORKFLOW}: 2 jobs (build, test)"
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["build", "running"],
        ["build", "passed"],
        ["test", "failed"],
    ]
    assert lines[3].endswith(": Error (exit code 2)")
    assert lines[4:8] == [
        f"    log of test: {log}",
        "    | knargo: checked out abc",
        "    | running tests",
        "    | FAIL: test_x",
    ]
    assert lines[8:] == [  # a job's status is not said again: its line says it
        f"pipeline {WORKFLOW}: failed: failed test",
        f"logs: {tmp_path / WORKFLOW}/<job>/log",
    ]


def retry(phase: str, attempts: list[str]) -> Envelope:
    """A Workflow whose task build has a Retry node with these attempts."""
    group = f"{WORKFLOW}-1"
    nodes = {
        group: {
            "id": group,
            "displayName": "build",
            "type": "Retry",
            "phase": phase,
            "children": [f"{WORKFLOW}-a{i}" for i in range(len(attempts))],
        }
    } | {
        f"{WORKFLOW}-a{i}": {
            "id": f"{WORKFLOW}-a{i}",
            "displayName": f"build({i})",
            "type": "Pod",
            "phase": p,
        }
        for i, p in enumerate(attempts)
    }
    envelope = workflow("Running", {})
    envelope.data["status"]["nodes"] = nodes
    return envelope


def test_a_retried_job_that_passes_is_said_once(tmp_path: Path) -> None:
    out = io.StringIO()
    view = View(out, tmp_path, tty=False)
    view.event(retry("Running", ["Failed"]))
    view.event(retry("Running", ["Failed", "Running"]))
    view.event(retry("Running", ["Failed", "Succeeded"]))
    view.event(retry("Succeeded", ["Failed", "Succeeded"]))
    lines = [line.split()[:2] for line in out.getvalue().splitlines()[1:]]
    assert lines == [["build", "retrying"], ["build", "running"], ["build", "passed"]]


def test_argo_phrases_are_said_in_knargos_words(tmp_path: Path) -> None:
    out = io.StringIO()
    view = View(out, tmp_path, tty=False)
    envelope = workflow("Running", {"build": "Failed", "test": "Omitted"})
    nodes = envelope.data["status"]["nodes"]
    nodes[f"{WORKFLOW}-0"]["message"] = (
        "Pod was active on the node longer than the specified deadline"
    )
    nodes[f"{WORKFLOW}-1"]["message"] = "omitted: depends condition not met"
    view.event(envelope)
    view.status(posted("knargo", "failure", "failed: child 'build' failed"))
    text = out.getvalue()
    assert "build          failed in 0.0s: timed out (the job's timeout)" in text
    assert "test           omitted: a job it needs did not pass" in text
    assert "status knargo: failure (failed: job build failed)" in text
    assert "deadline" not in text and "depends condition" not in text


def test_a_terminal_gets_a_table_redrawn_in_place(tmp_path: Path) -> None:
    log = tmp_path / WORKFLOW / "build" / "log"
    log.parent.mkdir(parents=True)
    log.write_text("step 1\nstep 2 of 3\n")
    out = io.StringIO()
    view = View(out, tmp_path, tty=True)
    view.event(workflow("Running", {"build": "Running"}))
    view.status(posted("knargo/build", "running", "running"))
    view.status(posted("knargo", "running", "running"))
    view.say("a note")
    view.close()
    text = out.getvalue()
    assert "\x1b[3F\x1b[J" in text  # the table (header, two jobs) cleared before "a note"
    last = text.rsplit("a note\n", 1)[1].splitlines()
    assert last[0].split() == ["JOB", "STATE", "TIME", "LOG"]
    assert (
        last[1].split()[0] == "build" and "running" in last[1] and last[1].endswith("step 2 of 3")
    )
    assert last[2].split()[:2] == ["test", "queued"]
    assert last[3] == "  status knargo: running (running)"
    assert "knargo/build" not in text


def test_tail_reads_the_last_lines(tmp_path: Path) -> None:
    (tmp_path / "log").write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    assert tail(tmp_path / "log", 2) == ["line 4998", "line 4999"]
    assert tail(tmp_path / "none", 2) == []
