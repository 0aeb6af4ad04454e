"""What the benchmarks share: processes, functions-framework servers, timing, the goals table.

Every process is started in its own process group and stopped (SIGTERM, then SIGKILL) when
the `Processes` context ends, also on Ctrl-C. Start-up figures are measured twice: with
bytecode compiled and cached, as the container image runs them, and without (the sources
compiled at every start, as an editable install with `PYTHONDONTWRITEBYTECODE` does).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
BIN = Path(sys.executable).parent
MODES = ("cached", "uncached")
SOURCES = (ROOT / "shared" / "knargo", ROOT / "functions")
SERVER_ENV = {"WORKERS": "1", "THREADS": "8", "HOST": "127.0.0.1", "KNARGO_METRICS_PORT": "0"}
POLL_S = 0.002
T = TypeVar("T")

TRIVIAL = """\
import functions_framework

@functions_framework.http
def handle(request):
    request.get_data()
    return "ok"
"""
"""The baseline of start-up figures: a functions-framework function that does nothing."""

CONFIG = (
    "forges:\n  - {name: github, kind: github, api_url: 'https://api.github.com',"
    " web_url: 'https://github.com'}\n"
)
"""A configuration with one GitHub forge."""

SINK = """\
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


HIDE = """\
import sys

HIDDEN = frozenset({hidden!r})


SERVICE_ACCOUNT = {account!r}


class Hidden:
    \"\"\"Top-level modules of distributions the function's image does not install; and the
    pod's service account files, which the in-cluster loader reads from fixed paths.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if path is None and name in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the image)", name=name)
        if name == "kubernetes.config.incluster_config":
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                module.SERVICE_TOKEN_FILENAME = SERVICE_ACCOUNT + "/token"
                module.SERVICE_CERT_FILENAME = SERVICE_ACCOUNT + "/ca.crt"

            spec.loader.exec_module = exec_module
            return spec
        return None


sys.meta_path.insert(0, Hidden())
"""


def _closure(requirement: str) -> set[str]:
    """The distributions `requirement` (e.g. `knargo[webhook]`) installs, with its own."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [(Requirement(requirement), "")]
    while todo:
        wanted, extra = todo.pop()
        if wanted.marker and not wanted.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(wanted.name)
        extras = set(wanted.extras)
        key = name + "[" + ",".join(sorted(extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.requires(wanted.name) or []:
            todo += [(Requirement(line), e) for e in extras or {""}]
    return {key.split("[", 1)[0] for key in seen}


def production(function: str, root: Path) -> dict[str, str]:
    """Environment entries that hide every module whose distribution `knargo[function]` does
    not install (the dev tools, `rich` that `import httpx` would load, `kubernetes_validate`
    that the kubernetes client would): the modules the function's image has. And a pod's
    service account (a token and a CA file here, `KUBERNETES_SERVICE_HOST` on loopback), so
    that generate and report configure their client as in a cluster; and the variables its
    Knative Service sets (`service_env`)."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    kept = _closure(f"knargo[{function}]")
    hidden: set[str] = set()
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) in kept:
            continue
        top = (dist.read_text("top_level.txt") or "").split()
        files = [str(f).split("/", 1)[0].removesuffix(".py") for f in dist.files or []]
        hidden |= {n for n in top or files if n.isidentifier() and not n.startswith("_")}
    hidden -= {"knargo", "sitecustomize"}
    directory = root / f"image-{function}"
    account = directory / "serviceaccount"
    account.mkdir(parents=True, exist_ok=True)
    (account / "token").write_text("bench-token")
    (account / "ca.crt").write_text("not used before the first request\n")
    text = HIDE.format(hidden=sorted(hidden), account=str(account))
    (directory / "sitecustomize.py").write_text(text)
    pod = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "9"}
    return {**service_env(function), "PYTHONPATH": str(directory), **pod}


def service_env(function: str) -> dict[str, str]:
    """The variables `knative/<function>.yaml` sets on the container (e.g. the allocator's),
    but for the mounted files' paths: each benchmark writes its own files."""
    import yaml

    for doc in yaml.safe_load_all((ROOT / "knative" / f"{function}.yaml").read_text()):
        if doc and doc.get("kind") == "Service" and doc["metadata"]["name"] == function:
            env = doc["spec"]["template"]["spec"]["containers"][0].get("env", [])
            return {e["name"]: e["value"] for e in env if not e["name"].startswith("KNARGO_")}
    raise LookupError(f"no Service {function} in knative/{function}.yaml")


