"""Benchmark of the webhook function as a real process, next to a trivial function.

Run from the repository root:

    .venv/bin/python bench/webhook.py            # full run (about 80 s on 2 cores)
    .venv/bin/python bench/webhook.py --quick    # shorter runs (about 30 s)
    .venv/bin/python bench/webhook.py --json     # one JSON document instead of tables
    .venv/bin/python bench/webhook.py --loadgen python   # force the Python load generator

Both functions are started as in production, `functions-framework --source ... --target
handle`, with WORKERS=1 and THREADS=8, bound to 127.0.0.1 only. The webhook gets a temporary
KNARGO_CONFIG with one GitHub forge, a KNARGO_CREDENTIALS_DIR with its webhook secret, and a
K_SINK on loopback: a tiny asyncio server in its own process that answers 202 to every POST.
The trivial function is `request.get_data(); return "ok"`. Both get the same body: a real
GitHub push capture (../shared/fixtures/github/payloads/drone-go-scm/push.json) padded with
commits to about 8 KB and signed with HMAC-SHA256 as GitHub signs it.

What it measures:

* Throughput and latency at concurrency 16 with wrk (`-t2 -c16 -d10s --latency`, after a 3 s
  warm-up), or with a Python load generator (16 keep-alive connections, a fixed number of
  requests) when wrk is not installed; three runs per function, interleaved; medians. The load
  generator runs on the same CPUs as the function.
* Start-up: from spawning the process to the first answered POST (polled every 2 ms), 7 runs
  and a warm-up per function, interleaved; medians; plus the webhook's slowest imports
  (`python -X importtime`, the fastest of three runs).
* Memory: the gunicorn worker's peak RSS (VmHWM) before and after a 25 MiB signed body, a
  25 MiB body with a wrong signature, and a 30 MiB body, each in a fresh process.

Goals (from the issue): at least 0.8x the trivial function's throughput, start-up within
1.3x of it, and a 25 MiB body handled without holding more than about two copies (checked as
at most 2.5x the body size, to allow for interpreter noise). Missed goals are reported; the
script exits 1 only when the webhook does not accept the typical delivery.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT.parent / "shared/fixtures/github/payloads/drone-go-scm/push.json"
WEBHOOK_SOURCE = "functions/webhook/main.py"
SECRET = b"bench-webhook-secret"
WRONG_SECRET = b"not-the-webhook-secret"
CONFIG = """\
forges:
  - name: github
    kind: github
    api_url: https://api.github.com
    web_url: https://github.com
"""
TRIVIAL = """\
import functions_framework


@functions_framework.http
def handle(request):
    request.get_data()
    return "ok"
"""
# The sink: a separate process, so it does not compete for the benchmark's GIL. It answers
# 202 to every POST (keep-alive, Content-Length bodies) and the number of POSTs to a GET.
SINK = """\
import asyncio

posts = 0


async def serve(reader, writer):
    global posts
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if head.startswith(b"POST "):
                posts += 1
                writer.write(b"HTTP/1.1 202 Accepted\\r\\nContent-Length: 0\\r\\n\\r\\n")
            else:
                text = str(posts).encode()
                writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(text))
                writer.write(text)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
