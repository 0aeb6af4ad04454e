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
    assert lines[4:7] == [
        "    | knargo: checked out abc",
        "    | running tests",
        "    | FAIL: test_x",
    ]
    assert lines[7:] == [
        "  status knargo/test: failure (Error (exit code 2))",
        f"pipeline {WORKFLOW}: failed",
    ]


def test_a_terminal_gets_a_table_redrawn_in_place(tmp_path: Path) -> None:
    log = tmp_path / WORKFLOW / "build" / "log"
    log.parent.mkdir(parents=True)
    log.write_text("step 1\nstep 2 of 3\n")
    out = io.StringIO()
    view = View(out, tmp_path, tty=True)
    view.event(workflow("Running", {"build": "Running"}))
    view.status(posted("knargo/build", "running", "running"))
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
    assert last[3] == "  status knargo/build: running (running)"


def test_tail_reads_the_last_lines(tmp_path: Path) -> None:
    (tmp_path / "log").write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    assert tail(tmp_path / "log", 2) == ["line 4998", "line 4999"]
    assert tail(tmp_path / "none", 2) == []
