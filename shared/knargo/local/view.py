"""What a local run shows while it goes: jobs, their state, duration and log, and statuses.

On a terminal the table of the latest Workflow is redrawn in place (job, state, duration,
the last line of its log) with the pipeline's status below it; elsewhere each change is one
plain line, and a job that fails prints the path and the tail of its log (`logs="all"`: every
job prints its whole log when it ends). The last line names every job that did not pass. The
view is told about generate's replies and the executor's Workflow updates as they are made,
and about each status posted (each job's own status is in `.knargo/statuses.jsonl`: the
console shows the job once); it never sees a secret (logs are masked when written). Argo's
phrases are said in knargo's words.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from knargo.contract import events
from knargo.contract.events import Envelope
from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.functions.status import (
    OMITTED,
    State,
    gate_states,
    pipeline_status,
    skip_reason,
)
from knargo.local.broker import DeadLetter
from knargo.local.executor import log_path
from knargo.local.forge import Posted
from knargo.local.selection import job_tasks

__all__ = ["View", "dead_letter_lines", "tail"]

STATES = {
    "Pending": "starting",
    "Running": "running",
    "Succeeded": "passed",
    "Failed": "failed",
    "Error": "error",
    "Omitted": "omitted",
    "Skipped": "skipped",
}
FINAL = frozenset({"passed", "failed", "error", "omitted", "skipped"})
COLOURS = {"passed": "32", "failed": "31", "error": "31", "running": "33", "starting": "33"}
TAIL_LINES = 10
PIPELINE_CONTEXT = re.compile(r"^[^/]+$")  # the pipeline's status, not a job's (`knargo/job`)
# Argo's phrases (the executor writes them as Argo does), as the console says them.
WORDS = (
    (
        re.compile(r"^(?:skipped: )?omitted: depends condition not met$"),
        "a job it needs did not pass",
    ),
    (
        re.compile(r"Pod was active on the node longer than the specified deadline"),
        "timed out (the job's timeout)",
    ),
    (re.compile(r"child '([^']*)' failed"), r"job \1 failed"),
)


def plain(message: str) -> str:
    """A message with Argo's phrases in knargo's words."""
    for pattern, words in WORDS:
        message = pattern.sub(words, message)
    return message


@dataclass
class _Row:
    job: str
    task: str
    state: str = "queued"
    started: float | None = None
    finished: float | None = None
    message: str = ""
    attempt: int = 1

    def duration(self, now: float) -> str:
        return "" if self.started is None else f"{(self.finished or now) - self.started:.1f}s"


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` non-blank lines of a log (none when there is no log)."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, 2) - 8192))
            text = file.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


class View:
    def __init__(self, out: TextIO, runs: Path, *, tty: bool, logs: str = "failed") -> None:
        self.out, self.runs, self.tty, self.logs = out, runs, tty, logs
        self.workflows: dict[str, dict[str, _Row]] = {}
        self.current = ""
        self.statuses: dict[str, Posted] = {}
        self._ended: set[str] = set()
        self._drawn = 0
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def start(self) -> None:
        if self.tty:
            self._ticker.start()

    def close(self) -> None:
        self._closed.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout=2)
        with self._lock:
            self._clear()
            self._redraw()
            self._drawn = 0  # the last table stays on the screen
            if self.tty:
                for row in self.workflows.get(self.current, {}).values():
                    if row.state in ("failed", "error") or self.logs == "all":
                        self._show_log(self.current, row)

    def say(self, text: str) -> None:
        """A line that stays (printed above the table on a terminal)."""
        with self._lock:
            self._clear()
            self.out.write(text + "\n")
            self._redraw()

    def event(self, envelope: Envelope) -> None:
        with self._lock:
            data = envelope.data
            if envelope.type == events.PIPELINE_SUBMITTED:
                self._submitted(data)
            elif envelope.type == events.PIPELINE_REJECTED:
                self.say("pipeline rejected:")
                for d in data.get("diagnostics", []):
                    severity = Severity(d["severity"])
                    found = Diagnostic(
                        d["file"], d["line"], d["col"], severity, d["message"], d["rule"]
                    )
                    self.say(f"  {found}")
            elif envelope.type == events.PIPELINE_SKIPPED:
                self.say(f"pipeline skipped: {data.get('reason', '')}")
            elif envelope.type == events.WORKFLOW_UPDATED:
                self._updated(data, time.monotonic())

    def status(self, posted: Posted) -> None:
        if not PIPELINE_CONTEXT.match(posted.context):
            return  # a job's status: the job's own line says it
        with self._lock:
            self.statuses[posted.context] = posted
            if not self.tty:
                self.say(f"  status {posted.context}: {posted.state} ({plain(posted.description)})")

    def _adopt(self, workflow: str, jobs: Iterable[tuple[str, str]]) -> None:
        rows = {task: _Row(job, task) for job, task in jobs}
        self.workflows[workflow], self.current, self.statuses = rows, workflow, {}
        names = ", ".join(row.job for row in rows.values())
        count = f"{len(rows)} job{'' if len(rows) == 1 else 's'}"
        self.say(f"pipeline {workflow}: {count} ({names})")

    def _submitted(self, data: Mapping[str, Any]) -> None:
        name = data["workflow"]
        if not data.get("created", True):
            self.say(f"pipeline {name} exists already (a redelivery): not run again")
            return
        if name not in self.workflows:
            self._adopt(name, ((job["id"], job["task"]) for job in data["jobs"]))
        for note in data.get("notes", []):
            self.say(f"  note: {note}")

    def _updated(self, workflow: Mapping[str, Any], now: float) -> None:
        name = workflow["metadata"]["name"]
        status = workflow.get("status") or {}
        if name in self._ended:
            return
        if name not in self.workflows:
            self._adopt(name, job_tasks(workflow["spec"]).items())
        nodes = status.get("nodes") or {}
        gates = gate_states(workflow)
        for node in nodes.values():
            row = self.workflows[name].get(node.get("displayName", ""))
            if row is not None and node.get("type") in ("Pod", "Retry", "Skipped"):
                state, message, attempt = _state(node, nodes)
                refused = gates.get(row.job)
                if state == "omitted" and refused and refused[0] is State.FAILURE:
                    state, message = "failed", refused[1]  # its approval gate failed
                elif state == "omitted" and message == OMITTED:
                    message = skip_reason(workflow, row.task)
                self._move(name, row, state, message, attempt, now)
        phase = status.get("phase", "")
        if phase in ("Succeeded", "Failed", "Error"):
            self._ended.add(name)
            passed = pipeline_status(workflow)[0] is State.SUCCESS
            if phase == "Succeeded" and not passed:
                phase = "Failed"  # a job failed, and a job that ran after it succeeded
            elif phase == "Failed" and passed:
                phase = "Succeeded"  # only jobs that may fail did (a DAG with `depends`)
            self.say(f"pipeline {name}: {phase.lower()}{self._summary(name, status)}")
            self.say(f"logs: {self.runs / name}/<job>/log")

    def _summary(self, name: str, status: Mapping[str, Any]) -> str:
        """Every job that did not pass, by state; else the Workflow's own message."""
        by_state: dict[str, list[str]] = {}
        for row in self.workflows[name].values():
            if row.state != "passed":
                by_state.setdefault(row.state, []).append(row.job)
        if by_state:
            return ": " + "; ".join(f"{k} {', '.join(v)}" for k, v in by_state.items())
        return f": {plain(status['message'])}" if status.get("message") else ""

    def _move(
        self, workflow: str, row: _Row, state: str, message: str, attempt: int, now: float
    ) -> None:
        if (row.state, row.attempt) == (state, attempt):
            return
        if row.started is None and state not in ("omitted", "skipped"):
            row.started = now
        row.finished = now if state in FINAL else None
        row.state, row.message, row.attempt = state, plain(message), attempt
        if self.tty or state == "starting":
            return
        retry = f" (attempt {attempt})" if attempt > 1 and state not in FINAL else ""
        took = f" in {row.duration(now)}" if state in FINAL and row.started is not None else ""
        shown = f": {row.message}" if message else ""
        self.say(f"  {row.job:<14} {state}{retry}{took}{shown}")
        if state in ("failed", "error") or (state == "passed" and self.logs == "all"):
            self._show_log(workflow, row)

    def _show_log(self, workflow: str, row: _Row) -> None:
        path = log_path(self.runs, workflow, row.task)
        if not path.exists():
            return  # it never ran (e.g. not approved)
        self.say(f"    log of {row.job}: {path}")
        lines = tail(path, TAIL_LINES) if self.logs != "all" else _whole(path)
        for line in lines:
            self.say(f"    | {line}")

    def _tick(self) -> None:
        while not self._closed.wait(0.25):
            with self._lock:
                self._clear()
                self._redraw()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _redraw(self) -> None:
        rows = self.workflows.get(self.current)
        if self.tty and rows:
            lines = self._table(rows, time.monotonic())
            self.out.write("".join(line + "\n" for line in lines))
            self._drawn = len(lines)
        self.out.flush()

    def _table(self, rows: Mapping[str, _Row], now: float) -> list[str]:
        """One line per job and per status, each cut to the terminal's width (a wrapped line
        would throw off the redraw)."""
        columns = shutil.get_terminal_size((100, 24)).columns - 1
        width = max(len(row.job) for row in rows.values())
        room = max(10, columns - width - 22)
        lines = [f"  {'JOB':<{width}}  {'STATE':<8}  {'TIME':>6}  LOG"[:columns]]
        for row in rows.values():
            log = tail(log_path(self.runs, self.current, row.task), 1)
            last = row.message if row.state in FINAL else " ".join(log)
            colour = COLOURS.get(row.state)
            state = f"\x1b[{colour}m{row.state:<8}\x1b[0m" if colour else f"{row.state:<8}"
            lines.append(f"  {row.job:<{width}}  {state}  {row.duration(now):>6}  {last[:room]}")
        for context, posted in self.statuses.items():
            lines.append(f"  status {context}: {posted.state} ({posted.description})"[:columns])
        return lines