"""

TYPICAL_BYTES = 8 * 1024
LARGE_BYTES = 25 * 1024 * 1024 - 1  # just under the webhook's 25 MiB limit
TOO_LARGE_BYTES = 30 * 1024 * 1024
CONCURRENCY = 16
WORKER_ENV = {"WORKERS": "1", "THREADS": "8", "HOST": "127.0.0.1"}
POLL_INTERVAL_S = 0.002
START_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
LOAD_TIMEOUT_S = 300.0  # one run of the Python load generator, at most

GOAL_THROUGHPUT = 0.8
GOAL_STARTUP = 1.3
GOAL_MEMORY = 2.5


# --- the deliveries -----------------------------------------------------------------------


def compact(payload: Any) -> bytes:
    """JSON as GitHub sends it: no whitespace between tokens."""
    return json.dumps(payload, separators=(",", ":")).encode()


def earlier_commit(template: dict[str, Any], index: int) -> dict[str, Any]:
    """A commit like `template`, as if pushed before it, touching other files."""
    sha = hashlib.sha1(f"bench-commit-{index}".encode()).hexdigest()
    tree = hashlib.sha1(f"bench-tree-{index}".encode()).hexdigest()
    commit = json.loads(json.dumps(template))
    files = [f"src/module_{index}.go", f"src/module_{index}_test.go", "go.mod"]
    commit.update(
        id=sha,
        tree_id=tree,
        message=f"Refactor module {index}: split parsing from I/O\n\nSee #{100 + index}.",
        timestamp=f"2018-06-15T12:{index:02d}:07-07:00",
        url=template["url"].rsplit("/", 1)[0] + f"/{sha}",
        added=files[1:2] if index % 2 else [],
        removed=[],
        modified=[files[0], files[2]],
    )
    return commit


def typical_push() -> dict[str, Any]:
    """The captured push of refs/heads/master, with earlier commits until it is ~8 KB."""
    payload = json.loads(FIXTURE.read_text())
    newest = payload["commits"][-1]
    index = 0
    while len(compact(payload)) < TYPICAL_BYTES - 256:
        index += 1
        payload["commits"].insert(0, earlier_commit(newest, index))
    return payload


def large_push(size: int) -> bytes:
    """The typical push, `size` bytes long, padded with a huge head commit message."""
    payload = typical_push()
    marker = "@@PADDING@@"
    payload["head_commit"]["message"] = marker
    text = compact(payload)
    filler = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
    missing = size - len(text) + len(marker)
    padding = (filler * (missing // len(filler) + 1))[:missing]
    body = text.replace(marker.encode(), padding)
    assert len(body) == size
    return body


def signed_headers(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/8c4b6a1",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid5(uuid.NAMESPACE_URL, digest)),
        "X-GitHub-Hook-ID": "412718830",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


# --- processes ----------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, each in its own process group, stopped at exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: list[str], env: dict[str, str], log: Path | None
    ) -> subprocess.Popen[bytes]:
        """Output goes to `log`; without one, stdout is a pipe and stderr is discarded."""
        with contextlib.ExitStack() as files:
            output = files.enter_context(log.open("wb")) if log else None
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output or subprocess.PIPE,
                stderr=output or subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after `timeout`."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        if proc.stdout:
            proc.stdout.close()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc, timeout=5.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def functions_framework() -> str:
    beside = Path(sys.executable).parent / "functions-framework"
    return str(beside if beside.exists() else ROOT / ".venv/bin/functions-framework")


@dataclass(frozen=True)
class Function:
    """How to start one function: its source and environment (PORT is added per start)."""

    name: str
    source: str
    env: dict[str, str]
    logs: Path

    def argv(self) -> list[str]:
        return [functions_framework(), "--source", self.source, "--target", "handle"]


@dataclass
class Running:
    function: Function
    proc: subprocess.Popen[bytes]
    port: int
    log: Path


def base_env() -> dict[str, str]:
    """This environment without knargo's and Knative's variables, plus the server settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KNARGO_", "K_"))}
    return {**env, **WORKER_ENV}


def spawn(procs: Processes, function: Function, serial: int) -> Running:
    port = free_port()
    log = function.logs / f"{function.name}-{serial}.log"
    proc = procs.start(function.argv(), {**function.env, "PORT": str(port)}, log)
    return Running(function, proc, port, log)


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_sink(procs: Processes) -> tuple[subprocess.Popen[bytes], str]:
    proc = procs.start([sys.executable, "-c", SINK], dict(os.environ), None)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 10.0)
    line = proc.stdout.readline().strip() if ready else b""
    if not line.isdigit():
        raise RuntimeError("the sink did not start")
    return proc, f"http://127.0.0.1:{int(line)}/"


