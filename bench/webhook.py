"""The webhook function as a real process: start-up, memory for a large delivery, throughput.

    .venv/bin/python bench/webhook.py [--quick] [--json]

The webhook runs as in production (`functions-framework --source functions/webhook/main.py
--target handle`, WORKERS=1, THREADS=8, on 127.0.0.1, only the modules of the packages its
image installs importable) with one GitHub forge and its secret,
publishing to a loopback sink that answers 202. Every delivery is the real push capture
`../shared/fixtures/github/payloads/drone-go-scm/push.json`, signed as GitHub signs it.

* start-up: spawn to the first answered delivery (polled every 2 ms), interleaved with a
  trivial function (`request.get_data(); return "ok"`); medians. Also the CPU time the
  server (gunicorn's master and worker) used until then, which a loaded machine hardly
  changes. Interleaved with them, the floor of any function that reads YAML configuration
  and validates with pydantic: the trivial function importing yaml and validating the
  delivery's id with one pydantic model.
* memory: the worker's peak RSS (VmHWM) before and after one 25 MiB signed delivery (the push
  with a padded head commit message), in a fresh process, as a multiple of the body size.
* throughput: 16 keep-alive connections posting the delivery, against a trivial forwarding
  function that reads the body, verifies its HMAC and POSTs it to the same sink with httpx;
  also the worker's CPU time per request, whose ratio a loaded machine hardly changes.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import statistics
import threading
import time
from pathlib import Path

from harness import (
    CONFIG,
    FIXTURES,
    TRIVIAL,
    Function,
    Processes,
    Request,
    answering,
    cpu_seconds,
    main,
    production,
    runs,
    sampled,
    starts,
    vm_kib,
    workdir,
    worker_pid,
)

SECRET = b"bench-webhook-secret"
LARGE = 25 * 1024 * 1024 - 1
GOAL_START, GOAL_MEMORY, GOAL_THROUGHPUT = 1.5, 2.0, 0.8
CONNECTIONS = 16


FORWARDING = """\
import hashlib, hmac, os

import functions_framework
import httpx

CLIENT = httpx.Client(timeout=10)
SECRET = os.environ["BENCH_SECRET"].encode()

@functions_framework.http
def handle(request):
    body = request.get_data()
    digest = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(digest, request.headers.get("X-Hub-Signature-256", "")):
        return "invalid signature", 401
    CLIENT.post(os.environ["K_SINK"], content=body, headers={"Content-Type": "application/json"})
    return "published", 202
"""


FLOOR = """\
import functions_framework
import yaml
from pydantic import BaseModel

class Delivery(BaseModel):
    id: str

@functions_framework.http
def handle(request):
    request.get_data()
    Delivery(id=request.headers.get("X-GitHub-Delivery", ""))
    return "ok"
"""


def delivery(body: bytes) -> Request:
    digest = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "42",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return "POST", body, headers


def push(size: int | None = None) -> bytes:
    """The captured push; with `size`, padded to that many bytes in the head commit message."""
    payload = json.loads((FIXTURES / "github/payloads/drone-go-scm/push.json").read_text())
    compact = json.dumps(payload, separators=(",", ":")).encode()
    if size is None:
        return compact
    payload["head_commit"]["message"] = "x" * (
        size - len(compact) + len(payload["head_commit"]["message"])
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == size, len(body)
    return body


def functions(root: Path, env: dict[str, str], sink: str) -> dict[str, Function]:
    (root / "config.yaml").write_text(CONFIG)
    (root / "credentials").mkdir(exist_ok=True)
    (root / "credentials" / "github.webhook-secret").write_bytes(SECRET)
    for name, text in (("trivial", TRIVIAL), ("forwarding", FORWARDING), ("floor", FLOOR)):
        (root / name).mkdir(exist_ok=True)
        (root / name / "main.py").write_text(text)
    image = production("webhook", root)
    shared = {**env, **image, "K_SINK": sink, "BENCH_SECRET": SECRET.decode()}
    webhook_env = {
        **shared,
        "KNARGO_CONFIG": str(root / "config.yaml"),
        "KNARGO_CREDENTIALS_DIR": str(root / "credentials"),
    }
    return {
        "webhook": Function("functions/webhook/main.py", webhook_env),
        "trivial": Function(str(root / "trivial" / "main.py"), shared),
        "forwarding": Function(str(root / "forwarding" / "main.py"), shared),
        "floor": Function(str(root / "floor" / "main.py"), shared),
    }


def load(port: int, request: Request, seconds: float) -> tuple[float, int]:
    """Requests per second of `CONNECTIONS` keep-alive connections posting `request`, and
    how many were answered."""
    method, body, headers = request
    done, failed = [0] * CONNECTIONS, []
    deadline = time.perf_counter() + seconds

    def connection(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            conn.request(method, "/", body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 202:
                failed.append(answer.status)
            done[index] += 1
        conn.close()

    threads = [threading.Thread(target=connection, args=(i,)) for i in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise RuntimeError(f"answers other than 202: {sorted(set(failed))}")
    return sum(done) / (time.perf_counter() - started), sum(done)


def throughput(function: Function, request: Request, seconds: float) -> tuple[float, float]:
    """Requests per second, and the server's CPU seconds per request."""
    with Processes() as procs:
        proc, port, _ = answering(procs, function, request)
        load(port, request, 1.0)  # warm-up
        worker = worker_pid(proc.pid)
        before = cpu_seconds(worker)
        rate, answered = load(port, request, seconds)
        return rate, (cpu_seconds(worker) - before) / answered