def bytecode(mode: str) -> dict[str, str]:
    """The environment of one mode, with the sources' bytecode cached or removed to match."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KNARGO_", "K_"))}
    for source in SOURCES:
        if mode == "cached":
            compileall.compile_dir(source, quiet=1)
        else:
            for cache in source.rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
    if mode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Processes(contextlib.ExitStack):
    """Processes started in their own process groups, all stopped when the context ends."""

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.callback(stop, proc)
        return proc

    def sink(self, env: dict[str, str]) -> str:
        """A loopback HTTP server that answers 202 to every POST; its URL."""
        proc = self.start([sys.executable, "-c", SINK], env)
        assert proc.stdout is not None
        return f"http://127.0.0.1:{int(proc.stdout.readline())}/"


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
            break
    if proc.stdout:
        proc.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Function:
    """A functions-framework function: its source file and environment."""

    source: str
    env: dict[str, str]

    def serve(self, procs: Processes) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        argv = [str(BIN / "functions-framework"), "--source", self.source, "--target", "handle"]
        env = {**self.env, **SERVER_ENV, "PORT": str(port)}
        return procs.start(argv, env), port


Request = tuple[str, bytes, dict[str, str]]  # method, body, headers


def send(port: int, request: Request, timeout: float = 60.0) -> int:
    """One request on a new connection; the answer's status."""
    method, body, headers = request
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, "/", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def answering(
    procs: Processes, function: Function, request: Request, timeout: float = 60.0
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start `function` and poll it with `request` until it answers: the process, its port
    and the seconds from spawn to the first answer."""
    started = time.perf_counter()
    proc, port = function.serve(procs)
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{function.source} exited with {proc.returncode}")
        with contextlib.suppress(ConnectionError, http.client.HTTPException, OSError):
            send(port, request)
            return proc, port, time.perf_counter() - started
        time.sleep(POLL_S)
    raise RuntimeError(f"{function.source} did not answer in {timeout} s")


def start_time(function: Function, request: Request) -> float:
    with Processes() as procs:
        return answering(procs, function, request)[2]


def cpu_seconds(pid: int) -> float:
    """The CPU time all threads of `pid` ran (`schedstat`, in nanoseconds)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return sum(int((task / "schedstat").read_text().split()[0]) for task in tasks) / 1e9


def start_costs(function: Function, request: Request) -> tuple[float, float]:
    """Seconds from spawn to the first answer, and the CPU seconds the server (master and
    worker) used by then: unlike the wall time, the CPU time hardly changes when other
    processes load the machine."""
    with Processes() as procs:
        proc, _port, wall = answering(procs, function, request)
        return wall, cpu_seconds(proc.pid) + cpu_seconds(worker_pid(proc.pid))


def starts(
    functions: dict[str, Function], requests: dict[str, Request], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Medians of `start_costs` of each function, interleaved: wall times, CPU times."""
    cases = {n: (lambda f=f, n=n: start_costs(f, requests[n])) for n, f in functions.items()}
    samples = sampled(cases, runs)
    walls = {
        name: statistics.median(wall for wall, _ in values) for name, values in samples.items()
    }
    cpus = {name: statistics.median(cpu for _, cpu in values) for name, values in samples.items()}
    return walls, cpus


def command_time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    return time.perf_counter() - started


def sampled(cases: dict[str, Callable[[], T]], runs: int) -> dict[str, list[T]]:
    """`runs` samples of each case, the cases taking turns, after one warm-up each."""
    samples: dict[str, list[T]] = {name: [] for name in cases}
    for turn in range(runs + 1):
        for name, case in cases.items():
            value = case()
            if turn:
                samples[name].append(value)
    return samples


def interleaved(cases: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """The median of each case over `runs`, the cases taking turns, after one warm-up each."""
    return {name: statistics.median(values) for name, values in sampled(cases, runs).items()}


def ratio(cases: dict[str, Callable[[], float]], runs: int) -> float:
    """The first case's median over the second's, measured interleaved."""
    medians = list(interleaved(cases, runs).values())
    return medians[0] / medians[1]


def worker_pid(master: int, timeout: float = 10.0) -> int:
    """The gunicorn worker functions-framework's master forked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.01)
    raise RuntimeError("no worker process")


def vm_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="knargo-bench-") as path:
        yield Path(path)


# --- figures and goals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the goals table: the value in each mode, and the goal it is held to."""

    name: str
    values: dict[str, float]
    goal: float
    higher_is_better: bool = False
    unit: str = "x"

    def met(self, mode: str) -> bool:
        value = self.values[mode]
        return value >= self.goal if self.higher_is_better else value <= self.goal

    def cell(self, mode: str) -> str:
        value = self.values[mode]
        text = f"{value:,.0f}" if self.unit != "x" else f"{value:.2f}x"
        return f"{text} {'PASS' if self.met(mode) else 'MISS'}"


Measure = Callable[[str, dict[str, str], bool], list[tuple[str, float, float, bool, str]]]
"""(mode, environment, quick) -> rows of (name, value, goal, higher is better, unit)."""


def collect(measures: list[Measure], quick: bool) -> list[Figure]:
    """Every measure in both modes: without bytecode first, then with it cached."""
    found: dict[str, Figure] = {}
    for mode in reversed(MODES):
        env = bytecode(mode)
        for measure in measures:
            for name, value, goal, higher, unit in measure(mode, env, quick):
                figure = found.setdefault(name, Figure(name, {}, goal, higher, unit))
                figure.values[mode] = value
    return list(found.values())


def table(figures: list[Figure]) -> str:
    header = ("figure", "bytecode cached", "without bytecode", "goal")
    rows = [header] + [
        (
            f.name,
            f.cell("cached"),
            f.cell("uncached"),
            ("≥ " if f.higher_is_better else "≤ ")
            + (f"{f.goal:.1f}x" if f.unit == "x" else f"{f.goal:,.0f} {f.unit}"),
        )
        for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def main(measures: list[Measure], description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    args = parser.parse_args()
    figures = collect(measures, args.quick)
    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
    else:
        print(table(figures))


def runs(quick: bool, full: int = 9) -> int:
    return 3 if quick else full


def fixture(*parts: str) -> Any:
    return json.loads((FIXTURES.joinpath(*parts)).read_text())
