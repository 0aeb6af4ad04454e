"""Benchmark of the generate function as a real process, against the loopback fakes.

Run from the repository root:

    .venv/bin/python bench/generate.py            # full run (about 1 minute on 2 cores)
    .venv/bin/python bench/generate.py --quick    # fewer events and start-ups (about 25 s)
    .venv/bin/python bench/generate.py --json     # one JSON document instead of tables

The function is started as in production, `functions-framework --source
functions/generate/main.py --target handle`, with WORKERS=1 and THREADS=8, bound to
127.0.0.1 only (its metrics server, which would listen on every address, is turned off with
KNARGO_METRICS_PORT=0; no OTEL_* variable is passed, so no span is exported). It reads
ci.yaml through the forge API fake (tests/forgefake.py) and submits Workflows to the
Kubernetes API fake (tests/kubefake.py), each fake in a process of its own so that neither
competes with the function or the load generator for a GIL. The ci.yaml has 10 jobs (build,
then tests, lint and checks in parallel, then package and deploy) and is registered at a new
commit for every event: each event is a push to main with its own commit and delivery id, so
each creates a new Workflow.

What it measures:

* Throughput and latency at concurrency 8: a Python load generator (8 threads, one keep-alive
  connection each, a fixed number of distinct events), a warm-up and then several runs; every
  answer must be 200 with `ce-type: dev.knargo.pipeline.submitted`, and the kube fake must
  hold exactly one Workflow per event sent.
* The function's own CPU time per event: the gunicorn worker's utime+stime (/proc) over the
  measured runs divided by the events, beside the fakes' CPU time; the fakes' time per
  request, timed directly (sequential requests from this process) and inside the fakes; and,
  in this process, `knargo.functions.generate.generate` with in-memory stubs (no network), the
  CloudEvent decode/encode and the kubernetes client's (de)serialisation of one Workflow.
* Start-up: spawn to the first 200 answer to a POST of a real event (polled every 2 ms), 7
  runs and a warm-up each, interleaved with a trivial functions-framework CloudEvent function,
  and with the generate function again with only the packages the production image has (the
  modules of every distribution outside `knargo[generate]`'s dependency closure made
  unimportable: `kubernetes_validate`, but also `rich`, which makes `import httpx` load its
  CLI); the slowest imports (`python -X importtime`); `import kubernetes` in fresh interpreters
  with and without `kubernetes_validate`; and the production start-up stage by stage.

Goals (from the issue): own overhead under 10 ms per event, start-up within 2x the trivial
function. Missed goals are reported; the script exits 1 only when the function does not
answer the events correctly or the fakes do not hold one Workflow per event.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import itertools
import json
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import webhook as wh  # bench/webhook.py (this script's directory is first on sys.path)
from packaging.requirements import Requirement

from knargo.config.catalog import FileCatalog, parse_catalog
from knargo.config.settings import Settings, parse_settings
from knargo.contract import cloudevent, events
from knargo.contract.events import GitEvent
from knargo.forges import FILES
from knargo.functions.generate import generate
from knargo.functions.webhook import to_cloudevent

ROOT = Path(__file__).resolve().parent.parent
GENERATE_SOURCE = "functions/generate/main.py"
FORGE, REPO, HOST = "github", "acme/api", "github.com"
TOKEN = "bench-github-token"
NAMESPACE = "ci"
DIRECT_NAMESPACE = "bench-direct"  # the direct timing's Workflows, apart from the function's
JOBS = 10
CI_YAML = """\
# A web service: build once, then tests, lint and checks in parallel, then package the
# image and deploy it from the default branch.
version: 1

on:
  push:
    branches: [main, "release/**"]
    tags: ["v*"]
  pull_request:
    branches: [main]

env:
  GOFLAGS: -mod=readonly
  CGO_ENABLED: 0
  LANG: C.UTF-8

jobs:
  build:
    image: golang:1.23
    timeout: 20m
    run: |
      go mod download
      go build -o dist/server ./cmd/server
      tar -czf dist/server.tgz -C dist server

  test-unit:
    needs: build
    image: golang:1.23
    runner: large
    timeout: 30m
    retries: 1
    env:
      GOMAXPROCS: 4
    run: go test -race -count=1 ./...

  test-integration:
    needs: build
    image: golang:1.23
    runner: large
    timeout: 45m
    retries:
      limit: 2
      policy: on-transient-error
      backoff: 30s
    secrets: [NPM_TOKEN]
    env:
      DATABASE_URL: postgres://ci:ci@localhost:5432/ci?sslmode=disable
    run: |
      ./scripts/start-postgres.sh
      go test -tags integration -count=1 ./internal/...

  test-e2e:
    needs: build
    image: mcr.microsoft.com/playwright:v1.47.0-jammy
    runner: large
    timeout: 1h
    shell: bash
    run: |
      npm ci
      npx playwright test --reporter=line

  lint:
    needs: build
    image: golangci/golangci-lint:v1.61
    timeout: 10m
    run: golangci-lint run --timeout 8m ./...

  vet:
    needs: build
    image: golang:1.23
    run: go vet ./...

  audit:
    needs: build
    image: ghcr.io/acme/tools/govulncheck:1.1.3
    continue-on-error: true
    run: govulncheck ./...

  docs:
    needs: build
    image: python:3.12-slim
    working-directory: docs
    run: |
      pip install -r requirements.txt
      mkdocs build --strict

  package:
    needs: [test-unit, test-integration, test-e2e, lint, vet, audit, docs]
    image: gcr.io/kaniko-project/executor:v1.23.2-debug
    secrets: [REGISTRY_TOKEN]
    run: /kaniko/executor --context . --destination registry.example.com/acme/api:$KNARGO_SHA

  deploy:
    needs: package
    if: is_default_branch && !fork
    image: bitnami/kubectl:1.31
    secrets: {KUBE_TOKEN: DEPLOY_KEY}
    env:
      ENVIRONMENT: staging
    run: |
      kubectl --token "$KUBE_TOKEN" -n staging set image deploy/api \\
        api=registry.example.com/acme/api:$KNARGO_SHA
      kubectl -n staging rollout status deploy/api --timeout 5m