def sink_posts(url: str) -> int:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/")
        return int(conn.getresponse().read())
    finally:
        conn.close()


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(stat.parent.name))
        return found


def worker_pid(master: int, timeout: float = 10.0) -> int:
    """The gunicorn worker: the child of the master process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := children(master):
            return found[0]
        time.sleep(0.01)
    raise RuntimeError(f"no gunicorn worker under process {master}")


def vm_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


# --- HTTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]


def post(port: int, delivery: Delivery, timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=delivery.body, headers=delivery.headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


NOT_UP = (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected)


def first_answer(running: Running, delivery: Delivery, started: float) -> tuple[float, int]:
    """Seconds from `started` to the first answered POST, polling every 2 ms."""
    while True:
        attempt = time.perf_counter()
        if attempt - started > START_TIMEOUT_S or running.proc.poll() is not None:
            tail = log_tail(running.log)
            raise RuntimeError(f"{running.function.name} did not answer; its log:\n{tail}")
        try:
            status, _ = post(running.port, delivery, timeout=START_TIMEOUT_S)
        except NOT_UP:
            time.sleep(max(0.0, POLL_INTERVAL_S - (time.perf_counter() - attempt)))
            continue
        return time.perf_counter() - started, status


def start_answering(
    procs: Processes, function: Function, delivery: Delivery, serial: int
) -> tuple[Running, float]:
    started = time.perf_counter()
    running = spawn(procs, function, serial)
    elapsed, status = first_answer(running, delivery, started)
    if not 200 <= status < 300:
        procs.stop(running.proc)
        raise RuntimeError(f"{function.name} answered {status}; its log:\n{log_tail(running.log)}")
    return running, elapsed


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it has sent a full response or closes."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if sep and match and len(rest) >= int(match.group(1)):
                break
    return data


def send_large(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str, int]:
    """POST `body` with a Content-Length, stopping when the server answers early; returns
    (status, answer body, bytes of the body sent)."""
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(head)
        sent = 0
        view = memoryview(body)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < len(body) and not select.select([sock], [], [], 0)[0]:
                sock.sendall(view[sent : sent + 262144])
                sent = min(len(body), sent + 262144)
        data = read_response(sock, REQUEST_TIMEOUT_S)
    status_line, _, rest = data.partition(b"\r\n")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, rest.partition(b"\r\n\r\n")[2].decode(errors="replace"), sent


# --- throughput and latency ---------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_script(path: Path, body_file: Path, headers: dict[str, str]) -> None:
    lines = [
        f"local f = assert(io.open([==[{body_file}]==], 'rb'))",
        'wrk.method = "POST"',
        "wrk.body = f:read('*a')",
        "f:close()",
        *(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
    ]
    path.write_text("\n".join(lines) + "\n")


def parse_wrk(output: str) -> LoadResult:
    def number(pattern: str) -> float:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise RuntimeError(f"unexpected wrk output:\n{output}")
        return float(match.group(1))

    def percentile(p: int) -> float:
        match = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        if not match:
            raise RuntimeError(f"no {p}% latency in wrk output:\n{output}")
        return float(match.group(1)) * UNITS_MS[match.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(errors.group(1)) if errors else 0
    failed += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return LoadResult(
        requests=int(number(r"^\s*(\d+) requests in")),
        errors=failed,
        seconds=number(r"requests in ([\d.]+)s"),
        rps=number(r"^Requests/sec:\s+([\d.]+)"),
        p50_ms=percentile(50),
        p99_ms=percentile(99),
    )


def run_wrk(port: int, script: Path, seconds: float) -> LoadResult:
    argv = ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    done = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def percentile_ms(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def connection_loop(
    port: int, delivery: Delivery, count: int, gate: threading.Barrier, out: list[float]
) -> int:
    """`count` POSTs on one keep-alive connection, latencies appended to `out`; errors."""
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    gate.wait(timeout=REQUEST_TIMEOUT_S)
    try:
        for _ in range(count):
            sent = time.perf_counter()
            try:
                conn.request("POST", "/", body=delivery.body, headers=delivery.headers)
                response = conn.getresponse()
                response.read()
                errors += not 200 <= response.status < 300
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            out.append(time.perf_counter() - sent)
    finally:
        conn.close()
    return errors


def run_python_load(port: int, delivery: Delivery, per_connection: int) -> LoadResult:
    gate = threading.Barrier(CONCURRENCY + 1)
    latencies: list[list[float]] = [[] for _ in range(CONCURRENCY)]
    errors = [0] * CONCURRENCY

    def target(i: int) -> None:
        errors[i] = connection_loop(port, delivery, per_connection, gate, latencies[i])

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    gate.wait(timeout=REQUEST_TIMEOUT_S)
    started = time.perf_counter()
    deadline = started + LOAD_TIMEOUT_S
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - started
    samples = [s for per_thread in latencies for s in per_thread]
    return LoadResult(
        requests=len(samples),
        errors=sum(errors) + CONCURRENCY * per_connection - len(samples),
        seconds=elapsed,
        rps=len(samples) / elapsed,
        p50_ms=percentile_ms(samples, 50),
        p99_ms=percentile_ms(samples, 99),
    )


@dataclass
class LoadSummary:
    function: str
    runs: list[LoadResult]
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def summarise(name: str, runs: list[LoadResult]) -> LoadSummary:
    return LoadSummary(
        function=name,
        runs=runs,
        rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        errors=sum(r.errors for r in runs),
    )


# --- start-up and imports -----------------------------------------------------------------


@dataclass
class StartupSummary:
    function: str
    runs_s: list[float]
    median_s: float
    min_s: float
    max_s: float


def measure_startup(
    procs: Processes, functions: list[Function], delivery: Delivery, runs: int
) -> list[StartupSummary]:
    """`runs` start-ups per function after one warm-up round, interleaved."""
    times: dict[str, list[float]] = {f.name: [] for f in functions}
    for round_ in range(runs + 1):
        for function in functions:
            running, elapsed = start_answering(procs, function, delivery, 100 + round_)
            procs.stop(running.proc)
            if round_:
                times[function.name].append(elapsed)
    return [
        StartupSummary(f.name, t, statistics.median(t), min(t), max(t))
        for f, t in ((f, times[f.name]) for f in functions)
    ]


@dataclass
class ImportEntry:
    module: str
    self_ms: float
    cumulative_ms: float
    depth: int


def import_profile(function: Function, runs: int = 3) -> list[ImportEntry]:
    """Every import of loading the function's module: the fastest of `runs` runs."""
    profiles = [import_run(function) for _ in range(runs)]
    return min(profiles, key=total_import_ms)


