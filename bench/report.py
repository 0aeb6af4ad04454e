"""Benchmark of the report function as a real process, against the loopback fakes.

Run from the repository root:

    .venv/bin/python bench/report.py            # full run (about 1 minute on 2 cores)
    .venv/bin/python bench/report.py --quick    # fewer runs and start-ups (about 25 s)
    .venv/bin/python bench/report.py --json     # one JSON document instead of tables

The function is started as in production, `functions-framework --source
functions/report/main.py --target handle`, with WORKERS=1 and THREADS=8, bound to 127.0.0.1
only (KNARGO_METRICS_PORT=0: its metrics server would listen on every address; no OTEL_*
variable, so no span is exported). It reads Workflows from the Kubernetes API fake
(tests/kubefake.py) and reads and posts commit statuses on the forge API fake
(tests/forgefake.py, GitHub), each fake in a process of its own.

The traffic is that of real pipeline runs: the 10-job ci.yaml of bench/generate.py (build,
then 7 jobs in parallel, then package and deploy), translated by `knargo.language.lint.check` and
`knargo.translation.plan.plan` for a push to main of a new commit, one job failing
(test-integration, so package and deploy are omitted). Each run is generate's
`dev.knargo.pipeline.submitted` reply, then one `dev.knargo.workflow.updated` per node change
as Argo's controller makes them (tests/argo_sim.py; the body is the Workflow, as the Sensor
sends it), each stored in the kube fake before it is posted, since the function reads the
Workflow as the cluster has it now. Delivery is at least once: 20 % of a run's events are
delivered again, 1 to 8 events later, with the same CloudEvent id.

What it measures:

* Forge API calls per run, from the forge fake's records: the list calls (the combined status
  of the commit) per event, and the status posts beside the transitions of the run (per
  context: queued, running, final, as docs/statuses.md describes, computed from the
  snapshots the run went through), and whether each context's last status is the run's true
  final state.
* Throughput and latency at concurrency 8: 8 threads, each playing whole runs (distinct
  commits and Workflows) one event after the other on keep-alive connections; the gunicorn
  worker's CPU time per event, the handler's own time, and the time inside the fakes.
* The same counts when a run's events overlap, as when Argo's updates come faster than the
  answers and the broker delivers them concurrently: runs one after the other, each Workflow
  stored in order and its event sent at once, up to 8 events in flight.
* Start-up: spawn to the first 202 answer to a real `dev.knargo.pipeline.skipped` event (a
  push to a branch ci.yaml does not run for, a new commit each time), 7 runs and a warm-up,
  interleaved with a trivial functions-framework CloudEvent function; the slowest imports.

Goals (from the issue): at most 1 list call per event and no more posts than transitions
(checked for both ways of delivering a run's events).
There is no start-up goal for report: the ratio is printed beside the webhook's (1.3x) and
generate's (2x). Missed goals are reported; the script exits 1 only when an answer is not
202, a run's final statuses are wrong or the forge fake saw a contract violation.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import generate as gen  # bench/generate.py (this script's directory is first on sys.path)
import webhook as wh  # bench/webhook.py

from knargo.config.settings import Settings
from knargo.contract import cloudevent, events
from knargo.functions.generate import Reply
from knargo.language.dialect import CiConfig
from knargo.language.lint import check
from knargo.translation.plan import Plan as Planned
from knargo.translation.plan import plan

ROOT = Path(__file__).resolve().parent.parent
REPORT_SOURCE = "functions/report/main.py"
FORGE, REPO, TOKEN, NAMESPACE = gen.FORGE, gen.REPO, gen.TOKEN, gen.NAMESPACE
CI_YAML = gen.CI_YAML  # build → 7 in parallel → package → deploy
JOBS = 10
FAILING = "test-integration"  # package and deploy are then omitted
SENSOR_SOURCE = "argo-events/knargo/knargo-workflows"  # knative/sensor.yaml
SKIPPED_REF = "refs/heads/wip/spike"  # on.push.branches does not match: pipeline.skipped
REDELIVERED = 0.2  # share of a run's events delivered a second time
REDELIVERY_DELAY = (1, 8)  # that many events later
STARTUP_INDEX = 100_000  # the start-ups' commits, apart from the runs'
BREAKDOWN_INDEX = 200_000  # the stage breakdown's commits
STORE_PATH = "/_bench/workflows"  # the kube fake stores the body as Argo's controller would

# docs/statuses.md: Argo's phases in knargo's states, and knargo's states in GitHub's words.
ARGO_STATES = {
    "Pending": "running",
    "Running": "running",
    "Succeeded": "success",
    "Failed": "failure",
    "Error": "error",
    "Omitted": "skipped",
    "Skipped": "skipped",
}
GITHUB_WORDS = {
    "queued": "pending",
    "running": "pending",
    "success": "success",
    "failure": "failure",
    "error": "error",
    "skipped": "success",
}
RANKS = {"queued": 0, "running": 1}  # every other state is final (2)

# One fake per process: argv is the role (kube or forge) and a JSON spec file. It prints one
# JSON line when it serves, then one JSON line per command read from stdin: `totals` (the
# requests served and the time spent inside the fake), `stats` (also the forge's calls and
# last statuses per commit) or `posted <sha>` (every status posted on a commit, in order).
# The kube fake also stores a Workflow PUT to STORE_PATH without validation (put_object, as
# the tests seed it) and drops its request records, which only grow.
FAKE = """\
import json
import re
import sys
import threading
import time
from pathlib import Path

role, spec = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
sys.path.insert(0, spec["tests"])
totals = {"requests": 0, "wall_s": 0.0, "cpu_s": 0.0, "errors": 0}
lock = threading.Lock()
LIST = re.compile(r"/repos/[^/]+/[^/]+/commits/([0-9a-f]{40})/status$")
POST = re.compile(r"/repos/[^/]+/[^/]+/statuses/([0-9a-f]{40})$")


def timed(call, status_of):
    def wrapper(*args):
        wall, cpu = time.perf_counter(), time.thread_time()
        answer = None
        try:
            answer = call(*args)
            return answer
        finally:
            with lock:
                totals["requests"] += 1
                totals["wall_s"] += time.perf_counter() - wall
                totals["cpu_s"] += time.thread_time() - cpu
                totals["errors"] += answer is None or status_of(answer) >= 300

    return wrapper


def kube_routes(fake):
    served = timed(fake.handle, lambda answer: answer[0])

    def route(method, target, headers, raw):
        if method == "PUT" and target == spec["store"]:
            stored = fake.put_object(json.loads(raw), "workflows")
            return 200, {"resourceVersion": stored["metadata"]["resourceVersion"]}, []
        try:
            return served(method, target, headers, raw)
        finally:
            with fake.lock:
                del fake.requests[:], fake.headers[:]

    fake.handle = route


