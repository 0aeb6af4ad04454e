"""One attempt of a job: the template's checkout init container, then its main container.

Both run as the template says (command, environment, working directory), on local
directories standing in for the pod's volumes: `/workspace` (the checkout) and `/knargo`
(the decoded script). `KNARGO_HOME`, `KNARGO_WORKSPACE` and `KNARGO_CLONE_URL` are the only
values changed: they point at those directories and at the local repository (so a
submodule's relative URL is looked up beside it, and git may fetch it over `file://`). Environment
variables from a `secretKeyRef` come from `.knargo/secrets.env`; when one is missing the job
does not start (as a pod whose Secret does not exist), and the error names it. A
`working-directory` the checkout does not have fails the job, and a program that cannot be
started is named with the PATH it was looked up in. The template's `activeDeadlineSeconds`
bounds the attempt from its start, checkout included, as it bounds a pod. Output goes to the
job's log, with the values of secrets replaced by `***`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from knargo.local.engine import Engine
from knargo.local.secrets import Secrets
from knargo.local.services import Service, ServiceFailed, from_template, refusal, running
from knargo.translation import jobpod

__all__ = [
    "DEADLINE",
    "SECRETS_FILE",
    "CannotStart",
    "Outcome",
    "Pod",
    "Processes",
    "prepare",
    "run_attempt",
]

SECRETS_FILE = ".knargo/secrets.env"

DEADLINE = "Pod was active on the node longer than the specified deadline"
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
MIN_MASKED = jobpod.MIN_MASKED  # as the job's command: shorter values are not masked


@dataclass(frozen=True)
class Outcome:
    phase: str
    message: str = ""


@dataclass(frozen=True)
class Pod:
    """A job template with its environment resolved for this machine."""

    template: Mapping[str, Any]
    init_env: dict[str, str]
    main_env: dict[str, str]
    missing: list[str] = field(default_factory=list)
    """The env vars whose secret is not in the secrets file: the job cannot start."""
    masked: list[bytes] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    """The template's sidecars, their env resolved (secrets missing count in `missing`)."""

    @property
    def deadline(self) -> float:
        return float(self.template.get("activeDeadlineSeconds") or 3600)


def prepare(
    template: Mapping[str, Any], scope: str, secrets: Secrets, base_env: Mapping[str, str]
) -> Pod:
    base = {k: base_env[k] for k in BASE_ENV if k in base_env}
    (init,) = template["initContainers"]
    init_env, _, _ = _env(init.get("env", []), scope, secrets)
    main_env, missing, used = _env(template["container"].get("env", []), scope, secrets)
    service_env = {}
    for sidecar in template.get("sidecars") or []:
        values, absent, secret_values = _env(sidecar.get("env", []), scope, secrets)
        service_env[sidecar["name"]] = values
        missing += [n for n in absent if n not in missing]
        used += secret_values
    masked = [v.encode() for v in used if len(v) >= MIN_MASKED]
    services = from_template(template, service_env)
    return Pod(template, base | init_env, base | main_env, missing, masked, services)


def _env(
    variables: Iterable[Mapping[str, Any]], scope: str, secrets: Secrets
) -> tuple[dict[str, str], list[str], list[str]]:
    """Values, the names whose secret is missing, and the secret values used."""
    values: dict[str, str] = {}
    missing: list[str] = []
    used: list[str] = []
    for variable in variables:
        name = variable["name"]
        if "value" in variable:
            values[name] = variable["value"]
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        value = secrets.resolve(scope, name, ref["name"])
        if value is None:
            missing.append(name)
        else:
            values[name] = value
            used.append(value)
    return values, missing, used


class CannotStart(Exception):
    """A program of the job could not be started: the message names it and the PATH."""