def import_run(function: Function) -> list[ImportEntry]:
    """Every import of loading the function's module, from one `python -X importtime` run."""
    code = f"from functions_framework import create_app; create_app('handle', {function.source!r})"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=function.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    entries = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        module = name.lstrip()
        depth = (len(name) - len(module) - 1) // 2
        entries.append(ImportEntry(module, int(self_us) / 1000, int(cumulative_us) / 1000, depth))
    return entries


def top_imports(entries: list[ImportEntry], top: int = 10) -> list[ImportEntry]:
    return sorted(entries, key=lambda e: e.cumulative_ms, reverse=True)[:top]


def total_import_ms(entries: list[ImportEntry]) -> float:
    return sum(e.cumulative_ms for e in entries if e.depth == 0)


def extra_imports(webhook: list[ImportEntry], trivial: list[ImportEntry]) -> list[ImportEntry]:
    """The webhook's top-level imports the trivial function does not make at all."""
    shared = {e.module for e in trivial}
    outer = [e for e in webhook if e.module not in shared and e.depth <= 1]
    ranked = top_imports(outer, len(outer))
    kept: list[ImportEntry] = []
    for entry in ranked:  # drop a module when its parent package is already listed
        if not any(entry.module.startswith(k.module + ".") for k in kept):
            kept.append(entry)
    return kept[:10]