def forge_calls(fake):
    with fake.lock:
        requests = list(fake.requests)
        violations = list(fake.violations)
    commits = {}
    for request in requests:
        kind, sha = "other", "other"
        for method, pattern, name in (("GET", LIST, "lists"), ("POST", POST, "posts")):
            match = pattern.search(request.path) if request.method == method else None
            if match:
                kind, sha = name, match.group(1)
        calls = commits.setdefault(sha, {"lists": 0, "posts": 0, "other": 0, "failed": 0})
        calls[kind] += 1
        calls["failed"] += request.status >= 300
    for sha, calls in commits.items():
        last, calls["repeats"], calls["backwards"] = {}, 0, 0
        for status in fake.statuses(spec["forge"], spec["repo"], sha) if sha != "other" else []:
            shown = last.get(status.context)
            posted = [status.state, status.description]
            calls["repeats"] += posted == shown
            calls["backwards"] += bool(shown) and rank(posted) < rank(shown)
            last[status.context] = posted
        calls["last"] = last
    return {"commits": commits, "violations": len(violations), "first_violations": violations[:3]}


def rank(status):
    state, description = status
    return 2 if state != "pending" else int(description == "running")


def answer(fake, command):
    with lock:
        counters = dict(totals)
    if command == "stats" and role == "forge":
        return {**counters, **forge_calls(fake)}
    if command.startswith("posted "):
        found = fake.statuses(spec["forge"], spec["repo"], command.split()[1])
        return {"posted": [[s.context, s.state, s.description] for s in found]}
    return counters


def serve(fake, ready):
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        print(json.dumps(answer(fake, line.strip())), flush=True)


if role == "kube":
    from kubefake import running_kube

    with running_kube() as fake:
        kube_routes(fake)
        path = fake.kubeconfig(Path(spec["kubeconfig"]))
        serve(fake, {"url": fake.url, "kubeconfig": str(path)})
else:
    from forgefake import running_forges

    with running_forges({spec["forge"]: spec["token"]}) as fake:
        fake.dispatch = timed(fake.dispatch, lambda answer: answer[0])
        for sha in spec["shas"]:
            fake.add_commit(spec["forge"], spec["repo"], sha)
        serve(fake, {"url": fake.url, "api_url": fake.api_url(spec["forge"])})
"""

CONCURRENCY = 8
JSON_HEADERS = {"Content-Type": "application/json"}
REQUEST_TIMEOUT_S = 30.0
LOAD_TIMEOUT_S = 300.0  # one load run, at most
GOAL_LISTS_PER_EVENT = 1.0


# --- the traffic of a run ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One delivery to the function; `store`: put its Workflow in the cluster first."""

    kind: str  # "submitted", "updated" or "redelivered"
    delivery: wh.Delivery
    store: bool


@dataclass
class Run:
    """A pipeline run: its events in delivery order and what its statuses must be."""

    index: int
    sha: str
    workflow: str
    steps: list[Step]
    transitions: dict[str, int]  # context → transitions (queued, running, final)
    final: dict[str, str]  # context → knargo state of the run's end


def delivery(envelope: events.Envelope) -> wh.Delivery:
    message = cloudevent.encode(envelope)
    return wh.Delivery(message.body, message.headers)


def argo_run() -> Callable[..., Iterator[dict[str, Any]]]:
    """tests/argo_sim.py's `run`: the Workflows Argo's controller stores, one per change."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from argo_sim import run

    simulate: Callable[..., Iterator[dict[str, Any]]] = run
    return simulate


def submitted_envelope(
    event: events.GitEvent, planned: Planned, settings: Settings
) -> events.Envelope:
    """generate's reply for the new Workflow, as functions/generate sends it."""
    assert planned.workflow is not None
    meta = planned.workflow["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    data = events.PipelineSubmitted(
        event=event,
        namespace=namespace,
        workflow=name,
        ui_url=f"{settings.argo_ui_url.rstrip('/')}/workflows/{namespace}/{name}",
        jobs=[events.JobInfo(id=j.id, task=j.task, needs=list(j.needs)) for j in planned.jobs],
        created=True,
    )
    return Reply(events.PIPELINE_SUBMITTED, data, event).envelope()


def updated_envelope(snapshot: dict[str, Any], index: int) -> events.Envelope:
    """What the Sensor posts: the Workflow as the body, the Argo Events event id."""
    version = snapshot["metadata"]["resourceVersion"]
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"knargo-bench-report-{index}-{version}")
    return events.Envelope(
        type=events.WORKFLOW_UPDATED, source=SENSOR_SOURCE, id=event_id.hex, data=snapshot
    )


def with_redeliveries(originals: list[Step], rng: random.Random) -> list[Step]:
    """Each event once, and a share of them again some events later (at least once)."""
    again: dict[int, list[Step]] = {}
    for position in sorted(rng.sample(range(len(originals)), round(len(originals) * REDELIVERED))):
        at = min(position + rng.randint(*REDELIVERY_DELAY), len(originals) - 1)
        again.setdefault(at, []).append(Step("redelivered", originals[position].delivery, False))
    steps = []
    for position, step in enumerate(originals):
        steps.append(step)
        steps.extend(again.get(position, []))
    return steps


def rank(state: str) -> int:
    return RANKS.get(state, 2)