"""
CATALOG = "scopes:\n  github.com/acme: [NPM_TOKEN, REGISTRY_TOKEN, DEPLOY_KEY]\n"
TRIVIAL = """\
import functions_framework


@functions_framework.cloud_event
def handle(event):
    pass
"""
# Makes the top-level modules of the distributions the production image does not install
# unimportable (a module already imported at start-up, by a .pth file, is left alone).
PRODUCTION_SITE = "import sys\n\nfor name in {names!r}:\n    sys.modules.setdefault(name, None)\n"
# One fake per process: argv is the role (kube or forge) and a JSON spec file. It prints one
# JSON line when it serves, then one line of statistics per line read from stdin. It times
# each request inside the fake (wall and thread CPU) and drops the fakes' request records,
# which the benchmark does not need and which would only grow.
FAKE = """\
import json
import sys
import threading
import time
from pathlib import Path

role, spec = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
sys.path.insert(0, spec["tests"])
totals = {"requests": 0, "wall_s": 0.0, "cpu_s": 0.0}
lock = threading.Lock()


def timed(original, *records):
    def wrapper(*args):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args)
        finally:
            with lock:
                totals["requests"] += 1
                totals["wall_s"] += time.perf_counter() - wall
                totals["cpu_s"] += time.thread_time() - cpu
            for record in records:
                del record[:]

    return wrapper


def kube_stats(fake):
    with fake.lock:
        stored = [v for k, v in fake._store.items() if k[:2] == ("workflows", spec["namespace"])]
        ids = [o["metadata"].get("annotations", {}).get("knargo.dev/delivery-id") for o in stored]
    return {"workflows": len(stored), "delivery_ids": ids}


def forge_stats(fake):
    with fake.lock:
        return {"violations": len(fake.violations), "first_violations": fake.violations[:3]}


def serve(fake, ready, stats):
    print(json.dumps(ready), flush=True)
    for _ in sys.stdin:
        with lock:
            counters = dict(totals)
        print(json.dumps({**stats(fake), **counters}), flush=True)


if role == "kube":
    from kubefake import running_kube

    with running_kube() as fake:
        fake.handle = timed(fake.handle, fake.requests, fake.headers)
        path = fake.kubeconfig(Path(spec["kubeconfig"]))
        serve(fake, {"url": fake.url, "token": fake.token, "kubeconfig": str(path)}, kube_stats)
else:
    from forgefake import running_forges

    with running_forges({spec["forge"]: spec["token"]}) as fake:
        fake.dispatch = timed(fake.dispatch, fake.requests)
        content = spec["content"].encode()
        for sha in spec["shas"]:
            fake.add_file(spec["forge"], spec["repo"], sha, spec["path"], content)
        serve(fake, {"url": fake.url, "api_url": fake.api_url(spec["forge"])}, forge_stats)
"""

CONCURRENCY = 8
FAKE_START_TIMEOUT_S = 60.0
FAKE_QUERY_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
LOAD_TIMEOUT_S = 300.0  # one load run, at most
SETTLE_TIMEOUT_S = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

PRODUCTION = "generate, production packages"  # only what knargo[generate] installs
GOAL_OWN_MS = 10.0
GOAL_STARTUP = 2.0


# --- the configuration and the events -----------------------------------------------------


def config_text(api_url: str) -> str:
    """knargo's configuration: one forge whose API is the fake, a `large` runner."""
    config = {
        "namespace": NAMESPACE,
        "argo_ui_url": "https://argo.example.com",
        "forges": [
            {"name": FORGE, "kind": FORGE, "api_url": api_url, "web_url": f"https://{HOST}"}
        ],
        "runners": {
            "default": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
            "large": {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "8Gi"}},
        },
    }
    return json.dumps(config, indent=2) + "\n"


def commit_sha(index: int) -> str:
    return hashlib.sha1(f"knargo-bench-generate-{index}".encode()).hexdigest()


def git_event(index: int) -> GitEvent:
    """A push of a new commit to main, as the webhook function would publish it."""
    trace = hashlib.sha256(f"trace-{index}".encode()).hexdigest()
    return GitEvent(
        forge_kind=FORGE,
        forge_name=FORGE,
        repository=REPO,
        repository_url=f"https://{HOST}/{REPO}",
        clone_url=f"https://{HOST}/{REPO}.git",
        default_branch="main",
        kind="push",
        ref="refs/heads/main",
        sha=commit_sha(index),
        before=commit_sha(index - 1),
        changed_paths=(f"internal/module_{index % 17}.go", "go.sum"),
        changed_paths_complete=True,
        sender="octocat",
        delivery_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"knargo-bench-delivery-{index}")),
        traceparent=f"00-{trace[:32]}-{trace[32:48]}-01",
    )


def delivery(event: GitEvent) -> wh.Delivery:
    """The binary-mode CloudEvent the broker would POST."""
    message = cloudevent.encode(to_cloudevent(event))
    return wh.Delivery(message.body, message.headers)


class EventPool:
    """Events with distinct commits and delivery ids, each handed out once."""

    def __init__(self, size: int) -> None:
        self.events = [git_event(i) for i in range(1, size + 1)]
        self._next = 0
        self.sent: set[str] = set()  # delivery ids handed to the generate function

    def take(self, count: int) -> list[GitEvent]:
        if self._next + count > len(self.events):
            raise RuntimeError("the event pool is exhausted")
        taken = self.events[self._next : self._next + count]
        self._next += count
        self.sent.update(e.delivery_id for e in taken)
        return taken