# --- memory -------------------------------------------------------------------------------


@dataclass
class MemoryResult:
    case: str
    body_bytes: int
    sent_bytes: int
    status: int
    expected: str
    answer: str
    hwm_before_kib: int
    hwm_after_kib: int
    rss_after_kib: int
    increase_mib: float
    copies: float
    as_expected: bool


@dataclass(frozen=True)
class MemoryCase:
    name: str
    body: bytes
    headers: dict[str, str]
    expected: tuple[int, ...]


def memory_cases() -> list[MemoryCase]:
    large = large_push(LARGE_BYTES)
    too_large = large_push(TOO_LARGE_BYTES)
    return [
        MemoryCase("(a) 25 MiB, signed", large, signed_headers(large), (202, 400)),
        MemoryCase(
            "(b) 25 MiB, wrong signature", large, signed_headers(large, WRONG_SECRET), (401,)
        ),
        MemoryCase("(c) 30 MiB, Content-Length", too_large, signed_headers(too_large), (413,)),
    ]


def measure_memory(
    procs: Processes, webhook: Function, typical: Delivery, case: MemoryCase, serial: int
) -> MemoryResult:
    """In a fresh process that has answered one typical delivery: the worker's VmHWM before
    and after posting the case's body."""
    running, _ = start_answering(procs, webhook, typical, serial)
    try:
        worker = worker_pid(running.proc.pid)
        before = vm_kib(worker, "VmHWM")
        status, answer, sent = send_large(running.port, case.body, case.headers)
        after, rss = vm_kib(worker, "VmHWM"), vm_kib(worker, "VmRSS")
    finally:
        procs.stop(running.proc)
    increase = (after - before) * 1024
    return MemoryResult(
        case=case.name,
        body_bytes=len(case.body),
        sent_bytes=sent,
        status=status,
        expected=" or ".join(map(str, case.expected)),
        answer=answer.strip()[:120],
        hwm_before_kib=before,
        hwm_after_kib=after,
        rss_after_kib=rss,
        increase_mib=increase / 2**20,
        copies=increase / len(case.body),
        as_expected=status in case.expected,
    )


# --- the run ------------------------------------------------------------------------------


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    met: bool


@dataclass
class Report:
    python: str
    platform: str
    cpus: int | None
    usable_cpus: int
    versions: dict[str, str]
    quick: bool
    load_generator: str
    load_note: str
    delivery_bytes: int
    delivery_commits: int
    check_answer: dict[str, Any]
    load: list[LoadSummary]
    sink_events: int
    startup: list[StartupSummary]
    imports_total_ms: dict[str, float]
    imports_top: list[ImportEntry]
    imports_extra: list[ImportEntry]
    memory: list[MemoryResult]
    goals: list[Goal] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """How long and how often to measure."""

    warmup_s: float
    duration_s: float
    load_runs: int
    python_warmup: int
    python_requests: int
    startup_runs: int


FULL = Plan(3.0, 10.0, 3, 50, 500, 7)
QUICK = Plan(1.0, 3.0, 3, 20, 150, 3)


@dataclass
class Bench:
    """What the measurements share: processes, the functions, the deliveries, the files."""

    procs: Processes
    workdir: Path
    webhook: Function
    trivial: Function
    typical: Delivery
    sink_url: str
    use_wrk: bool
    plan: Plan


def write_files(workdir: Path) -> tuple[Path, Path, Path]:
    config = workdir / "config.yaml"
    config.write_text(CONFIG)
    credentials = workdir / "credentials"
    credentials.mkdir()
    (credentials / "github.webhook-secret").write_bytes(SECRET + b"\n")
    trivial = workdir / "trivial" / "main.py"
    trivial.parent.mkdir()
    trivial.write_text(TRIVIAL)
    return config, credentials, trivial