def states_seen(
    prefix: str, tasks: Mapping[str, str], snapshots: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Each context's knargo state after each event of the run, from Argo's own fields:
    queued for all at pipeline.submitted, then per snapshot the Workflow's and nodes' phases
    (docs/statuses.md: no node yet is queued, or skipped once the Workflow has ended)."""
    seen = {prefix: ["queued"], **{f"{prefix}/{job}": ["queued"] for job in tasks.values()}}
    for snapshot in snapshots:
        status = snapshot.get("status") or {}
        pipeline = ARGO_STATES.get(status.get("phase") or "Pending", "running")
        seen[prefix].append(pipeline)
        nodes = {n["displayName"]: n for n in (status.get("nodes") or {}).values()}
        for task, job in tasks.items():
            node = nodes.get(task)
            if node is None:
                state = "queued" if pipeline == "running" else "skipped"
            else:
                state = ARGO_STATES.get(node.get("phase", ""), "running")
            seen[f"{prefix}/{job}"].append(state)
    return seen


def transitions(states: list[str]) -> int:
    """How often a context moves forward: queued, then running, then a final state."""
    count, reached = 0, -1
    for state in states:
        if rank(state) > reached:
            count, reached = count + 1, rank(state)
    return count


def build_run(index: int, settings: Settings, config: CiConfig) -> Run:
    """A push of a new commit to main, its Workflow run by the simulated controller."""
    event = gen.git_event(index)
    planned = plan(config, event, settings)
    if planned.workflow is None:
        raise RuntimeError(f"the benchmark ci.yaml did not translate: {planned.skipped}")
    workflow: dict[str, Any] = dict(planned.workflow)
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"knargo-bench-report-uid-{index}"))
    snapshots = list(argo_run()(workflow, {FAILING: "Failed"}, uid=uid))
    originals = [Step("submitted", delivery(submitted_envelope(event, planned, settings)), False)]
    originals += [Step("updated", delivery(updated_envelope(s, index)), True) for s in snapshots]
    seen = states_seen(settings.status_context, {j.task: j.id for j in planned.jobs}, snapshots)
    return Run(
        index=index,
        sha=event.sha,
        workflow=workflow["metadata"]["name"],
        steps=with_redeliveries(originals, random.Random(index)),
        transitions={context: transitions(states) for context, states in seen.items()},
        final={context: states[-1] for context, states in seen.items()},
    )


def skipped_delivery(index: int, settings: Settings, config: CiConfig) -> wh.Delivery:
    """A real pipeline.skipped reply: a push of a new commit to a branch ci.yaml does not run
    for (so report posts one passing "skipped" status)."""
    event = gen.git_event(index).model_copy(update={"ref": SKIPPED_REF})
    planned = plan(config, event, settings)
    if planned.workflow is not None or not planned.skipped:
        raise RuntimeError(f"a push to {SKIPPED_REF} was not skipped")
    data = events.PipelineSkipped(event=event, reason=planned.skipped, notes=planned.notes)
    return delivery(Reply(events.PIPELINE_SKIPPED, data, event).envelope())


# --- the fakes and the function -------------------------------------------------------------


def start_fake(procs: wh.Processes, workdir: Path, role: str, spec: dict[str, Any]) -> gen.Fake:
    spec_file = workdir / f"{role}-spec.json"
    spec_file.write_text(json.dumps({**spec, "tests": str(ROOT / "tests"), "store": STORE_PATH}))
    with (workdir / "logs" / f"{role}-fake.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", FAKE, role, str(spec_file)],
            cwd=ROOT,
            env=dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    procs.running.append(proc)
    ready = gen.read_json_line(proc, gen.FAKE_START_TIMEOUT_S, f"the {role} fake")
    return gen.Fake(role, proc, ready)


def ask(fake: gen.Fake, command: str) -> dict[str, Any]:
    """One command to a fake, its one-line JSON answer (bounded)."""
    assert fake.proc.stdin is not None
    fake.proc.stdin.write(command.encode() + b"\n")
    fake.proc.stdin.flush()
    return gen.read_json_line(fake.proc, gen.FAKE_QUERY_TIMEOUT_S, f"the {fake.role} fake")


def write_files(workdir: Path, api_url: str) -> dict[str, str]:
    """report's configuration and its forge token; its environment variables for them."""
    (workdir / "config.yaml").write_text(gen.config_text(api_url))
    credentials = workdir / "credentials"
    credentials.mkdir()
    (credentials / f"{FORGE}.token").write_text(TOKEN + "\n")
    trivial = workdir / "trivial"
    trivial.mkdir()
    (trivial / "main.py").write_text(gen.TRIVIAL)
    return {
        "KNARGO_CONFIG": str(workdir / "config.yaml"),
        "KNARGO_CREDENTIALS_DIR": str(credentials),
    }


def make_functions(
    workdir: Path, knargo_env: dict[str, str], kubeconfig: str
) -> tuple[wh.Function, wh.Function]:
    """The report function (metrics server off, no span export) and the trivial one."""
    env = {
        k: v
        for k, v in wh.base_env().items()
        if k != "KUBERNETES_SERVICE_HOST" and not k.startswith("OTEL_")
    }
    report_env = {**env, **knargo_env, "KUBECONFIG": kubeconfig, "KNARGO_METRICS_PORT": "0"}
    logs = workdir / "logs"
    return (
        wh.Function("report", REPORT_SOURCE, report_env, logs),
        wh.Function("trivial", str(workdir / "trivial" / "main.py"), env, logs),
    )


# --- playing runs ---------------------------------------------------------------------------


class Connection:
    """One keep-alive connection to 127.0.0.1:port, opened again after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        self.used = False  # an answer came on this connection

    def send(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection failed. A keep-alive connection the
        server closed while it was idle is opened again and the request sent once more."""
        stale = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=dict(headers))
                response = self.conn.getresponse()
                answer = response.status, response.read()
                self.used = True
                return answer
            except (OSError, http.client.HTTPException) as exc:
                retry = attempt == 1 and self.used and isinstance(exc, stale)
                self.close()
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S
                )
                self.used = False
                if not retry:
                    break
        return 0, b""

    def close(self) -> None:
        self.conn.close()


@dataclass
class Answer:
    """The function's answer to one step of a run."""

    run: int
    kind: str
    seconds: float
    status: int
    posted: int  # statuses the function says it posted
    stored: bool  # the kube fake stored the Workflow first (or nothing was to be stored)


def posted_of(body: bytes) -> int:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return int(json.loads(body)["posted"])
    return -1


def play(
    function_port: int, kube_port: int, runs: list[Run], gate: threading.Barrier
) -> list[Answer]:
    """Each run's steps in order: store the Workflow in the cluster, then POST the event."""
    function, kube = Connection(function_port), Connection(kube_port)
    answers = []
    try:
        gate.wait(timeout=REQUEST_TIMEOUT_S)
        for run_ in runs:
            for step in run_.steps:
                stored = True
                if step.store:
                    stored = (
                        kube.send("PUT", STORE_PATH, step.delivery.body, JSON_HEADERS)[0] == 200
                    )
                started = time.perf_counter()
                status, body = function.send("POST", "/", step.delivery.body, step.delivery.headers)
                elapsed = time.perf_counter() - started
                answers.append(
                    Answer(run_.index, step.kind, elapsed, status, posted_of(body), stored)
                )
    finally:
        function.close()
        kube.close()
    return answers


def overlap_play(function_port: int, kube_port: int, runs: list[Run]) -> tuple[list[Answer], float]:
    """Runs one after the other; each Workflow stored in order and its event sent at once,
    without waiting for the answers to the earlier ones: up to CONCURRENCY events in flight
    (the writer waits for a free slot before it stores the next Workflow)."""
    slots = threading.BoundedSemaphore(CONCURRENCY)
    local = threading.local()
    lock = threading.Lock()
    opened: list[Connection] = []
    answers: list[Answer] = []

    def send(index: int, step: Step, stored: bool) -> None:
        try:
            function = getattr(local, "function", None)
            if function is None:
                function = local.function = Connection(function_port)
                with lock:
                    opened.append(function)
            started = time.perf_counter()
            status, body = function.send("POST", "/", step.delivery.body, step.delivery.headers)
            elapsed = time.perf_counter() - started
            answer = Answer(index, step.kind, elapsed, status, posted_of(body), stored)
            with lock:
                answers.append(answer)
        finally:
            slots.release()

    kube = Connection(kube_port)
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            for run_ in runs:
                for step in run_.steps:
                    if not slots.acquire(timeout=LOAD_TIMEOUT_S):
                        raise RuntimeError("the report function stopped answering")
                    stored = True
                    if step.store:
                        answer = kube.send("PUT", STORE_PATH, step.delivery.body, JSON_HEADERS)
                        stored = answer[0] == 200
                    pool.submit(send, run_.index, step, stored)
        elapsed = time.perf_counter() - started
    finally:
        for connection in [kube, *opened]:
            connection.close()
    return answers, elapsed