def _whole(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _state(node: Mapping[str, Any], nodes: Mapping[str, Any]) -> tuple[str, str, int]:
    """A task's state, message and attempt (a Retry node shows its latest attempt, and
    counts its attempts once it has ended too, so that its end is told once)."""
    if node.get("type") != "Retry":
        return STATES.get(node.get("phase", ""), "running"), node.get("message", ""), 1
    prefix = node["displayName"] + "("
    attempts = [
        nodes[c]
        for c in node.get("children", [])
        if nodes.get(c, {}).get("displayName", "").startswith(prefix)
    ]
    if node.get("phase") in ("Succeeded", "Failed", "Error"):
        return STATES[node["phase"]], node.get("message", ""), max(1, len(attempts))
    if not attempts:
        return "starting", "", 1
    state = STATES.get(attempts[-1]["phase"], "running")
    return ("retrying" if state in FINAL - {"passed"} else state), "", len(attempts)


def dead_letter_lines(letters: Iterable[DeadLetter]) -> list[str]:
    letters = list(letters)
    lines = [f"dead letters: {len(letters)}"] if letters else []
    for letter in letters:
        lines.append(
            f"  {letter.envelope.type} {letter.envelope.id} → {letter.function}: "
            f"HTTP {letter.status} after {letter.attempts} attempt(s): {letter.reason}"
        )
    return lines
