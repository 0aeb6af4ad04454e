"""`services:` in the cluster: the sidecars, their readiness hook, and the script's wait.

The hook and the wait line are run here with `sh` against a directory standing in for the
pod's `knargo` volume, as the kubelet and the job's container would run them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from knargo.cli.explain import explain
from knargo.config.settings import Settings
from knargo.language.dialect import Job
from knargo.language.lint import check
from knargo.translation import services
from knargo.translation.plan import plan
from test_matrix import EVENT

CI = """\
jobs:
  test:
    image: python:3.12
    run: pytest
    secrets: [TOKEN]
    services:
      db:
        image: postgres:16
        env: {POSTGRES_DB: ci}
        secrets: {POSTGRES_PASSWORD: DB_PASSWORD}
        ports: [5432]
        command: test -e "$MARKER" && echo '{{ not templated }}'
        timeout: 3s
      cache: redis:7
"""


def _sidecars() -> list[dict[str, Any]]:
    checked = check(CI)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, EVENT, Settings.embedded())
    assert result.workflow is not None
    spec: Any = result.workflow["spec"]
    return list(spec["templates"][1]["sidecars"])


def test_a_service_gets_its_own_env_and_declared_secrets_only() -> None:
    db, cache = _sidecars()
    assert [e["name"] for e in db["env"]] == [
        "POSTGRES_DB",
        services.READY_ENV,
        "POSTGRES_PASSWORD",
    ]
    assert db["env"][2]["valueFrom"]["secretKeyRef"]["key"] == "value"
    assert "env" not in cache  # neither the job's TOKEN nor another service's secret
    # without a readiness `command`: no hook, which would need a shell in its image
    assert "lifecycle" not in cache and "volumeMounts" not in cache
    assert db["ports"] == [{"containerPort": 5432, "protocol": "TCP"}]
    assert db["volumeMounts"] == [
        {"name": "knargo", "mountPath": services.READY_DIR, "subPath": "services"}
    ]
    assert "{{" not in str(db)  # the readiness check travels encoded


def _hook(sidecar: dict[str, Any], volume: Path, env: dict[str, str]) -> int:
    command = sidecar["lifecycle"]["postStart"]["exec"]["command"]
    values = {e["name"]: e["value"] for e in sidecar.get("env", []) if "value" in e}
    script = command[2].replace(services.READY_DIR, str(volume / "services"))
    (volume / "services").mkdir(parents=True, exist_ok=True)
    answer = subprocess.run(
        [*command[:2], script], env=values | env, capture_output=True, timeout=30, check=False
    )
    return answer.returncode


def test_the_hook_marks_a_service_ready_once_its_check_passes(tmp_path: Path) -> None:
    db, _ = _sidecars()
    marker = tmp_path / "up"
    marker.touch()
    assert _hook(db, tmp_path, {"MARKER": str(marker), "PATH": "/usr/bin:/bin"}) == 0
    assert sorted(p.name for p in (tmp_path / "services").iterdir()) == ["db"]


def test_a_service_whose_check_never_passes_is_never_marked(tmp_path: Path) -> None:
    db, _ = _sidecars()
    started = time.monotonic()
    assert _hook(db, tmp_path, {"MARKER": str(tmp_path / "never"), "PATH": "/usr/bin:/bin"}) == 1
    assert 2 <= time.monotonic() - started < 10
    assert not (tmp_path / "services" / "db").exists()


def test_the_script_waits_for_every_service_and_names_the_one_not_ready(tmp_path: Path) -> None:
    job = Job.model_validate(
        {"image": "a", "run": "echo ran", "services": {
            "db": {"image": "p", "timeout": "1s", "command": "true"},
            "queue": {"image": "q", "command": "true"}, "cache": "r"}}
    )  # fmt: skip
    script = tmp_path / "script"
    script.write_text(services.with_wait(job))
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "queue").touch()  # `cache` (no `command`) is ready once started
    env = {"KNARGO_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    failed = subprocess.run(["sh", "-e", str(script)], env=env, capture_output=True, check=False)
    assert failed.returncode == 1
    assert failed.stderr == b'knargo: service "db" is not ready after 1s\n'
    assert b"ran" not in failed.stdout
    (tmp_path / "services" / "db").touch()
    ran = subprocess.run(["sh", "-e", str(script)], env=env, capture_output=True, check=False)
    assert (ran.returncode, ran.stdout) == (0, b"ran\n")


def test_render_explain_shows_services_and_their_readiness_check() -> None:
    checked = check(CI)
    assert checked.config is not None
    manifests = plan(checked.config, EVENT, Settings.embedded()).manifests
    text = explain(manifests)
    assert "    service db: image postg" in text
    assert "      ready when: test -e \"$MARKER\" && echo '{{ not templated }}'\n" in text
    assert "    service cache: image redis:7, ports none\n      ready when: started\n" in text
    assert "POSTGRES_PASSWORD=<Secret " in text


def test_services_without_a_readiness_command_are_not_waited_for() -> None:
    job = Job.model_validate(
        {"image": "a", "run": "echo ran", "services": {"nats": "nats:2.10", "cache": "redis:7"}}
    )
    assert services.with_wait(job) == "echo ran"