@dataclass
class Target:
    """The running function, its worker, and the fakes whose CPU time is counted."""

    running: wh.Running
    worker: int
    kube: gen.Fake
    forge: gen.Fake


@dataclass
class LoadRun:
    runs: int
    events: int
    seconds: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    bad_answers: int
    worker_cpu_s: float
    kube_cpu_s: float
    forge_cpu_s: float
    handler_ms: list[float] = field(default_factory=list, repr=False)
    latencies_ms: list[float] = field(default_factory=list, repr=False)


def cpu_times(target: Target) -> list[float]:
    return [gen.process_cpu_s(target.worker), target.kube.cpu_s(), target.forge.cpu_s()]


def load_run(target: Target, runs: list[Run], answers: list[Answer]) -> LoadRun:
    """`runs` from CONCURRENCY threads, each playing whole runs; answers appended."""
    slices = [runs[i::CONCURRENCY] for i in range(CONCURRENCY)]
    results: list[list[Answer]] = [[] for _ in slices]
    gate = threading.Barrier(CONCURRENCY + 1)
    ports = target.running.port, int(target.kube.ready["url"].rsplit(":", 1)[1])

    def work(i: int) -> None:
        results[i] = play(*ports, slices[i], gate)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    log_offset = target.running.log.stat().st_size
    before = cpu_times(target)
    gate.wait(timeout=REQUEST_TIMEOUT_S)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.0, started + LOAD_TIMEOUT_S - time.perf_counter()))
    elapsed = time.perf_counter() - started
    after = cpu_times(target)
    done = [a for per_thread in results for a in per_thread]
    answers.extend(done)
    latencies = [a.seconds for a in done]
    sent = sum(len(r.steps) for r in runs)
    return LoadRun(
        runs=len(runs),
        events=sent,
        seconds=elapsed,
        events_per_s=len(done) / elapsed,
        p50_ms=wh.percentile_ms(latencies, 50),
        p99_ms=wh.percentile_ms(latencies, 99),
        bad_answers=sent - sum(good(a) for a in done),
        worker_cpu_s=after[0] - before[0],
        kube_cpu_s=after[1] - before[1],
        forge_cpu_s=after[2] - before[2],
        handler_ms=handler_durations(target.running.log, log_offset),
        latencies_ms=[s * 1000 for s in latencies],
    )


def good(answer: Answer) -> bool:
    return answer.status == 202 and answer.posted >= 0 and answer.stored