# --- production packages ------------------------------------------------------------------


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(name: str, extras: frozenset[str]) -> set[str]:
    """The distributions `pip install name[extras]` installs, by their normalised names."""
    found: set[str] = set()
    pending = [(name, extras)]
    while pending:
        dist, wanted = pending.pop()
        if normalised(dist) in found:
            continue
        found.add(normalised(dist))
        with contextlib.suppress(metadata.PackageNotFoundError):
            for text in metadata.requires(dist) or []:
                requirement = Requirement(text)
                marker = requirement.marker
                if marker is None or any(marker.evaluate({"extra": e}) for e in wanted or {""}):
                    pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def dev_only_modules() -> list[str]:
    """Top-level modules installed here by distributions outside knargo[generate]'s closure
    (kubernetes_validate and rich among them): absent from the production image. Modules a
    bare interpreter has loaded already (from .pth files) are left out."""
    needed = closure("knargo", frozenset({"generate"}))
    preloaded = subprocess.run(
        [sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if module.isidentifier()
        and module not in preloaded
        and not any(normalised(d) in needed for d in dists)
    )


# --- the fakes ----------------------------------------------------------------------------


@dataclass
class Fake:
    """A fake in its own process: what it printed when ready, and its process."""

    role: str
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]

    def query(self) -> dict[str, Any]:
        """The fake's statistics (one JSON line per request line)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"stats\n")
        self.proc.stdin.flush()
        return read_json_line(self.proc, FAKE_QUERY_TIMEOUT_S, f"the {self.role} fake")

    def cpu_s(self) -> float:
        return process_cpu_s(self.proc.pid)


def read_json_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise RuntimeError(f"{what} did not answer (exit status {proc.poll()})")
    return parsed


def start_fake(procs: wh.Processes, workdir: Path, role: str, spec: dict[str, Any]) -> Fake:
    spec_file = workdir / f"{role}-spec.json"
    spec_file.write_text(json.dumps({**spec, "tests": str(ROOT / "tests")}))
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
    return Fake(role, proc, read_json_line(proc, FAKE_START_TIMEOUT_S, f"the {role} fake"))


def stop_fake(procs: wh.Processes, fake: Fake) -> None:
    if fake.proc.stdin:
        with contextlib.suppress(OSError):
            fake.proc.stdin.close()
    procs.stop(fake.proc)


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- the fakes' own time per request ------------------------------------------------------


@dataclass
class DirectTiming:
    request: str
    count: int
    median_ms: float
    p90_ms: float


def timed_requests(
    url: str, send: Callable[[http.client.HTTPConnection, int], int], count: int
) -> list[float]:
    """`count` requests on one keep-alive connection after 3 warm-ups; seconds each."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
    times = []
    try:
        for index in range(count + 3):
            started = time.perf_counter()
            status = send(conn, index)
            if status >= 300:
                raise RuntimeError(f"a direct request to {url} answered {status}")
            if index >= 3:
                times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return times


def answer_of(conn: http.client.HTTPConnection) -> tuple[int, bytes]:
    response = conn.getresponse()
    return response.status, response.read()


def direct_forge(forge_api: str, settings: Settings, events_: list[GitEvent]) -> list[float]:
    """GET ci.yaml at a commit, exactly as the function asks for it."""
    forge = settings.forges[0]

    def send(conn: http.client.HTTPConnection, index: int) -> int:
        event = events_[index % len(events_)]
        request = FILES[event.forge_kind].file(forge, TOKEN, REPO, "ci.yaml", event.sha)
        parts = urlsplit(request.url)
        target = f"{parts.path}?{urlencode(dict(request.params))}"
        conn.request(request.method, target, headers=dict(request.headers))
        return answer_of(conn)[0]

    return timed_requests(forge_api, send, len(events_))


def kube_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def direct_kube_list(url: str, token: str, count: int) -> list[float]:
    """The function's one list per push to the default branch: CronWorkflows by label."""
    selector = urlencode({"labelSelector": "app.kubernetes.io/managed-by=knargo"})
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/cronworkflows?{selector}"

    def send(conn: http.client.HTTPConnection, index: int) -> int:
        conn.request("GET", path, headers=kube_headers(token))
        return answer_of(conn)[0]

    return timed_requests(url, send, count)


def direct_kube_create(url: str, token: str, manifests: list[dict[str, Any]]) -> list[float]:
    """POST each Workflow (as the function builds it) in a namespace of its own."""
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{DIRECT_NAMESPACE}/workflows"
    path += "?fieldManager=knargo"
    bodies = []
    for manifest in manifests:
        meta = {**manifest["metadata"], "namespace": DIRECT_NAMESPACE}
        bodies.append(json.dumps({**manifest, "metadata": meta}).encode())

    def send(conn: http.client.HTTPConnection, index: int) -> int:
        headers = {**kube_headers(token), "Content-Type": "application/json"}
        conn.request("POST", path, body=bodies[index], headers=headers)
        return answer_of(conn)[0]

    return timed_requests(url, send, len(bodies) - 3)


def direct_summary(name: str, times: list[float]) -> DirectTiming:
    return DirectTiming(
        name,
        len(times),
        statistics.median(times) * 1000,
        wh.percentile_ms(times, 90),
    )


# --- in-process: the decision and translation, without the network -----------------------


class StubFiles:
    """`Files` from memory: ci.yaml at every commit."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def read_file(self, event: GitEvent, path: str, limit: int) -> bytes | None:
        return self.content

    def changed_paths(self, event: GitEvent) -> list[str] | None:
        return list(event.changed_paths)

    def commits_between(self, event: GitEvent, base: str, head: str) -> int | None:
        return None


class StubCluster:
    """`Workflows` in memory: every Workflow is new, no CronWorkflows exist."""

    def __init__(self) -> None:
        self.created: list[Mapping[str, Any]] = []

    def create_workflow(self, manifest: Mapping[str, Any]) -> bool:
        self.created.append(manifest)
        return True

    def cron_workflows(self, namespace: str, selector: str) -> dict[str, dict[str, Any]]:
        return {}

    def apply_cron_workflow(self, manifest: Mapping[str, Any]) -> None:
        pass

    def delete_cron_workflow(self, namespace: str, name: str) -> None:
        pass


@dataclass
class StepTiming:
    step: str
    median_ms: float
    min_ms: float


def median_call(name: str, calls: list[Callable[[], object]]) -> StepTiming:
    """Each call once after warming up on the first 10; median and fastest."""
    for call in calls[:10]:
        call()
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return StepTiming(name, statistics.median(times) * 1000, min(times) * 1000)


def function_event(headers: Mapping[str, str], body: bytes) -> GitEvent:
    """What the function's `_event` does: decode the CloudEvent, validate the GitEvent."""
    return GitEvent.model_validate(cloudevent.decode(headers, body).data)