def prepare(procs: Processes, workdir: Path, plan: Plan, loadgen: str) -> Bench:
    config, credentials, trivial_source = write_files(workdir)
    _, sink_url = start_sink(procs)
    logs = workdir / "logs"
    logs.mkdir()
    env = base_env()
    webhook_env = {
        **env,
        "KNARGO_CONFIG": str(config),
        "KNARGO_CREDENTIALS_DIR": str(credentials),
        "K_SINK": sink_url,
    }
    body = compact(typical_push())
    return Bench(
        procs=procs,
        workdir=workdir,
        webhook=Function("webhook", WEBHOOK_SOURCE, webhook_env, logs),
        trivial=Function("trivial", str(trivial_source), env, logs),
        typical=Delivery(body, signed_headers(body)),
        sink_url=sink_url,
        use_wrk=loadgen != "python" and shutil.which("wrk") is not None,
        plan=plan,
    )


def check_webhook(bench: Bench) -> dict[str, Any]:
    """Exit 1 unless the webhook answers the typical delivery 202 with a push event."""
    running, _ = start_answering_any(bench, bench.webhook)
    try:
        status, answer = post(running.port, bench.typical)
    finally:
        bench.procs.stop(running.proc)
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if status != 202 or not isinstance(parsed, dict) or set(parsed) != {"id", "type"}:
        print(f"the webhook answered {status}: {answer.decode(errors='replace')}", file=sys.stderr)
        sys.exit(1)
    if parsed["type"] != "dev.knargo.git.push":
        print(f"the webhook answered {status}: {answer.decode(errors='replace')}", file=sys.stderr)
        sys.exit(1)
    return {"status": status, **parsed}


def start_answering_any(bench: Bench, function: Function) -> tuple[Running, float]:
    """Start `function` and wait until it answers at all (any status), to check the answer."""
    started = time.perf_counter()
    running = spawn(bench.procs, function, 0)
    return running, first_answer(running, bench.typical, started)[0]


def load_once(bench: Bench, running: Running, seconds: float, requests: int) -> LoadResult:
    if bench.use_wrk:
        script = bench.workdir / "post.lua"
        if not script.exists():
            body_file = bench.workdir / "typical.json"
            body_file.write_bytes(bench.typical.body)
            wrk_script(script, body_file, bench.typical.headers)
        return run_wrk(running.port, script, seconds)
    return run_python_load(running.port, bench.typical, requests)


def measure_load(bench: Bench) -> list[LoadSummary]:
    """Both functions up at once; a warm-up each, then runs interleaved."""
    plan = bench.plan
    functions = [bench.trivial, bench.webhook]
    running = [start_answering(bench.procs, f, bench.typical, 1)[0] for f in functions]
    try:
        for r in running:
            load_once(bench, r, plan.warmup_s, plan.python_warmup)
        runs: dict[str, list[LoadResult]] = {f.name: [] for f in functions}
        for _ in range(plan.load_runs):
            for r in running:
                result = load_once(bench, r, plan.duration_s, plan.python_requests)
                runs[r.function.name].append(result)
    finally:
        for r in running:
            bench.procs.stop(r.proc)
    return [summarise(f.name, runs[f.name]) for f in functions]


def progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"... {message}", file=sys.stderr, flush=True)