def handler_durations(log: Path, offset: int) -> list[float]:
    """`duration_ms` of the function's log lines for handled events, from `offset` on."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    durations = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entry = json.loads(line)
            if entry.get("message") in ("reported", "not reported"):
                durations.append(float(entry["duration_ms"]))
    return durations


@dataclass
class LoadSummary:
    runs: list[LoadRun]
    warmup_runs: int
    events: int
    events_per_s: float
    p50_ms: float
    p99_ms: float
    handler_p50_ms: float
    bad_answers: int
    worker_cpu_ms_per_event: float
    kube_cpu_ms_per_event: float
    forge_cpu_ms_per_event: float


def summarise(runs: list[LoadRun], warmup: int) -> LoadSummary:
    """Events/s: median of the runs; percentiles: of every latency of every run."""
    latencies = [ms / 1000 for r in runs for ms in r.latencies_ms]
    handler = [ms for r in runs for ms in r.handler_ms]
    total = sum(r.events for r in runs)
    return LoadSummary(
        runs=runs,
        warmup_runs=warmup,
        events=total,
        events_per_s=statistics.median(r.events_per_s for r in runs),
        p50_ms=wh.percentile_ms(latencies, 50),
        p99_ms=wh.percentile_ms(latencies, 99),
        handler_p50_ms=statistics.median(handler) if handler else float("nan"),
        bad_answers=sum(r.bad_answers for r in runs),
        worker_cpu_ms_per_event=sum(r.worker_cpu_s for r in runs) / total * 1000,
        kube_cpu_ms_per_event=sum(r.kube_cpu_s for r in runs) / total * 1000,
        forge_cpu_ms_per_event=sum(r.forge_cpu_s for r in runs) / total * 1000,
    )


@dataclass
class FakeStats:
    """Time inside a fake during the measured runs, per request."""

    fake: str
    requests: int
    requests_per_event: float
    wall_ms: float
    cpu_ms: float
    errors: int


def fake_stats(name: str, before: dict[str, Any], after: dict[str, Any], evs: int) -> FakeStats:
    requests = after["requests"] - before["requests"]
    per = max(requests, 1)
    return FakeStats(
        fake=name,
        requests=requests,
        requests_per_event=requests / evs,
        wall_ms=(after["wall_s"] - before["wall_s"]) / per * 1000,
        cpu_ms=(after["cpu_s"] - before["cpu_s"]) / per * 1000,
        errors=after["errors"] - before["errors"],
    )


# --- forge API calls per run -----------------------------------------------------------------


@dataclass
class RunCount:
    """One run's forge API calls (the forge fake's records) against what the run needs."""

    index: int
    events: int
    lists: int
    posts: int
    failed: int
    repeats: int  # posts of the status the context already showed
    backwards: int  # posts that took a context back (final → pending, running → queued)
    transitions: int
    replied_posts: int  # the sum of the function's own `posted` answers
    wrong_final: list[str]  # "context: got X, want Y"


def count_run(run_: Run, calls: Mapping[str, Any], answers: list[Answer]) -> RunCount:
    last = calls.get("last", {})
    wrong = []
    for context, state in run_.final.items():
        want = GITHUB_WORDS[state]
        got = (last.get(context) or ["(none)"])[0]
        if got != want:
            wrong.append(f"{context}: got {got}, want {want} ({state})")
    return RunCount(
        index=run_.index,
        events=len(run_.steps),
        lists=calls.get("lists", 0),
        posts=calls.get("posts", 0),
        failed=calls.get("failed", 0),
        repeats=calls.get("repeats", 0),
        backwards=calls.get("backwards", 0),
        transitions=sum(run_.transitions.values()),
        replied_posts=sum(max(a.posted, 0) for a in answers),
        wrong_final=wrong,
    )


@dataclass
class KindCount:
    """Per kind of event, over every run: how many, and the posts they made."""

    kind: str
    events: int
    posts: int
    events_per_run: float
    posts_per_run: float


@dataclass
class Calls:
    runs: int
    events: int
    lists: int
    posts: int
    transitions: int
    repeats: int
    backwards: int
    other_calls: int
    failed_calls: int
    max_lists_per_event: float
    runs_over: int  # runs with more posts than transitions
    runs_exact: int  # runs with exactly one post per transition
    runs_final_ok: int
    first_wrong: list[str]
    events_per_run: list[int]  # min, median, max
    transitions_per_run: list[int]
    replied_posts: int
    by_kind: list[KindCount]
    violations: int
    first_violations: list[str]


def calls_summary(runs: list[Run], forge: dict[str, Any], answers: list[Answer]) -> Calls:
    commits = forge["commits"]
    by_run: dict[int, list[Answer]] = {}
    for answer in answers:
        by_run.setdefault(answer.run, []).append(answer)
    counts = [count_run(r, commits.get(r.sha, {}), by_run.get(r.index, [])) for r in runs]
    kinds = Counter(a.kind for a in answers)
    posts: Counter[str] = Counter()
    for answer in answers:
        posts[answer.kind] += max(answer.posted, 0)
    events_ = sorted(c.events for c in counts)
    moves = sorted(c.transitions for c in counts)
    other = commits.get("other", {})
    return Calls(
        runs=len(counts),
        events=sum(c.events for c in counts),
        lists=sum(c.lists for c in counts),
        posts=sum(c.posts for c in counts),
        transitions=sum(c.transitions for c in counts),
        repeats=sum(c.repeats for c in counts),
        backwards=sum(c.backwards for c in counts),
        other_calls=other.get("lists", 0) + other.get("posts", 0) + other.get("other", 0),
        failed_calls=sum(c.failed for c in counts) + other.get("failed", 0),
        max_lists_per_event=max(c.lists / c.events for c in counts),
        runs_over=sum(c.posts > c.transitions for c in counts),
        runs_exact=sum(c.posts == c.transitions for c in counts),
        runs_final_ok=sum(not c.wrong_final for c in counts),
        first_wrong=[f"run {c.index}: {w}" for c in counts for w in c.wrong_final][:5],
        events_per_run=[events_[0], int(statistics.median(events_)), events_[-1]],
        transitions_per_run=[moves[0], int(statistics.median(moves)), moves[-1]],
        replied_posts=sum(c.replied_posts for c in counts),
        by_kind=[
            KindCount(
                kind, kinds[kind], posts[kind], kinds[kind] / len(runs), posts[kind] / len(runs)
            )
            for kind in ("submitted", "updated", "redelivered")
        ],
        violations=forge["violations"],
        first_violations=forge["first_violations"],
    )


@dataclass
class ContextRow:
    """One context of the first run, played alone."""

    context: str
    transitions: int
    posts: int
    states: str  # the states posted, in GitHub's words
    final: str
    want: str


def first_run_rows(run_: Run, posted: list[list[str]]) -> list[ContextRow]:
    rows = []
    for context, moves in run_.transitions.items():
        mine = [state for ctx, state, _ in posted if ctx == context]
        want = GITHUB_WORDS[run_.final[context]]
        shown = [
            f"{state}:{desc}" if state == "pending" else state
            for ctx, state, desc in posted
            if ctx == context
        ]
        rows.append(
            ContextRow(context, moves, len(mine), " → ".join(shown), mine[-1] if mine else "", want)
        )
    return rows


# --- start-up -------------------------------------------------------------------------------


def measure_startup(bench: Bench) -> list[wh.StartupSummary]:
    """Spawn to the first answer to a new pipeline.skipped event (report: 202, after listing
    and posting on the forge; trivial: 200), `runs` each after a warm-up, interleaved."""
    times: dict[str, list[float]] = {f.name: [] for f in (bench.trivial, bench.report)}
    for round_ in range(bench.plan.startup_runs + 1):
        for function in (bench.trivial, bench.report):
            item = bench.startup_deliveries[round_]
            want = 202 if function is bench.report else 200
            started = time.perf_counter()
            running = wh.spawn(bench.procs, function, 100 + round_)
            try:
                elapsed, status = wh.first_answer(running, item, started)
            finally:
                bench.procs.stop(running.proc)
            if status != want:
                tail = wh.log_tail(running.log)
                raise RuntimeError(f"{function.name} answered {status}, not {want}:\n{tail}")
            if round_:
                times[function.name].append(elapsed)
    return [
        wh.StartupSummary(name, t, statistics.median(t), min(t), max(t))
        for name, t in times.items()
    ]


# The report function's start-up by stage in a fresh interpreter, then two pipeline.skipped
# events handled through `knargo.functions.report.report` against the fakes (argv: the
# function's source and the two events as JSON). The function's module is parsed (outside the
# clock) and run statement by statement as written: its imports (functions_framework's first,
# knargo.io.kube's apart), then each other statement on its own (the start-up, then the
# handler). The events use its SETTINGS, STATUSES and CLUSTER. Prints [[stage, ms], ...].
BREAKDOWN = """\
import ast, json, sys, time
from pathlib import Path

source = sys.argv[1]
tree = ast.parse(Path(source).read_text())
marks = [("", time.perf_counter())]


def mark(stage):
    marks.append((stage, time.perf_counter()))


def run(nodes):
    exec(compile(ast.Module(body=list(nodes), type_ignores=[]), source, "exec"), globals())


def imported(node):
    if isinstance(node, ast.ImportFrom):
        return {node.module or ""}
    return {a.name for a in node.names} if isinstance(node, ast.Import) else set()


imports = [n for n in tree.body if imported(n)]
run(n for n in imports if imported(n) == {"functions_framework"})
mark("import functions_framework (the trivial function pays it too)")
run(n for n in imports if not imported(n) & {"functions_framework", "knargo.io.kube"})
mark("the function's other imports but knargo.io.kube")
run(n for n in imports if imported(n) == {"knargo.io.kube"})
mark("import knargo.io.kube (the kubernetes client)")
for node in tree.body:
    if imported(node) or isinstance(node, ast.Expr):
        continue
    run([node])
    if isinstance(node, ast.FunctionDef):
        mark("def " + node.name)
    else:
        mark("start-up: " + ast.unparse(node).split("(")[0])
from knargo.contract import cloudevent
from knargo.functions.report import report
stages = ("first event: decode, report() against the forge fake", "(second event, for comparison)")
for stage, text in zip(stages, sys.argv[2:4]):
    message = json.loads(text)
    envelope = cloudevent.decode(message["headers"], message["body"].encode())
    report(envelope, SETTINGS, STATUSES, CLUSTER)
    mark(stage)