def in_process(
    settings: Settings, catalog: FileCatalog, sample: list[GitEvent]
) -> tuple[list[StepTiming], list[dict[str, Any]]]:
    """The function's own steps in this process, each event once; and the Workflows made."""
    from kubernetes.client import ApiClient  # only here: the client's own (de)serialisation

    files, cluster = StubFiles(CI_YAML.encode()), StubCluster()
    messages = [delivery(e) for e in sample]
    replies = [generate(e, settings, catalog, files, cluster) for e in sample]
    if any(r.type != events.PIPELINE_SUBMITTED for r in replies):
        raise RuntimeError(f"in-process generate did not submit: {replies[0].data}")
    manifests = [dict(m) for m in cluster.created]
    answers = [json.dumps(m).encode() for m in manifests]
    api = ApiClient()
    steps = [
        median_call(
            "decode: CloudEvent + GitEvent",
            [lambda m=m: function_event(m.headers, m.body) for m in messages],
        ),
        median_call(
            "generate(): read, lint, plan, reply",
            [lambda e=e: generate(e, settings, catalog, files, StubCluster()) for e in sample],
        ),
        median_call(
            "encode: reply envelope + CloudEvent",
            [lambda r=r: cloudevent.encode(r.envelope()) for r in replies],
        ),
        median_call(
            "kubernetes client: Workflow to JSON",
            [lambda m=m: json.dumps(api.sanitize_for_serialization(m)) for m in manifests],
        ),
        median_call(
            "kubernetes client: answer from JSON",
            [lambda a=a: json.loads(a) for a in answers],
        ),
    ]
    api.close()
    return steps, manifests


# --- the function under load --------------------------------------------------------------


@dataclass
class Answer:
    seconds: float
    status: int
    ce_type: str


def post_all(port: int, deliveries: list[wh.Delivery], gate: threading.Barrier) -> list[Answer]:
    """POST each delivery in turn on one keep-alive connection."""
    answers = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    gate.wait(timeout=REQUEST_TIMEOUT_S)
    try:
        for item in deliveries:
            started = time.perf_counter()
            try:
                conn.request("POST", "/", body=item.body, headers=item.headers)
                response = conn.getresponse()
                response.read()
                status, ce_type = response.status, response.getheader("ce-type") or ""
            except (OSError, http.client.HTTPException):
                status, ce_type = 0, ""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            answers.append(Answer(time.perf_counter() - started, status, ce_type))
    finally:
        conn.close()
    return answers


@dataclass
class LoadRun:
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


@dataclass
class Target:
    """The running function and the processes whose CPU time is counted."""

    running: wh.Running
    worker: int
    kube: Fake
    forge: Fake


def load_run(target: Target, pool: EventPool, count: int) -> LoadRun:
    """`count` distinct events from CONCURRENCY connections; CPU time of each process."""
    deliveries = [delivery(e) for e in pool.take(count)]
    slices = [deliveries[i::CONCURRENCY] for i in range(CONCURRENCY)]
    results: list[list[Answer]] = [[] for _ in slices]
    gate = threading.Barrier(CONCURRENCY + 1)
    port = target.running.port

    def work(i: int) -> None:
        results[i] = post_all(port, slices[i], gate)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    log_offset = target.running.log.stat().st_size
    cpu = [process_cpu_s(target.worker), target.kube.cpu_s(), target.forge.cpu_s()]
    gate.wait(timeout=REQUEST_TIMEOUT_S)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.0, started + LOAD_TIMEOUT_S - time.perf_counter()))
    elapsed = time.perf_counter() - started
    after = [process_cpu_s(target.worker), target.kube.cpu_s(), target.forge.cpu_s()]
    answers = [a for per_thread in results for a in per_thread]
    latencies = [a.seconds for a in answers]
    bad = count - sum(a.status == 200 and a.ce_type == events.PIPELINE_SUBMITTED for a in answers)
    return LoadRun(
        events=count,
        seconds=elapsed,
        events_per_s=len(answers) / elapsed,
        p50_ms=wh.percentile_ms(latencies, 50),
        p99_ms=wh.percentile_ms(latencies, 99),
        bad_answers=bad,
        worker_cpu_s=after[0] - cpu[0],
        kube_cpu_s=after[1] - cpu[1],
        forge_cpu_s=after[2] - cpu[2],
        handler_ms=handler_durations(target.running.log, log_offset),
        latencies_ms=[s * 1000 for s in latencies],
    )


