"""A job's `services:` as Argo sidecars, and the wait that makes the script start after them.

Every container of a pod shares its network, so a service listening on a port is on the
job's `localhost`. Argo starts sidecars beside the main container, not before it, so
readiness is signalled through the pod's `knargo` volume: a sidecar with a readiness
`command` mounts its `services/` directory (only that) at `READY_DIR`, and a `postStart`
hook runs the `command` (travelling base64-encoded, as scripts do: Argo would rewrite a `{{`
in it) with `sh`, `date` and `base64` until it succeeds or the service's timeout passes, then
creates the file named after the service. The job's script begins with one line
(`wait_line`) that waits for those files and fails the job naming the first service that is
not ready in time. A service without a `command` is ready once started: it gets neither hook
nor mount, so its image needs no shell (e.g. `nats`), and the job does not wait for it.

A sidecar gets only its own `env` and `secrets` (as `secretKeyRef`, withheld from forks'
pull requests like a job's), and a container that may not gain privileges under the
`RuntimeDefault` seccomp profile. Its capabilities are the image's: database images start
as root and switch to their own user, which needs `SETUID`/`SETGID`/`CHOWN`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from knargo.formats.durations import parse_duration
from knargo.language.dialect import Job, Service
from knargo.translation import jobpod, manifests

__all__ = ["READY_DIR", "READY_ENV", "sidecars", "wait_line", "with_wait"]

READY_DIR = "/knargo-services"
READY_ENV = "KNARGO_SERVICE_READY"
SUBDIRECTORY = "services"

_HOOK = """\
set -u
end=$(( $(date +%s) + {seconds} ))
check=$(printf '%s' "${{{env}:-}}" | base64 -d)
while [ -n "$check" ] && ! sh -c "$check" >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$end" ] || exit 1
  sleep 1
done
touch {ready}/{name}
"""

SecretEnv = Callable[[str, str], manifests.EnvVar]


def sidecars(job: Job, secret_env: SecretEnv, fork: bool) -> list[manifests.Sidecar]:
    """The job's services as sidecars, in the order written."""
    return [_sidecar(name, s, secret_env, fork) for name, s in job.services.items()]


def _sidecar(name: str, service: Service, secret_env: SecretEnv, fork: bool) -> manifests.Sidecar:
    env: list[manifests.EnvVar] = [{"name": k, "value": v} for k, v in service.env.items()]
    if service.command:
        env.append({"name": READY_ENV, "value": jobpod.encode(service.command)})
    if not fork:
        env += [secret_env(e, n) for e, n in service.secrets.items()]
    hook = _HOOK.format(
        seconds=parse_duration(service.timeout), env=READY_ENV, ready=READY_DIR, name=name
    )
    sidecar: dict[str, Any] = {"name": name, "image": service.image}
    if env:
        sidecar["env"] = env
    if service.ports:
        sidecar["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in service.ports]
    if service.command:  # without one it is ready once started: no hook, no shell needed
        mount = {"name": "knargo", "mountPath": READY_DIR, "subPath": SUBDIRECTORY}
        sidecar["volumeMounts"] = [mount]
        sidecar["lifecycle"] = {"postStart": {"exec": {"command": ["sh", "-c", hook]}}}
    sidecar["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return cast(manifests.Sidecar, sidecar)


def _checked(job: Job) -> dict[str, Service]:
    """The job's services with a readiness `command` (the others are ready once started)."""
    return {name: s for name, s in job.services.items() if s.command}


def wait_line(job: Job) -> str:
    """One line of sh waiting for the ready file of every service with a `command`, each
    within its timeout from the script's start; a service not ready in time fails the job
    with its name."""
    waits = " ".join(f"{name}:{parse_duration(s.timeout)}" for name, s in _checked(job).items())
    return (
        f"knargo_t0=$(date +%s); for knargo_s in {waits}; do "
        "knargo_n=${knargo_s%:*}; "
        'while [ ! -e "$KNARGO_HOME/' + SUBDIRECTORY + '/$knargo_n" ]; do '
        'if [ $(( $(date +%s) - knargo_t0 )) -ge "${knargo_s#*:}" ]; then '
        'echo "knargo: service \\"$knargo_n\\" is not ready after ${knargo_s#*:}s" >&2; '
        "exit 1; fi; "
        "sleep 1; done; done; unset knargo_t0 knargo_s knargo_n\n"
    )


def with_wait(job: Job) -> str:
    """The script the job's container runs: the user's, after the services' wait."""
    return wait_line(job) + job.run if _checked(job) else job.run