print(json.dumps([[b[0], (b[1] - a[1]) * 1000] for a, b in zip(marks, marks[1:])]))
"""


def measure_breakdown(bench: Bench) -> list[gen.Stage]:
    """The stages of BREAKDOWN, median of fresh interpreters (two new events each)."""
    samples: dict[str, list[float]] = {}
    for number in range(bench.plan.breakdown_runs):
        items = bench.breakdown_deliveries[2 * number : 2 * number + 2]
        argv = [json.dumps({"headers": d.headers, "body": d.body.decode()}) for d in items]
        done = subprocess.run(
            [sys.executable, "-c", BREAKDOWN, REPORT_SOURCE, *argv],
            cwd=ROOT,
            env=bench.report.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"the start-up breakdown failed:\n{done.stderr[-2000:]}")
        for stage, ms in json.loads(done.stdout):
            samples.setdefault(stage, []).append(ms)
    return [gen.Stage(stage, statistics.median(times)) for stage, times in samples.items()]


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    warmup_runs: int
    runs_per_load: int
    loads: int
    startup_runs: int
    breakdown_runs: int
    overlap_runs: int


FULL = Plan(8, 48, 3, 7, 5, 24)
QUICK = Plan(8, 16, 2, 3, 3, 8)


@dataclass
class Bench:
    """What the measurements share."""

    procs: wh.Processes
    workdir: Path
    plan: Plan
    settings: Settings
    config: CiConfig
    kube: gen.Fake
    forge: gen.Fake
    report: wh.Function
    trivial: wh.Function
    startup_deliveries: list[wh.Delivery]
    startup_shas: list[str]
    breakdown_deliveries: list[wh.Delivery]


def run_indices(plan: Plan) -> range:
    """Run 1 alone, then the warm-up runs, the measured runs and the overlapping ones."""
    return range(1, overlap_start(plan) + plan.overlap_runs)


def overlap_start(plan: Plan) -> int:
    return 2 + plan.warmup_runs + plan.runs_per_load * plan.loads


def prepare(procs: wh.Processes, workdir: Path, plan: Plan) -> Bench:
    (workdir / "logs").mkdir()
    config = check(CI_YAML).config
    if config is None:
        raise RuntimeError("the benchmark ci.yaml does not lint")
    kube = start_fake(procs, workdir, "kube", {"kubeconfig": str(workdir)})
    # one new commit per start-up, and one for the first answer of the load's function
    startup = range(STARTUP_INDEX, STARTUP_INDEX + plan.startup_runs + 2)
    breakdown = range(BREAKDOWN_INDEX, BREAKDOWN_INDEX + 2 * plan.breakdown_runs)
    shas = [gen.commit_sha(i) for i in [*run_indices(plan), *startup, *breakdown]]
    forge_spec = {"forge": FORGE, "token": TOKEN, "repo": REPO, "shas": shas}
    forge = start_fake(procs, workdir, "forge", forge_spec)
    knargo_env = write_files(workdir, forge.ready["api_url"])
    settings, _ = gen.local_settings(forge.ready["api_url"])
    report, trivial = make_functions(workdir, knargo_env, kube.ready["kubeconfig"])
    return Bench(
        procs,
        workdir,
        plan,
        settings,
        config,
        kube,
        forge,
        report,
        trivial,
        [skipped_delivery(i, settings, config) for i in startup],
        [gen.commit_sha(i) for i in startup],
        [skipped_delivery(i, settings, config) for i in breakdown],
    )


@dataclass
class Overlap:
    """A run's events overlapping: its answers and forge API calls."""

    events: int
    seconds: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    bad_answers: int
    calls: Calls


@dataclass
class Load:
    first_run: list[ContextRow]
    first_run_events: int
    first_run_lists: int
    summary: LoadSummary
    fakes: list[FakeStats]
    calls: Calls
    overlap: Overlap


def builder(bench: Bench) -> Callable[[range], list[Run]]:
    def build(indices: range) -> list[Run]:
        return [build_run(i, bench.settings, bench.config) for i in indices]

    return build


def measure_load(bench: Bench) -> Load:
    """One run alone, the warm-up runs, then the measured loads, all on one function
    process; the forge API calls are counted over every run."""
    plan, build = bench.plan, builder(bench)
    running, _ = wh.start_answering(
        bench.procs, bench.report, bench.startup_deliveries[-1], serial=1
    )
    answers: list[Answer] = []
    try:
        target = Target(running, wh.worker_pid(running.proc.pid), bench.kube, bench.forge)
        progress("one run alone")
        [first] = build(range(1, 2))
        answers += play(running.port, kube_port(bench), [first], threading.Barrier(1))
        check_answers(running, answers)
        warmup = build(range(2, 2 + plan.warmup_runs))
        load_run(target, warmup, answers)
        played = [light(r) for r in [first, *warmup]]
        before = [ask(bench.kube, "totals"), ask(bench.forge, "totals")]
        runs = []
        for number in range(plan.loads):
            start = 2 + plan.warmup_runs + number * plan.runs_per_load
            batch = build(range(start, start + plan.runs_per_load))
            progress(f"load run {number + 1} of {plan.loads}")
            runs.append(load_run(target, batch, answers))
            played += [light(r) for r in batch]
        after = [ask(bench.kube, "totals"), ask(bench.forge, "totals")]
        progress("a run's events overlapping")
        start = overlap_start(plan)
        overlapping = build(range(start, start + plan.overlap_runs))
        port = running.port
        overlap_answers, seconds = overlap_play(port, kube_port(bench), overlapping)
    finally:
        bench.procs.stop(running.proc)
    forge = ask(bench.forge, "stats")
    summary_ = summarise(runs, plan.warmup_runs)
    posted = ask(bench.forge, f"posted {first.sha}")["posted"]
    return Load(
        first_run=first_run_rows(first, posted),
        first_run_events=len(first.steps),
        first_run_lists=forge["commits"].get(first.sha, {}).get("lists", 0),
        summary=summary_,
        fakes=[
            fake_stats("kube (GET Workflow)", before[0], after[0], summary_.events),
            fake_stats("forge (list + post)", before[1], after[1], summary_.events),
        ],
        calls=calls_summary(played, forge, answers),
        overlap=overlap_summary(overlapping, overlap_answers, seconds, forge),
    )


def overlap_summary(
    runs: list[Run], answers: list[Answer], seconds: float, forge: dict[str, Any]
) -> Overlap:
    latencies = [a.seconds for a in answers]
    sent = sum(len(r.steps) for r in runs)
    return Overlap(
        events=sent,
        seconds=seconds,
        events_per_s=len(answers) / seconds,
        p50_ms=wh.percentile_ms(latencies, 50),
        p99_ms=wh.percentile_ms(latencies, 99),
        bad_answers=sent - sum(good(a) for a in answers),
        calls=calls_summary(runs, forge, answers),
    )