class Processes:
    """The processes running now, so that stopping the executor can end them."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.add(process)
        if self.stopped.is_set():
            _end(process, grace=0)

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(process)

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            _end(process, grace=0)


def run_attempt(
    pod: Pod,
    directory: Path,
    log: IO[bytes],
    *,
    clone_url: str,
    engine: Engine,
    processes: Processes,
    on_running: Callable[[], None],
) -> Outcome:
    workspace, home = directory / "workspace", directory / "knargo"
    workspace.mkdir(parents=True, exist_ok=True)
    home.mkdir(exist_ok=True)
    deadline = time.monotonic() + pod.deadline
    refused = refusal(pod.services, engine)
    if refused:
        log.write(f"knargo: {refused}\n".encode())
        return Outcome("Error", refused)
    if pod.missing:
        names = ", ".join(f"${name}" for name in pod.missing)
        message = (
            f"cannot start: no secret for {names} in {SECRETS_FILE}; add the secret ci.yaml "
            "names there as NAME=value (the cluster would not start this pod either)"
        )
        log.write(f"knargo: {message}\n".encode())
        return Outcome("Error", message)
    (init,) = pod.template["initContainers"]
    local = {"KNARGO_HOME": str(home), "KNARGO_WORKSPACE": str(workspace)}
    env = pod.init_env | local | {"KNARGO_CLONE_URL": clone_url} | _LOCAL_GIT
    cwd = _local(init.get("workingDir", jobpod.WORKSPACE), workspace)
    code = _execute(init["command"], env, cwd, log, deadline, processes, pod.masked)
    if code != 0:
        return _failed(code, processes, "checkout failed (exit code {})", "Error")
    on_running()
    container = pod.template["container"]
    workdir = container.get("workingDir", jobpod.WORKSPACE)
    entered = workdir  # the job's command enters its working-directory itself
    if pod.main_env.get(jobpod.WORKING_DIRECTORY):
        entered = f"{workdir}/{pod.main_env[jobpod.WORKING_DIRECTORY]}"
    name = f"knargo-{directory.parent.parent.name}-{directory.parent.name}-{directory.name}"
    if engine.isolated:
        env = pod.main_env | engine.client_env(os.environ)
        cwd = directory
    else:
        env = pod.main_env | {"KNARGO_HOME": str(home)}
        cwd = _local(workdir, workspace)
    if not _local(entered, workspace).is_dir():
        message = f'working-directory "{entered}" does not exist in the checkout'
        log.write(f"knargo: {message}\n".encode())
        return Outcome("Failed", message)
    try:
        with running(
            pod.services,
            engine,
            home=home,
            prefix=name[:80],
            client_env=engine.client_env(os.environ),
            log=log,
        ) as network:
            command = engine.command(
                container["command"],
                image=container["image"],
                env=pod.main_env,
                workspace=workspace,
                home=home,
                workdir=workdir,
                container=name[:128],
                network=network,
            )
            code = _execute(command, env, cwd, log, deadline, processes, pod.masked)
    except ServiceFailed as exc:
        log.write(f"knargo: {exc}\n".encode())
        return Outcome("Error", str(exc))
    if code is None and engine.isolated:
        engine.remove(name[:128])
    if code == 0:
        return Outcome("Succeeded")
    return _failed(code, processes, "Error (exit code {})", "Failed")


# No prompt for credentials; the local repository is the forge, so a submodule's relative URL
# (`../lib.git`) is a `file://` URL here, which git refuses for submodules unless allowed.
_LOCAL_GIT = {"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh"}


def _failed(code: int | None, processes: Processes, text: str, phase: str) -> Outcome:
    if processes.stopped.is_set():
        return Outcome("Failed", "stopped: knargo was interrupted")
    if code is None:
        return Outcome("Failed", DEADLINE)
    return Outcome(phase, text.format(code))


def _local(path: str, workspace: Path) -> Path:
    """A path under /workspace in the pod, in the local workspace."""
    relative = path.removeprefix(jobpod.WORKSPACE).lstrip("/")
    return workspace / relative if relative else workspace


def _execute(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    log: IO[bytes],
    deadline: float,
    processes: Processes,
    masked: list[bytes],
) -> int | None:
    """The exit code, or None when the deadline passed (the process group is then ended)."""
    try:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, and no terminal to prompt on
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        path = env.get("PATH", "(unset)")
        raise CannotStart(f'cannot start "{command[0]}": {reason} (PATH={path})') from None
    processes.add(process)
    reader = threading.Thread(target=_copy, args=(process, log, masked), daemon=True)
    reader.start()
    try:
        code: int | None = process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = None
    finally:
        _end(process, grace=1.0)  # a container ends with its main process
        processes.discard(process)
    reader.join(timeout=5)
    if process.stdout is not None:
        process.stdout.close()
    return code


def _copy(process: subprocess.Popen[bytes], log: IO[bytes], masked: list[bytes]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        for value in masked:
            line = line.replace(value, b"***")
        log.write(line)
        log.flush()


def _end(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if wait:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=wait)
