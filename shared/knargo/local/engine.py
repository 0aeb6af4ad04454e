"""Where a job's main container runs: a local process (default) or a container engine.

With `local`, the container's command runs on this machine with its environment, in the
checkout (no image, no isolation). With `docker` or `podman`, it runs in the job's image with
the checkout mounted at `/workspace` and the decoded script at `/knargo`, as in the pod;
environment values are passed through the engine's process environment (`-e NAME`), never
on its command line. The checkout itself always runs locally (it needs `sh` and `git`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from knargo.translation import jobpod

__all__ = ["ENGINES", "Engine", "EngineUnavailable", "find_engine"]

ENGINES = ("local", "docker", "podman")
_CLIENT_ENV = (
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "CONTAINER_HOST",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
)


class EngineUnavailable(Exception):
    """The container engine asked for cannot run containers here (the message says why)."""


@dataclass(frozen=True)
class Engine:
    name: str
    binary: str | None = None

    @property
    def isolated(self) -> bool:
        return self.binary is not None

    def command(
        self,
        command: Sequence[str],
        *,
        image: str,
        env: Mapping[str, str],
        workspace: Path,
        home: Path,
        workdir: str,
        container: str,
        network: str | None = None,
    ) -> list[str]:
        """The command line that runs the main container (locally: its own command); with
        `network`, in the network of that container (the job's first service)."""
        if self.binary is None:
            return list(command)
        names = [part for name in env for part in ("-e", name)]
        shared = ["--network", f"container:{network}"] if network else []
        return [
            self.binary, "run", "--rm", "--name", container, *shared,
            "-v", f"{workspace}:{jobpod.WORKSPACE}", "-v", f"{home}:{jobpod.HOME}",
            "-w", workdir, *names, image, *command,
        ]  # fmt: skip

    def service(
        self,
        *,
        image: str,
        env: Mapping[str, str],
        mounts: Mapping[Path, str],
        container: str,
        network: str | None,
    ) -> list[str]:
        """The command line that starts a service's container in the background (in the
        network of `network`, the first service, so all share one `localhost`)."""
        assert self.binary is not None, "services need a container engine"
        names = [part for name in env for part in ("-e", name)]
        shared = ["--network", f"container:{network}"] if network else []
        volumes = [part for host, path in mounts.items() for part in ("-v", f"{host}:{path}")]
        return [
            self.binary, "run", "-d", "--rm", "--name", container, *shared,
            *volumes, *names, image,
        ]  # fmt: skip

    def exec(self, container: str, command: Sequence[str]) -> list[str]:
        """The command line that runs `command` in a running container (a postStart hook)."""
        assert self.binary is not None, "services need a container engine"
        return [self.binary, "exec", container, *command]

    def client_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """What the engine's client needs from the user's environment."""
        return {k: environ[k] for k in _CLIENT_ENV if k in environ}

    def remove(self, container: str) -> None:
        """Stop a container left running (e.g. when its deadline passed)."""
        if self.binary is not None:
            subprocess.run(
                [self.binary, "rm", "-f", container],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )


def find_engine(name: str) -> Engine:
    """The engine `name`, checked to work; raises EngineUnavailable with the reason."""
    if name == "local":
        return Engine("local")
    if name not in ENGINES:
        raise EngineUnavailable(f"unknown engine {name!r} (expected one of: {', '.join(ENGINES)})")
    binary = shutil.which(name)
    if binary is None:
        raise EngineUnavailable(f"--engine {name}: {name} is not installed (not on PATH)")
    try:
        answer = subprocess.run(
            [binary, "info", "--format", "{{.ID}}"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"--engine {name}: {name} does not answer ({exc})") from None
    if answer.returncode != 0:
        lines = answer.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = next((line for line in lines if line.strip()), f"exit code {answer.returncode}")
        raise EngineUnavailable(f"--engine {name}: {name} cannot run containers: {reason}")
    return Engine(name, binary)