def light(run_: Run) -> Run:
    """The run without its deliveries (the bodies are no longer needed)."""
    steps = [Step(s.kind, wh.Delivery(b"", {}), s.store) for s in run_.steps]
    return Run(run_.index, run_.sha, run_.workflow, steps, run_.transitions, run_.final)


def kube_port(bench: Bench) -> int:
    return int(bench.kube.ready["url"].rsplit(":", 1)[1])


def check_answers(running: wh.Running, answers: list[Answer]) -> None:
    """Exit 1 unless every event of the first run was answered 202 with a count of posts."""
    bad = [a for a in answers if not good(a)]
    if bad:
        print(f"report answered {bad[0].status} to a {bad[0].kind} event", file=sys.stderr)
        print(wh.log_tail(running.log), file=sys.stderr)
        sys.exit(1)


@dataclass
class Report:
    python: str
    platform: str
    cpus: int | None
    usable_cpus: int
    versions: dict[str, str]
    quick: bool
    jobs: int
    failing_job: str
    redelivered_share: float
    load: Load
    startup: list[wh.StartupSummary]
    startup_posts: int  # skipped statuses the start-ups posted
    imports_total_ms: dict[str, float]
    imports_top: list[wh.ImportEntry]
    imports_extra: list[wh.ImportEntry]
    breakdown: list[gen.Stage]
    goals: list[wh.Goal] = field(default_factory=list)


def startup_posts(bench: Bench) -> int:
    commits = ask(bench.forge, "stats")["commits"]
    return sum(
        (commits.get(sha, {}).get("last") or {}).get(bench.settings.status_context, [""])[0]
        == "success"
        for sha in bench.startup_shas
    )


def run(bench: Bench) -> Report:
    progress("forge API calls per run, throughput and latency")
    load = measure_load(bench)
    progress("start-up")
    startup = measure_startup(bench)
    progress("imports")
    profiles = {f.name: wh.import_profile(f) for f in (bench.report, bench.trivial)}
    progress("start-up by stage")
    breakdown = measure_breakdown(bench)
    report = Report(
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        cpus=os.cpu_count(),
        usable_cpus=len(os.sched_getaffinity(0)),
        versions=gen.versions(),
        quick=bench.plan is QUICK,
        jobs=JOBS,
        failing_job=FAILING,
        redelivered_share=REDELIVERED,
        load=load,
        startup=startup,
        startup_posts=startup_posts(bench),
        imports_total_ms={name: wh.total_import_ms(p) for name, p in profiles.items()},
        imports_top=wh.top_imports(profiles["report"], 12),
        imports_extra=wh.extra_imports(profiles["report"], profiles["trivial"]),
        breakdown=breakdown,
    )
    report.goals = goals(report)
    return report


def goals(report: Report) -> list[wh.Goal]:
    one, overlap = report.load.calls, report.load.overlap.calls
    both = (one, overlap)
    most = max(c.max_lists_per_event for c in both)
    lists, events_ = sum(c.lists for c in both), sum(c.events for c in both)
    runs, final_ok = sum(c.runs for c in both), sum(c.runs_final_ok for c in both)
    return [
        wh.Goal(
            "forge list calls per event (every run)",
            f"<= {GOAL_LISTS_PER_EVENT:g}",
            f"{most:.2f} at most ({lists} for {events_} events)",
            most <= GOAL_LISTS_PER_EVENT,
        ),
        posts_goal("status posts, a run's events one at a time", one),
        posts_goal(f"status posts, up to {CONCURRENCY} of a run's events at once", overlap),
        wh.Goal(
            "last status = the run's final state",
            "every context",
            f"{final_ok} of {runs} runs",
            final_ok == runs,
        ),
    ]


def posts_goal(name: str, calls: Calls) -> wh.Goal:
    return wh.Goal(
        name,
        "<= transitions",
        f"{calls.posts} / {calls.transitions} ({calls.runs_over} of {calls.runs} runs over)",
        calls.runs_over == 0,
    )


# --- the report -----------------------------------------------------------------------------


def progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"... {message}", file=sys.stderr, flush=True)


def print_first_run(report: Report) -> None:
    load = report.load
    print(
        f"one run alone: {load.first_run_events} events ({load.first_run_lists} list calls), "
        "statuses posted per context (GitHub's words; pending:<description>)"
    )
    rows = [[r.context, str(r.transitions), str(r.posts), r.states, r.want] for r in load.first_run]
    print(wh.table(["context", "transitions", "posts", "posted", "final wanted"], rows))


def print_calls(report: Report) -> None:
    calls = report.load.calls
    low, mid, high = calls.events_per_run
    print(
        f"forge API calls per run, over {calls.runs} runs (the one alone, the warm-up and the "
        f"measured ones); events per run {low}..{high} (median {mid}), transitions per run "
        f"{calls.transitions_per_run[1]}"
    )
    print_call_tables(calls)


def print_overlap(report: Report) -> None:
    overlap = report.load.overlap
    calls = overlap.calls
    print(
        f"a run's events overlapping, over {calls.runs} runs: each Workflow stored in order and "
        f"its event sent at once, up to {CONCURRENCY} in flight; {overlap.events_per_s:.1f} "
        f"events/s, p50 {overlap.p50_ms:.1f} ms, p99 {overlap.p99_ms:.1f} ms, bad "
        f"{overlap.bad_answers}"
    )
    print_call_tables(calls)


def print_call_tables(calls: Calls) -> None:
    rows = [
        [
            "list calls",
            str(calls.lists),
            f"{calls.lists / calls.runs:.2f}",
            f"{calls.lists / calls.events:.3f}",
            f"max {calls.max_lists_per_event:.3f} in a run",
        ],
        [
            "status posts",
            str(calls.posts),
            f"{calls.posts / calls.runs:.2f}",
            f"{calls.posts / calls.events:.3f}",
            f"{calls.posts / calls.transitions:.3f} per transition",
        ],
        ["transitions", str(calls.transitions), f"{calls.transitions / calls.runs:.2f}", "", ""],
    ]
    print(wh.table(["", "total", "per run", "per event", ""], rows))
    print(
        f"  runs with posts = transitions: {calls.runs_exact}, more: {calls.runs_over}; posts "
        f"repeating the status the context showed: {calls.repeats}, taking it back: "
        f"{calls.backwards}"
    )
    print(
        f"  the function's own `posted` answers sum to {calls.replied_posts}; other forge calls "
        f"{calls.other_calls}, answered >= 300: {calls.failed_calls}; contract violations "
        f"{calls.violations}"
    )
    rows = [
        [k.kind, str(k.events), f"{k.events_per_run:.2f}", str(k.posts), f"{k.posts_per_run:.2f}"]
        for k in calls.by_kind
    ]
    print(wh.table(["event", "events", "per run", "posts", "posts per run"], rows))
    print(f"  last statuses = the run's final states in {calls.runs_final_ok} of {calls.runs} runs")
    for wrong in calls.first_wrong:
        print(f"    {wrong}")
    for violation in calls.first_violations:
        print(f"    forge contract violation: {violation}")


