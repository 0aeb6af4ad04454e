"""A job's services on this machine: the template's sidecars as containers of an engine.

As in the pod, every service shares one network with the job (`localhost`): the first
service's container holds it and the others, and the job's container, join it. Each service
gets its own env (secrets resolved like the job's) and the job's `services/` directory at
the sidecar's mount; its `postStart` hook (a service with a readiness `command` has one) is
then run in it with `exec`, one service after the other, beside the job, as the kubelet does.
The script's first line waits for their ready files, so a service that is never ready fails
the job with its name; a service without a hook is ready once started. Without a
container engine a job with services cannot run: it fails at once saying how to run it.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from knargo.local.engine import Engine

__all__ = ["Service", "ServiceFailed", "from_template", "refusal", "running"]


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    env: dict[str, str]
    mounts: dict[str, str]
    """Mount path in the container → the sub-path of the `knargo` volume."""
    hook: list[str]


class ServiceFailed(Exception):
    """A service's container could not be started (the message names it)."""


def from_template(template: Mapping[str, Any], env: Mapping[str, dict[str, str]]) -> list[Service]:
    """The template's sidecars, with `env` (by sidecar name) already resolved."""
    found = []
    for sidecar in template.get("sidecars") or []:
        mounts = {m["mountPath"]: m.get("subPath", "") for m in sidecar.get("volumeMounts", [])}
        hook = sidecar.get("lifecycle", {}).get("postStart", {}).get("exec", {}).get("command")
        found.append(
            Service(sidecar["name"], sidecar["image"], env[sidecar["name"]], mounts, hook or [])
        )
    return found


def refusal(services: list[Service], engine: Engine) -> str | None:
    """Why the job cannot run here, or None."""
    if not services or engine.isolated:
        return None
    names = ", ".join(s.name for s in services)
    return (
        f"the job has services ({names}), which run as containers: run it with a container "
        "engine, --engine docker (or --engine podman), e.g. knargo run --engine docker"
    )


@contextmanager
def running(
    services: list[Service],
    engine: Engine,
    *,
    home: Path,
    prefix: str,
    client_env: Mapping[str, str],
    log: IO[bytes],
) -> Iterator[str | None]:
    """Start the services; yields the container whose network the job joins (None without
    services), and removes them all afterwards."""
    started: list[str] = []
    hooks: list[tuple[str, list[str]]] = []
    try:
        for service in services:
            container = f"{prefix}-{service.name}"[:128]
            mounts = {home / sub: path for path, sub in service.mounts.items()}
            for host in mounts:
                host.mkdir(parents=True, exist_ok=True)
            command = engine.service(
                image=service.image,
                env=service.env,
                mounts=mounts,
                container=container,
                network=started[0] if started else None,
            )
            log.write(f"knargo: starting service {service.name} ({service.image})\n".encode())
            answer = subprocess.run(
                command,
                env=dict(client_env) | service.env,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=300,
                check=False,
            )
            if answer.returncode != 0:
                lines = answer.stderr.decode("utf-8", "replace").strip().splitlines()
                reason = lines[-1] if lines else f"exit code {answer.returncode}"
                raise ServiceFailed(f'service "{service.name}" did not start: {reason}')
            started.append(container)
            if service.hook:
                hooks.append((container, engine.exec(container, service.hook)))
        thread = threading.Thread(target=_hooks, args=(hooks, client_env), daemon=True)
        thread.start()
        yield started[0] if started else None
    finally:
        for container in reversed(started):
            engine.remove(container)


def _hooks(hooks: list[tuple[str, list[str]]], client_env: Mapping[str, str]) -> None:
    """Each service's postStart hook, in order; a failed one leaves the service unready."""
    for _, command in hooks:
        subprocess.run(
            command,
            env=dict(client_env),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=3600,
            check=False,
        )