def versions(use_wrk: bool) -> dict[str, str]:
    found = {}
    for name in ("functions-framework", "gunicorn", "flask", "werkzeug", "httpx", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    if use_wrk:
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        found["wrk"] = (done.stdout + done.stderr).split("[")[0].removeprefix("wrk").strip()
    return found


def run(bench: Bench) -> Report:
    progress("checking that the webhook accepts the typical delivery")
    check = check_webhook(bench)
    loadgen = "wrk" if bench.use_wrk else "python"
    progress(f"throughput and latency at concurrency {CONCURRENCY} ({loadgen})")
    load = measure_load(bench)
    progress("start-up")
    startup = measure_startup(
        bench.procs, [bench.trivial, bench.webhook], bench.typical, bench.plan.startup_runs
    )
    progress("imports")
    webhook_imports, trivial_imports = import_profile(bench.webhook), import_profile(bench.trivial)
    progress("memory with 25 and 30 MiB bodies")
    memory = [
        measure_memory(bench.procs, bench.webhook, bench.typical, case, 200 + i)
        for i, case in enumerate(memory_cases())
    ]
    report = Report(
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        cpus=os.cpu_count(),
        usable_cpus=len(os.sched_getaffinity(0)),
        versions=versions(bench.use_wrk),
        quick=bench.plan is QUICK,
        load_generator=loadgen,
        load_note=load_note(bench),
        delivery_bytes=len(bench.typical.body),
        delivery_commits=len(json.loads(bench.typical.body)["commits"]),
        check_answer=check,
        load=load,
        sink_events=sink_posts(bench.sink_url),
        startup=startup,
        imports_total_ms={
            "webhook": total_import_ms(webhook_imports),
            "trivial": total_import_ms(trivial_imports),
        },
        imports_top=top_imports(webhook_imports),
        imports_extra=extra_imports(webhook_imports, trivial_imports),
        memory=memory,
    )
    report.goals = goals(report)
    return report


def load_note(bench: Bench) -> str:
    plan = bench.plan
    if bench.use_wrk:
        return (
            f"wrk -t2 -c{CONCURRENCY} -d{plan.duration_s:g}s --latency, "
            f"after a {plan.warmup_s:g} s warm-up"
        )
    missing = "" if shutil.which("wrk") else "wrk is not installed; "
    return (
        f"{missing}Python load generator: {CONCURRENCY} keep-alive connections x "
        f"{plan.python_requests} requests, after {plan.python_warmup} each as warm-up"
    )


def goals(report: Report) -> list[Goal]:
    trivial, webhook = report.load
    throughput = webhook.rps / trivial.rps
    start_trivial, start_webhook = report.startup
    startup = start_webhook.median_s / start_trivial.median_s
    worst = max((m for m in report.memory if m.body_bytes == LARGE_BYTES), key=lambda m: m.copies)
    return [
        Goal(
            "throughput, webhook / trivial",
            f">= {GOAL_THROUGHPUT:.1f}x",
            f"{throughput:.2f}x ({webhook.rps:.0f} / {trivial.rps:.0f} req/s)",
            throughput >= GOAL_THROUGHPUT and webhook.errors == 0,
        ),
        Goal(
            "start-up, webhook / trivial",
            f"<= {GOAL_STARTUP:.1f}x",
            f"{startup:.2f}x ({start_webhook.median_s * 1000:.0f} / "
            f"{start_trivial.median_s * 1000:.0f} ms)",
            startup <= GOAL_STARTUP,
        ),
        Goal(
            "peak RSS increase, 25 MiB body",
            f"<= {GOAL_MEMORY:.1f}x body (~2 copies)",
            f"{worst.copies:.2f}x ({worst.increase_mib:.1f} MiB, {worst.case})",
            worst.copies <= GOAL_MEMORY,
        ),
        Goal(
            "large bodies answered as expected",
            "202|400, 401, 413",
            ", ".join(str(m.status) for m in report.memory),
            all(m.as_expected for m in report.memory),
        ),
    ]


# --- the report ---------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """The first `left` columns left-aligned, the others (numbers) right-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        aligned = (
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(aligned).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def print_load(report: Report) -> None:
    trivial = report.load[0]
    print(f"throughput and latency at concurrency {CONCURRENCY} (median of runs)")
    print(f"  load generator: {report.load_note}")
    rows = [
        [
            s.function,
            str(len(s.runs)),
            f"{s.rps:.0f}",
            " ".join(f"{r.rps:.0f}" for r in s.runs),
            f"{s.p50_ms:.2f}",
            f"{s.p99_ms:.2f}",
            str(s.errors),
            f"{s.rps / trivial.rps:.2f}x",
        ]
        for s in report.load
    ]
    headers = ["function", "runs", "req/s", "runs req/s", "p50 ms", "p99 ms", "errors"]
    print(table([*headers, "vs trivial"], rows))
    print(f"  the load generator shares the {report.usable_cpus} CPUs with the function;")
    print(f"  events the sink received in the whole run: {report.sink_events}")


def print_startup(report: Report) -> None:
    print("start-up: spawn to first answered POST (ms, interleaved)")
    base = report.startup[0].median_s
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
    print(table(["function", "runs", "median", "min", "max", "vs trivial"], rows))
    totals = report.imports_total_ms
    print(
        f"  module load (python -X importtime, fastest of 3): webhook {totals['webhook']:.0f} ms, "
        f"trivial {totals['trivial']:.0f} ms"
    )


def print_imports(title: str, entries: list[ImportEntry]) -> None:
    print(title)
    rows = [[e.module, f"{e.cumulative_ms:.1f}", f"{e.self_ms:.1f}", str(e.depth)] for e in entries]
    print(table(["module", "cumulative", "self", "depth"], rows))


def print_memory(report: Report) -> None:
    print("memory: gunicorn worker peak RSS (VmHWM) around one large body, fresh process each")
    rows = [
        [
            m.case,
            f"{m.body_bytes / 2**20:.1f}",
            f"{m.sent_bytes / 2**20:.1f}",
            f"{m.status} ({m.expected})",
            f"{m.hwm_before_kib / 1024:.1f}",
            f"{m.hwm_after_kib / 1024:.1f}",
            f"{m.increase_mib:.1f}",
            f"{m.copies:.2f}x",
        ]
        for m in report.memory
    ]
    headers = ["case", "body MiB", "sent MiB", "status", "before", "after", "increase"]
    print(table([*headers, "x body"], rows))
    for m in report.memory:
        print(f"  {m.case}: {m.answer}")


def print_report(report: Report) -> None:
    print("knargo webhook benchmark")
    print(f"  python {report.python}, {report.platform}")
    print(f"  {report.cpus} CPUs ({report.usable_cpus} usable), quick: {report.quick}")
    print("  " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    print(f"  WORKERS=1 THREADS=8 on 127.0.0.1; load generator: {report.load_generator}")
    print(
        f"  delivery: GitHub push of refs/heads/master, {report.delivery_bytes} bytes, "
        f"{report.delivery_commits} commits; check: {json.dumps(report.check_answer)}"
    )
    print()
    print_load(report)
    print()
    print_startup(report)
    print()
    print_imports(
        "top 10 imports of the webhook's module load, by cumulative time (ms)", report.imports_top
    )
    print()
    print_imports("top 10 imports the trivial function does not make (ms)", report.imports_extra)
    print()
    print_memory(report)
    print()
    print("goals")
    rows = [[g.name, g.target, g.measured, "PASS" if g.met else "MISS"] for g in report.goals]
    print(table(["goal", "target", "measured", "result"], rows, left=4))


def on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def cleanup() -> Iterator[tuple[Processes, Path]]:
    """A temporary directory and the process registry, both cleaned up however we leave."""
    procs = Processes()
    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="knargo-bench-") as workdir:
            try:
                yield procs, Path(workdir)
            finally:
                procs.stop_all()
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer start-ups")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk when installed (auto), or the Python load generator",
    )
    args = parser.parse_args(argv)
    if args.loadgen == "wrk" and not shutil.which("wrk"):
        parser.error("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    if args.loadgen == "auto" and not shutil.which("wrk"):
        print("note: wrk is not installed; using the Python load generator", file=sys.stderr)
    with cleanup() as (procs, workdir):
        bench = prepare(procs, workdir, QUICK if args.quick else FULL, args.loadgen)
        report = run(bench)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; processes stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