def print_load(report: Report) -> None:
    load = report.load.summary
    print(
        f"throughput and latency at concurrency {CONCURRENCY} ({CONCURRENCY} threads, each "
        f"playing whole runs; warm-up {load.warmup_runs} runs)"
    )
    rows = [
        [
            str(i + 1),
            str(r.runs),
            str(r.events),
            f"{r.seconds:.2f}",
            f"{r.events_per_s:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.bad_answers),
            f"{r.worker_cpu_s / r.events * 1000:.2f}",
            f"{r.kube_cpu_s / r.events * 1000:.2f}",
            f"{r.forge_cpu_s / r.events * 1000:.2f}",
        ]
        for i, r in enumerate(load.runs)
    ]
    rows.append(
        [
            "all",
            str(sum(r.runs for r in load.runs)),
            str(load.events),
            "",
            f"{load.events_per_s:.1f}",
            f"{load.p50_ms:.1f}",
            f"{load.p99_ms:.1f}",
            str(load.bad_answers),
            f"{load.worker_cpu_ms_per_event:.2f}",
            f"{load.kube_cpu_ms_per_event:.2f}",
            f"{load.forge_cpu_ms_per_event:.2f}",
        ]
    )
    headers = ["load", "runs", "events", "s", "events/s", "p50 ms", "p99 ms", "bad"]
    print(wh.table([*headers, "worker CPU ms/ev", "kube CPU ms/ev*", "forge CPU ms/ev"], rows))
    print(
        "  all: events/s is the median of the loads, p50/p99 of every event; the wall time "
        "includes storing each update's Workflow in the kube fake first (*: so does the kube "
        "fake's CPU time); bad = not 202"
    )
    print(f"  time inside the handler (its log's duration_ms), p50: {load.handler_p50_ms:.1f} ms")
    print("  inside the fakes during the measured loads, per request:")
    rows = [
        [
            s.fake,
            str(s.requests),
            f"{s.requests_per_event:.2f}",
            f"{s.wall_ms:.2f}",
            f"{s.cpu_ms:.2f}",
            str(s.errors),
        ]
        for s in report.load.fakes
    ]
    print(wh.table(["fake", "requests", "per event", "wall ms", "CPU ms", ">= 300"], rows))


def print_startup(report: Report) -> None:
    print("start-up: spawn to the first answer to a new pipeline.skipped event (ms, interleaved)")
    base = next(s for s in report.startup if s.function == "trivial").median_s
    rows = [
        [
            s.function,
            str(len(s.runs_s)),
            f"{s.median_s * 1000:.0f}",
            f"{s.min_s * 1000:.0f}",
            f"{s.max_s * 1000:.0f}",
            f"{s.median_s / base:.2f}x",
        ]
        for s in report.startup
    ]
    print(wh.table(["function", "runs", "median", "min", "max", "vs trivial"], rows))
    print(
        f"  every report start-up answered 202 after posting the skipped status "
        f"({report.startup_posts} commits show it)"
    )
    totals = report.imports_total_ms
    print(
        f"  module load (python -X importtime, fastest of 3): report {totals['report']:.0f} ms, "
        f"trivial {totals['trivial']:.0f} ms"
    )


def print_breakdown(report: Report) -> None:
    print("report's start-up by stage, fresh interpreter, this venv (ms, median)")
    rows = [[s.stage, f"{s.median_ms:.1f}"] for s in report.breakdown]
    print(wh.table(["stage", "ms"], rows))


def print_imports(title: str, entries: list[wh.ImportEntry]) -> None:
    print(title)
    rows = [[e.module, f"{e.cumulative_ms:.1f}", f"{e.self_ms:.1f}", str(e.depth)] for e in entries]
    print(wh.table(["module", "cumulative", "self", "depth"], rows))


def print_report(report: Report) -> None:
    print("knargo report benchmark")
    print(f"  python {report.python}, {report.platform}")
    print(f"  {report.cpus} CPUs ({report.usable_cpus} usable), quick: {report.quick}")
    print("  " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    print(
        f"  WORKERS=1 THREADS=8 on 127.0.0.1; runs of a {report.jobs}-job ci.yaml (GitHub push "
        f"to main, a new commit each), {report.failing_job} failing; one workflow.updated per "
        f"node change, {report.redelivered_share:.0%} redelivered later; the fakes run in "
        "processes of their own"
    )
    parts = (print_first_run, print_calls, print_load, print_overlap, print_startup)
    for part in (*parts, print_breakdown):
        print()
        part(report)
    print()
    print_imports(
        "top 12 imports of the report module load, by cumulative time (ms)", report.imports_top
    )
    print()
    print_imports("top 10 imports the trivial function does not make (ms)", report.imports_extra)
    print()
    print("goals")
    rows = [[g.name, g.target, g.measured, "PASS" if g.met else "MISS"] for g in report.goals]
    print(wh.table(["goal", "target", "measured", "result"], rows, left=4))
    load = report.load.summary
    trivial, report_ = (
        next(s for s in report.startup if s.function == name) for name in ("trivial", "report")
    )
    print(
        f"  no goal given: {load.events_per_s:.1f} events/s at concurrency {CONCURRENCY} "
        f"(p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms); start-up "
        f"{report_.median_s / trivial.median_s:.2f}x the trivial function "
        f"({report_.median_s * 1000:.0f} / {trivial.median_s * 1000:.0f} ms), for context the "
        f"webhook's goal is {wh.GOAL_STARTUP:g}x and generate's {gen.GOAL_STARTUP:g}x"
    )


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON, without the raw latency samples."""
    document = asdict(report)
    for run_ in document["load"]["summary"]["runs"]:
        del run_["handler_ms"], run_["latencies_ms"]
    return document


def failed(report: Report) -> str:
    """Why the function did not do its job, or ''."""
    load = report.load
    bad = load.summary.bad_answers + load.overlap.bad_answers
    if bad:
        return f"{bad} answers were not 202"
    for calls in (load.calls, load.overlap.calls):
        if calls.runs_final_ok != calls.runs:
            return "a run's last statuses are not its final states"
        if calls.violations or calls.failed_calls:
            return "the forge fake saw contract violations or refused calls"
    if report.startup_posts != len(report.startup[0].runs_s) + 2:
        return "a start-up did not post the skipped status"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs and start-ups")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    with wh.cleanup() as (procs, workdir):
        bench = prepare(procs, workdir, QUICK if args.quick else FULL)
        report = run(bench)
        gen.stop_fake(procs, bench.kube)
        gen.stop_fake(procs, bench.forge)
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print_report(report)
    if problem := failed(report):
        print(f"report did not do its job: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; processes stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