def handler_durations(log: Path, offset: int) -> list[float]:
    """`duration_ms` of the function's log lines for submitted events, from `offset` on."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    durations = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("message") == "submitted":
                durations.append(float(entry["duration_ms"]))
    return durations


@dataclass
class LoadSummary:
    runs: list[LoadRun]
    warmup_events: int
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
        warmup_events=warmup,
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
    """Time inside the fakes during the measured runs, per request."""

    fake: str
    requests: int
    requests_per_event: float
    wall_ms: float
    cpu_ms: float


def fake_stats(name: str, before: dict[str, Any], after: dict[str, Any], evs: int) -> FakeStats:
    requests = after["requests"] - before["requests"]
    per = max(requests, 1)
    return FakeStats(
        fake=name,
        requests=requests,
        requests_per_event=requests / evs,
        wall_ms=(after["wall_s"] - before["wall_s"]) / per * 1000,
        cpu_ms=(after["cpu_s"] - before["cpu_s"]) / per * 1000,
    )


# --- start-up and imports -----------------------------------------------------------------


def measure_startup(
    bench: Bench, functions: list[wh.Function], runs: int
) -> list[wh.StartupSummary]:
    """`runs` start-ups per function after a warm-up round, interleaved; every start-up of a
    generate function answers a new event."""
    trivial_delivery = delivery(git_event(0))
    times: dict[str, list[float]] = {f.name: [] for f in functions}
    for round_ in range(runs + 1):
        for function in functions:
            is_trivial = function is bench.trivial
            item = trivial_delivery if is_trivial else delivery(bench.pool.take(1)[0])
            running, elapsed = wh.start_answering(bench.procs, function, item, 100 + round_)
            bench.procs.stop(running.proc)
            if round_:
                times[function.name].append(elapsed)
    return [
        wh.StartupSummary(name, t, statistics.median(t), min(t), max(t))
        for name, t in times.items()
    ]


KUBE_IMPORT = """\
import json, os, sys, time
{preload}
started = time.perf_counter()
{statement}
imported = time.perf_counter()
{after}
done = time.perf_counter()
print(json.dumps([(imported - started) * 1000, (done - imported) * 1000]))
"""
# What functions/generate/main.py imports besides knargo.io.kube, so that importing knargo.io.kube
# after it costs what the kubernetes client adds to the function.
GENERATE_PRELOAD = (
    "import functions_framework, httpx, pydantic, yaml\n"
    "from knargo.contract import cloudevent, events, outcomes\n"
    "from knargo.functions import generate\n"
    "from knargo.observability import logs, metrics, tracing\n"
    "from knargo.io import network\n"
    "from knargo.config import startup"
)


@dataclass(frozen=True)
class KubeCase:
    """Code timed in a fresh interpreter: `statement` after `preload`, then `after`."""

    name: str
    statement: str
    preload: str = ""
    after: str = ""


KUBE_CASES = (
    KubeCase("import kubernetes", "import kubernetes"),
    KubeCase("from kubernetes import client, config", "from kubernetes import client, config"),
    # kubernetes.client loads each API class (and the models it names) on first use.
    KubeCase(
        "client.CustomObjectsApi, first use",
        "client.CustomObjectsApi",
        "from kubernetes import client",
    ),
    KubeCase("client.CoreV1Api, first use", "client.CoreV1Api", "from kubernetes import client"),
    KubeCase(
        "import knargo.io.kube after the function's other imports",
        "import knargo.io.kube",
        GENERATE_PRELOAD,
        "knargo.io.kube.Cluster.connect(os.environ)",
    ),
)


@dataclass
class KubeImport:
    case: str
    packages: str  # "this venv" or "production"
    runs: int
    median_ms: float
    min_ms: float
    connect_ms: float | None


def time_kube_case(case: KubeCase, env: dict[str, str]) -> list[float]:
    """[import ms, after ms] of one fresh interpreter."""
    code = KUBE_IMPORT.format(preload=case.preload, statement=case.statement, after=case.after)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [float(x) for x in json.loads(done.stdout)]


def measure_kube_imports(bench: Bench, runs: int) -> list[KubeImport]:
    """Each case in fresh interpreters, with this venv's packages (`kubernetes_validate`
    importable) and with the production image's only, all interleaved."""
    envs = {"this venv": bench.generate.env, "production": bench.production.env}
    samples: dict[tuple[KubeCase, str], list[list[float]]] = {}
    for _, case, packages in itertools.product(range(runs), KUBE_CASES, envs):
        timed = time_kube_case(case, envs[packages])
        samples.setdefault((case, packages), []).append(timed)
    return [
        KubeImport(
            case=case.name,
            packages=packages,
            runs=len(times),
            median_ms=statistics.median(t[0] for t in times),
            min_ms=min(t[0] for t in times),
            connect_ms=statistics.median(t[1] for t in times) if case.after else None,
        )
        for (case, packages), times in samples.items()
    ]


# The generate function's start-up by stage in a fresh interpreter (run with the production
# packages only), up to two events handled through `generate` against the fakes (argv: the two
# GitEvents as JSON). Prints [[stage, ms], ...].
BREAKDOWN = """\
import json, os, sys, time

marks = [("", time.perf_counter())]


def mark(stage):
    marks.append((stage, time.perf_counter()))


import functions_framework
mark("import functions_framework (the trivial function pays it too)")
import pydantic
mark("import pydantic")
import httpx
mark("import httpx")
import yaml
from knargo.contract import cloudevent, events, outcomes
from knargo.functions import generate
from knargo.observability import logs, metrics
from knargo.io import network
from knargo.config import startup
from knargo.observability import tracing
mark("import knargo (all the function imports but knargo.io.kube)")
from knargo.io.kube import Cluster
mark("import knargo.io.kube (the kubernetes client)")
runtime = startup.generate_runtime(os.environ)
mark("generate_runtime: configuration, credentials, catalog")
cluster = Cluster.connect(os.environ)
mark("Cluster.connect: kubeconfig, ApiClient")
client = network.ForgeClient(metrics=metrics.Metrics())
reader = network.ForgeReader(runtime.settings, runtime.credentials, client)
mark("ForgeReader: the httpx client")
first, second = (events.GitEvent.model_validate_json(text) for text in sys.argv[1:3])
generate.generate(first, runtime.settings, runtime.catalog, reader, cluster)
mark("first event: generate() against the fakes")
generate.generate(second, runtime.settings, runtime.catalog, reader, cluster)
mark("(second event, for comparison)")
print(json.dumps([[b[0], (b[1] - a[1]) * 1000] for a, b in zip(marks, marks[1:])]))
"""


@dataclass
class Stage:
    stage: str
    median_ms: float


def measure_breakdown(bench: Bench, runs: int) -> list[Stage]:
    """The stages of BREAKDOWN, median of `runs` fresh interpreters (two new events each)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        argv = [e.model_dump_json() for e in bench.pool.take(2)]
        done = subprocess.run(
            [sys.executable, "-c", BREAKDOWN, *argv],
            cwd=ROOT,
            env=bench.production.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for stage, ms in json.loads(done.stdout):
            samples.setdefault(stage, []).append(ms)
    return [Stage(stage, statistics.median(times)) for stage, times in samples.items()]


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    warmup_events: int
    events_per_run: int
    load_runs: int
    startup_runs: int
    import_runs: int
    direct_requests: int
    profile_events: int


FULL = Plan(80, 400, 3, 7, 5, 40, 200)
QUICK = Plan(24, 120, 2, 3, 3, 15, 60)


@dataclass
class Bench:
    """What the measurements share."""

    procs: wh.Processes
    workdir: Path
    plan: Plan
    pool: EventPool
    settings: Settings
    catalog: FileCatalog
    kube: Fake
    forge: Fake
    generate: wh.Function
    production: wh.Function
    trivial: wh.Function
    dev_only: list[str]  # modules the production image does not have


def pool_size(plan: Plan) -> int:
    load = 2 + plan.warmup_events + plan.events_per_run * plan.load_runs
    startup = 2 * (plan.startup_runs + 1) + 2 * plan.import_runs
    return load + startup + plan.direct_requests + plan.profile_events + 8


def local_settings(api_url: str) -> tuple[Settings, FileCatalog]:
    settings, problems = parse_settings(config_text(api_url), "config.yaml")
    catalog, more = parse_catalog(CATALOG, "catalog.yaml")
    if settings is None or catalog is None:
        raise RuntimeError(f"invalid benchmark configuration: {[*problems, *more]}")
    return settings, catalog


def write_files(workdir: Path, api_url: str, dev_only: list[str]) -> dict[str, str]:
    """The function's configuration files; returns its environment variables for them."""
    (workdir / "config.yaml").write_text(config_text(api_url))
    credentials = workdir / "credentials"
    credentials.mkdir()
    (credentials / f"{FORGE}.token").write_text(TOKEN + "\n")
    (workdir / "catalog.yaml").write_text(CATALOG)
    trivial = workdir / "trivial"
    trivial.mkdir()
    (trivial / "main.py").write_text(TRIVIAL)
    production = workdir / "production"
    production.mkdir()
    (production / "sitecustomize.py").write_text(PRODUCTION_SITE.format(names=dev_only))
    return {
        "KNARGO_CONFIG": str(workdir / "config.yaml"),
        "KNARGO_CREDENTIALS_DIR": str(credentials),
        "KNARGO_SECRET_CATALOG": str(workdir / "catalog.yaml"),
    }