def memory(webhook: Function, typical: Request) -> float:
    with Processes() as procs:
        return peak(procs, webhook, typical)


def peak(procs: Processes, webhook: Function, typical: Request) -> float:
    proc, port, _ = answering(procs, webhook, typical)
    worker = worker_pid(proc.pid)
    before = vm_kib(worker, "VmHWM")
    large = delivery(push(LARGE))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(large[0], "/", body=large[1], headers=large[2])
    status = conn.getresponse().status
    conn.close()
    if status != 202:
        raise RuntimeError(f"the 25 MiB delivery was answered {status}")
    return (vm_kib(worker, "VmHWM") - before) * 1024 / LARGE


def measure(
    mode: str, env: dict[str, str], quick: bool
) -> list[tuple[str, float, float, bool, str]]:
    typical = delivery(push())
    with workdir() as root, Processes() as procs:
        fns = functions(root, env, procs.sink(env))
        started = {n: fns[n] for n in ("webhook", "trivial", "floor")}
        walls, cpus = starts(started, dict.fromkeys(started, typical), runs(quick, 9))
        peaks = sorted(memory(fns["webhook"], typical) for _ in range(runs(quick, 5)))
        seconds = 3.0 if quick else 8.0
        samples = sampled(
            {
                n: (lambda f=fns[n]: throughput(f, typical, seconds))
                for n in ("webhook", "forwarding")
            },
            1 if quick else 3,
        )
        rates = {n: statistics.median(rate for rate, _ in v) for n, v in samples.items()}
        costs = {n: statistics.median(cost for _, cost in v) for n, v in samples.items()}
    return [
        (
            "webhook start-to-first-answer vs trivial function",
            walls["webhook"] / walls["trivial"],
            GOAL_START,
            False,
            "x",
        ),
        (
            "  webhook start, server CPU time vs trivial",
            cpus["webhook"] / cpus["trivial"],
            GOAL_START,
            False,
            "x",
        ),
        (
            "  floor: trivial + yaml + one pydantic model, vs trivial",
            walls["floor"] / walls["trivial"],
            GOAL_START,
            False,
            "x",
        ),
        (
            "  floor, server CPU time vs trivial",
            cpus["floor"] / cpus["trivial"],
            GOAL_START,
            False,
            "x",
        ),
        (
            f"webhook peak RSS increase for a 25 MiB signed body (worst of {len(peaks)}), x body",
            peaks[-1],
            GOAL_MEMORY,
            False,
            "x",
        ),
        (
            "webhook throughput vs trivial forwarding function",
            rates["webhook"] / rates["forwarding"],
            GOAL_THROUGHPUT,
            True,
            "x",
        ),
        (
            "  the same from CPU time: forwarding's CPU per request / webhook's",
            costs["forwarding"] / costs["webhook"],
            GOAL_THROUGHPUT,
            True,
            "x",
        ),
    ]


MEASURES = [measure]

if __name__ == "__main__":
    main(MEASURES, __doc__ or "")