def make_functions(workdir: Path, knargo_env: dict[str, str], kubeconfig: str) -> list[wh.Function]:
    """The generate function (this venv), again with the production packages only, and the
    trivial function."""
    logs = workdir / "logs"
    env = {
        k: v
        for k, v in wh.base_env().items()
        if k != "KUBERNETES_SERVICE_HOST" and not k.startswith("OTEL_")  # no spans exported
    }
    # The metrics server would listen on 0.0.0.0 (it starts in the worker, off the request
    # path); the metrics are still recorded for every event.
    generate_env = {**env, **knargo_env, "KUBECONFIG": kubeconfig, "KNARGO_METRICS_PORT": "0"}
    paths = (str(workdir / "production"), env.get("PYTHONPATH", ""))
    production_env = {**generate_env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return [
        wh.Function("generate", GENERATE_SOURCE, generate_env, logs),
        wh.Function(PRODUCTION, GENERATE_SOURCE, production_env, logs),
        wh.Function("trivial", str(workdir / "trivial" / "main.py"), env, logs),
    ]


def prepare(procs: wh.Processes, workdir: Path, plan: Plan) -> Bench:
    (workdir / "logs").mkdir()
    pool = EventPool(pool_size(plan))
    kube = start_fake(procs, workdir, "kube", {"kubeconfig": str(workdir), "namespace": NAMESPACE})
    forge_spec = {"forge": FORGE, "token": TOKEN, "repo": REPO, "path": "ci.yaml"}
    forge_spec |= {"content": CI_YAML, "shas": [e.sha for e in pool.events]}
    forge = start_fake(procs, workdir, "forge", forge_spec)
    dev_only = dev_only_modules()
    knargo_env = write_files(workdir, forge.ready["api_url"], dev_only)
    settings, catalog = local_settings(forge.ready["api_url"])
    generate_fn, production, trivial = make_functions(workdir, knargo_env, kube.ready["kubeconfig"])
    return Bench(
        procs,
        workdir,
        plan,
        pool,
        settings,
        catalog,
        kube,
        forge,
        generate_fn,
        production,
        trivial,
        dev_only,
    )


@dataclass
class Check:
    status: int
    ce_type: str
    workflow: str
    jobs: int
    created: bool


def check_answer(running: wh.Running, item: wh.Delivery) -> Check:
    """POST one event and read the reply; exit 1 unless it is a submitted pipeline."""
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("POST", "/", body=item.body, headers=item.headers)
        response = conn.getresponse()
        body, ce_type = response.read(), response.getheader("ce-type") or ""
    finally:
        conn.close()
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if response.status == 200 and ce_type == events.PIPELINE_SUBMITTED:
            return Check(200, ce_type, data["workflow"], len(data["jobs"]), data["created"])
    print(f"generate answered {response.status} {ce_type}: {body[:500]!r}", file=sys.stderr)
    print(wh.log_tail(running.log), file=sys.stderr)
    sys.exit(1)


@dataclass
class Load:
    check: Check
    summary: LoadSummary
    fakes: list[FakeStats]


def measure_load(bench: Bench) -> Load:
    plan = bench.plan
    first = delivery(bench.pool.take(1)[0])
    running, _ = wh.start_answering(bench.procs, bench.generate, first, 1)
    try:
        check = check_answer(running, delivery(bench.pool.take(1)[0]))
        target = Target(running, wh.worker_pid(running.proc.pid), bench.kube, bench.forge)
        load_run(target, bench.pool, plan.warmup_events)
        before = [bench.kube.query(), bench.forge.query()]
        runs = []
        for index in range(plan.load_runs):
            progress(f"load run {index + 1} of {plan.load_runs}")
            runs.append(load_run(target, bench.pool, plan.events_per_run))
        after = [bench.kube.query(), bench.forge.query()]
    finally:
        bench.procs.stop(running.proc)
    summary_ = summarise(runs, plan.warmup_events)
    stats = [
        fake_stats("kube (list + create)", before[0], after[0], summary_.events),
        fake_stats("forge (GET ci.yaml)", before[1], after[1], summary_.events),
    ]
    return Load(check, summary_, stats)


@dataclass
class Consistency:
    """Whether the kube fake holds exactly one Workflow per event the function answered."""

    events_sent: int
    workflows: int
    missing: int
    unexpected: int
    forge_violations: int
    first_violations: list[str]

    @property
    def ok(self) -> bool:
        return (
            self.workflows == self.events_sent
            and not self.missing
            and not self.unexpected
            and not self.forge_violations
        )


def consistency(bench: Bench) -> Consistency:
    kube, forge = bench.kube.query(), bench.forge.query()
    stored = [i for i in kube["delivery_ids"] if i]
    return Consistency(
        events_sent=len(bench.pool.sent),
        workflows=kube["workflows"],
        missing=len(bench.pool.sent - set(stored)),
        unexpected=len(set(stored) - bench.pool.sent) + len(stored) - len(set(stored)),
        forge_violations=forge["violations"],
        first_violations=forge["first_violations"],
    )


@dataclass
class Report:
    python: str
    platform: str
    cpus: int | None
    usable_cpus: int
    versions: dict[str, str]
    quick: bool
    ci_yaml_jobs: int
    workflow_bytes: int
    in_process: list[StepTiming]
    direct: list[DirectTiming]
    load: Load
    consistency: Consistency
    startup: list[wh.StartupSummary]
    imports_total_ms: dict[str, float]
    imports_top: list[wh.ImportEntry]
    imports_extra: list[wh.ImportEntry]
    kube_imports: list[KubeImport]
    breakdown: list[Stage]
    dev_only_imported: dict[str, list[str]]
    light_client_estimate_ms: float
    goals: list[wh.Goal] = field(default_factory=list)


def measure_direct(bench: Bench, manifests: list[dict[str, Any]]) -> list[DirectTiming]:
    count = bench.plan.direct_requests
    kube_url, token = bench.kube.ready["url"], bench.kube.ready["token"]
    events_ = bench.pool.events[-count:]  # registered, never sent to the function
    forge = direct_forge(bench.forge.ready["url"], bench.settings, events_)
    listed = direct_kube_list(kube_url, token, count)
    created = direct_kube_create(kube_url, token, manifests[: count + 3])
    return [
        direct_summary("forge: GET ci.yaml at a commit", forge),
        direct_summary("kube: list CronWorkflows by label", listed),
        direct_summary(f"kube: create a {JOBS}-job Workflow", created),
    ]


def light_client_estimate(startup: list[wh.StartupSummary], imports: list[KubeImport]) -> float:
    """The production-like start-up minus what knargo.io.kube and Cluster.connect add to it."""
    production = next(s for s in startup if s.function == PRODUCTION)
    marginal = next(i for i in imports if i.connect_ms is not None and i.packages == "production")
    # A light client needs no import of its own (httpx and yaml are loaded already).
    return production.median_s * 1000 - marginal.median_ms - (marginal.connect_ms or 0.0)


def run(bench: Bench) -> Report:
    plan = bench.plan
    progress("in-process: generate() with stubs, CloudEvent decode/encode")
    sample = bench.pool.events[-plan.profile_events :]
    steps, manifests = in_process(bench.settings, bench.catalog, sample)
    progress("the fakes' own time per request")
    direct = measure_direct(bench, manifests)
    progress(f"throughput and latency at concurrency {CONCURRENCY}")
    load = measure_load(bench)
    progress("start-up")
    startup = measure_startup(
        bench, [bench.trivial, bench.generate, bench.production], plan.startup_runs
    )
    progress("imports")
    profiles = {f.name: wh.import_profile(f) for f in (bench.generate, bench.trivial)}
    kube_imports = measure_kube_imports(bench, plan.import_runs)
    breakdown = measure_breakdown(bench, plan.import_runs)
    report = Report(
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        cpus=os.cpu_count(),
        usable_cpus=len(os.sched_getaffinity(0)),
        versions=versions(),
        quick=plan is QUICK,
        ci_yaml_jobs=JOBS,
        workflow_bytes=len(json.dumps(manifests[0])),
        in_process=steps,
        direct=direct,
        load=load,
        consistency=settle(bench),
        startup=startup,
        imports_total_ms={name: wh.total_import_ms(p) for name, p in profiles.items()},
        imports_top=wh.top_imports(profiles["generate"], 12),
        imports_extra=wh.extra_imports(profiles["generate"], profiles["trivial"]),
        kube_imports=kube_imports,
        breakdown=breakdown,
        dev_only_imported={
            name: sorted({e.module.split(".")[0] for e in p} & set(bench.dev_only))
            for name, p in profiles.items()
        },
        light_client_estimate_ms=light_client_estimate(startup, kube_imports),
    )
    report.goals = goals(report)
    return report


def settle(bench: Bench) -> Consistency:
    """The consistency check, once the fakes have caught up (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        found = consistency(bench)
        if found.ok or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def versions() -> dict[str, str]:
    found = {}
    packages = ("functions-framework", "gunicorn", "flask", "kubernetes", "urllib3", "httpx")
    for name in (*packages, "pydantic", "cloudevents", "kubernetes-validate"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def own_steps_ms(report: Report) -> float:
    return sum(s.median_ms for s in report.in_process)


def goals(report: Report) -> list[wh.Goal]:
    load = report.load.summary
    trivial, generate_, production = (
        next(s for s in report.startup if s.function == name)
        for name in ("trivial", "generate", PRODUCTION)
    )
    ratio, production_ratio = (s.median_s / trivial.median_s for s in (generate_, production))
    return [
        wh.Goal(
            "own CPU per event (gunicorn worker)",
            f"< {GOAL_OWN_MS:g} ms",
            f"{load.worker_cpu_ms_per_event:.2f} ms",
            load.worker_cpu_ms_per_event < GOAL_OWN_MS,
        ),
        wh.Goal(
            "own steps in-process (decode..encode)",
            f"< {GOAL_OWN_MS:g} ms",
            f"{own_steps_ms(report):.2f} ms",
            own_steps_ms(report) < GOAL_OWN_MS,
        ),
        wh.Goal(
            "start-up / trivial (this venv)",
            f"<= {GOAL_STARTUP:g}x",
            f"{ratio:.2f}x ({generate_.median_s * 1000:.0f} / {trivial.median_s * 1000:.0f} ms)",
            ratio <= GOAL_STARTUP,
        ),
        wh.Goal(
            "start-up / trivial (production packages)",
            f"<= {GOAL_STARTUP:g}x",
            f"{production_ratio:.2f}x ({production.median_s * 1000:.0f} / "
            f"{trivial.median_s * 1000:.0f} ms)",
            production_ratio <= GOAL_STARTUP,
        ),
    ]


# --- the report ---------------------------------------------------------------------------


def progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"... {message}", file=sys.stderr, flush=True)


def print_in_process(report: Report) -> None:
    print("in-process, per event, no network (median and fastest over distinct events)")
    rows = [[s.step, f"{s.median_ms:.3f}", f"{s.min_ms:.3f}"] for s in report.in_process]
    rows.append(["sum", f"{own_steps_ms(report):.3f}", ""])
    print(wh.table(["step", "median ms", "min ms"], rows))
    print(f"  one Workflow of {report.ci_yaml_jobs} jobs is {report.workflow_bytes} bytes of JSON")


def print_direct(report: Report) -> None:
    print("the fakes' own time per request (sequential, keep-alive, from this process)")
    rows = [
        [d.request, str(d.count), f"{d.median_ms:.2f}", f"{d.p90_ms:.2f}"] for d in report.direct
    ]
    print(wh.table(["request", "n", "median ms", "p90 ms"], rows))
    floor = sum(d.median_ms for d in report.direct)
    print(f"  one event waits on all three: {floor:.2f} ms at best")


def print_load(report: Report) -> None:
    load = report.load.summary
    print(
        f"throughput and latency at concurrency {CONCURRENCY} ({CONCURRENCY} threads, keep-alive, "
        f"distinct events; warm-up {load.warmup_events} events)"
    )
    rows = [
        [
            str(i + 1),
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
    headers = ["run", "events", "s", "events/s", "p50 ms", "p99 ms", "bad"]
    print(wh.table([*headers, "worker CPU ms/ev", "kube CPU ms/ev", "forge CPU ms/ev"], rows))
    print(
        "  all: events/s is the median of the runs, p50/p99 of every event of every run; "
        "bad = not 200 + submitted"
    )
    print(f"  time inside the handler (its log's duration_ms), p50: {load.handler_p50_ms:.1f} ms")
    check = report.load.check
    print(
        f"  check: {check.status} {check.ce_type}, workflow {check.workflow}, "
        f"{check.jobs} jobs, created {check.created}"
    )
    print("  inside the fakes during the measured runs, per request:")
    rows = [
        [
            s.fake,
            str(s.requests),
            f"{s.requests_per_event:.2f}",
            f"{s.wall_ms:.2f}",
            f"{s.cpu_ms:.2f}",
        ]
        for s in report.load.fakes
    ]
    print(wh.table(["fake", "requests", "per event", "wall ms", "CPU ms"], rows))
    found = report.consistency
    print(
        f"  kube fake: {found.workflows} Workflows for {found.events_sent} distinct events sent "
        f"(missing {found.missing}, unexpected {found.unexpected}); forge contract "
        f"violations: {found.forge_violations}"
    )


def print_startup(report: Report) -> None:
    print("start-up: spawn to the first 200 answer to a POST (ms, interleaved)")
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
    totals = report.imports_total_ms
    print(
        f"  module load (python -X importtime, fastest of 3, this venv): generate "
        f"{totals['generate']:.0f} ms, trivial {totals['trivial']:.0f} ms"
    )
    for name, modules in report.dev_only_imported.items():
        listed = ", ".join(modules) or "none"
        print(f"  modules the production image lacks that {name} imports in this venv: {listed}")


def print_kube_imports(report: Report) -> None:
    print("the kubernetes client in fresh interpreters (ms, median of runs)")
    rows = [
        [
            i.case,
            i.packages,
            str(i.runs),
            f"{i.median_ms:.1f}",
            f"{i.min_ms:.1f}",
            "" if i.connect_ms is None else f"{i.connect_ms:.1f}",
        ]
        for i in report.kube_imports
    ]
    headers = ["case", "packages", "runs", "median", "min", "connect"]
    print(wh.table(headers, rows))
    print(
        "  start-up without knargo.io.kube's import and Cluster.connect (production-like run "
        f"minus both): ~{report.light_client_estimate_ms:.0f} ms"
    )


def print_breakdown(report: Report) -> None:
    print("generate's start-up by stage, fresh interpreter, production packages (ms, median)")
    rows = [[s.stage, f"{s.median_ms:.1f}"] for s in report.breakdown]
    print(wh.table(["stage", "ms"], rows))


def print_imports(title: str, entries: list[wh.ImportEntry]) -> None:
    print(title)
    rows = [[e.module, f"{e.cumulative_ms:.1f}", f"{e.self_ms:.1f}", str(e.depth)] for e in entries]
    print(wh.table(["module", "cumulative", "self", "depth"], rows))


def print_report(report: Report) -> None:
    print("knargo generate benchmark")
    print(f"  python {report.python}, {report.platform}")
    print(f"  {report.cpus} CPUs ({report.usable_cpus} usable), quick: {report.quick}")
    print("  " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    print(
        f"  WORKERS=1 THREADS=8 on 127.0.0.1; ci.yaml of {report.ci_yaml_jobs} jobs; each event a "
        "push to main with its own commit; the fakes run in processes of their own"
    )
    parts = (print_in_process, print_direct, print_load, print_startup, print_kube_imports)
    for part in (*parts, print_breakdown):
        print()
        part(report)
    print()
    print_imports(
        "top 12 imports of the generate module load, by cumulative time (ms)", report.imports_top
    )
    print()
    print_imports("top 10 imports the trivial function does not make (ms)", report.imports_extra)
    print()
    print("goals")
    rows = [[g.name, g.target, g.measured, "PASS" if g.met else "MISS"] for g in report.goals]
    print(wh.table(["goal", "target", "measured", "result"], rows, left=4))
    trivial = next(s for s in report.startup if s.function == "trivial").median_s * 1000
    estimate = report.light_client_estimate_ms
    print(
        f"  estimate, production packages without the kubernetes client: ~{estimate:.0f} ms, "
        f"{estimate / trivial:.2f}x the trivial function"
    )


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON, without the raw latency samples."""
    document = asdict(report)
    for run_ in document["load"]["summary"]["runs"]:
        del run_["handler_ms"], run_["latencies_ms"]
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events and start-ups")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    with wh.cleanup() as (procs, workdir):
        bench = prepare(procs, workdir, QUICK if args.quick else FULL)
        report = run(bench)
        stop_fake(procs, bench.kube)
        stop_fake(procs, bench.forge)
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print_report(report)
    if not report.consistency.ok or report.load.summary.bad_answers:
        print("generate did not answer every event with one submitted Workflow", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; processes stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
