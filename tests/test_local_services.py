"""`knargo run` with matrix jobs and services, end to end on this machine.

No container engine is installed here, so services run through a fake `docker` on PATH that
does what the engine would with the command lines knargo gives it: `run -d` records a
service (its env and mounts), `exec` runs a command "in" it (a postStart hook), `run --rm`
runs the job's command with its mounts mapped to their host directories, and `rm -f` forgets.
Every call is appended to a log the tests read.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from test_local_kit import make_repo
from test_local_run import knargo, statuses

FAKE_DOCKER = r"""#!{python}
import json, os, subprocess, sys
from pathlib import Path

state = Path({state!r})
state.mkdir(exist_ok=True)
args = sys.argv[1:]
with (state / "calls.jsonl").open("a") as f:
    f.write(json.dumps(args) + "\n")


def options(args):
    found = {{"-e": [], "-v": []}}
    i = 0
    while args[i].startswith("-"):
        if args[i] in ("-d", "--rm"):
            found[args[i]] = True
            i += 1
        else:
            found.setdefault(args[i], [])
            if isinstance(found[args[i]], list):
                found[args[i]].append(args[i + 1])
            i += 2
    return found, args[i], args[i + 1 :]


def mapped(text, mounts):
    for host, inside in sorted(mounts.items(), key=lambda m: -len(m[1])):
        text = text.replace(inside, host)
    return text


if args[0] == "info":
    print("fake-engine")
elif args[0] == "run":
    found, image, command = options(args[1:])
    mounts = dict(v.split(":", 1) for v in found["-v"])
    env = {{n: os.environ.get(n, "") for n in found["-e"]}}
    name = found["--name"][0]
    if found.get("-d"):
        (state / f"{{name}}.json").write_text(json.dumps({{"env": env, "mounts": mounts}}))
        print(name)
        sys.exit(0)
    env = {{k: mapped(v, mounts) for k, v in env.items()}} | {{"PATH": os.defpath}}
    cwd = mapped(found["-w"][0], mounts)
    sys.exit(subprocess.run(command, env=env, cwd=cwd).returncode)
elif args[0] == "exec":
    service = json.loads((state / f"{{args[1]}}.json").read_text())
    command = [mapped(part, service["mounts"]) for part in args[2:]]
    env = service["env"] | {{"PATH": os.defpath}}
    sys.exit(subprocess.run(command, env=env).returncode)
elif args[0] == "rm":
    (state / f"{{args[-1]}}.json").unlink(missing_ok=True)
"""

CI = """\
jobs:
  test:
    image: python:${{ matrix.python }}
    run: |
      echo "python $MATRIX_PYTHON on $MATRIX_OS, db at $DATABASE_URL"
      ls "$KNARGO_HOME/services"
    env:
      DATABASE_URL: postgres://localhost/${{ matrix.os }}
    matrix:
      python: [3.12, "3.13"]
      os: [debian]
    services:
      db:
        image: postgres:16
        env: {POSTGRES_DB: ci}
        secrets: {POSTGRES_PASSWORD: DB_PASSWORD}
        ports: [5432]
        command: test -n "$POSTGRES_PASSWORD"
        timeout: 20s
      cache: redis:7
  report:
    needs: test
    image: alpine
    run: echo all combinations passed
"""
PASSWORD = "s3cret-password"


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "engine"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(FAKE_DOCKER.format(python=sys.executable, state=str(state)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    return state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def test_a_matrix_with_services_runs_each_combination_after_its_services_are_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = fake_docker(tmp_path, monkeypatch)
    repo = make_repo(tmp_path / "repo", {"ci.yaml": CI}, secrets=f"DB_PASSWORD={PASSWORD}\n")
    code, out, err = knargo(capsys, "run", "-C", str(repo), "--engine", "docker")
    assert (code, err) == (0, ""), out
    assert statuses(repo) == {
        "knargo": "success",
        "knargo/test (3.12, debian)": "success",
        "knargo/test (3.13, debian)": "success",
        "knargo/report": "success",
    }
    logs = sorted((repo / ".knargo" / "runs").glob("*/test-3-1*/log"))
    assert [log.parent.name for log in logs] == ["test-3-12-debian", "test-3-13-debian"]
    text = logs[0].read_text()
    assert "python 3.12 on debian, db at postgres://localhost/debian" in text
    assert "knargo: starting service db (postgres:16)" in text
    # db's ready file, before the script ran; cache (no `command`) is ready once started
    assert re.search(r"postgres://localhost/debian\ndb\n", text), text
    made = calls(state)
    services = [c for c in made if c[:2] == ["run", "-d"]]
    named = {c[c.index("--name") + 1]: c for c in services}
    assert sorted(c[-1] for c in services) == ["postgres:16"] * 2 + ["redis:7"] * 2
    first = next(n for n in named if "test-3-12-debian" in n and n.endswith("-db"))
    cache = named[first.removesuffix("-db") + "-cache"]
    assert cache[cache.index("--network") + 1] == f"container:{first}"
    assert "--network" not in named[first]
    assert "POSTGRES_PASSWORD" in named[first]  # declared by the service: passed by name
    assert "POSTGRES_PASSWORD" not in cache  # never another service's, nor the job's
    hooked = sorted(c[1].rsplit("-", 1)[1] for c in made if c[0] == "exec")
    assert hooked == ["db", "db"]  # no hook in cache: its image needs no shell
    assert "DATABASE_URL" not in named[first]
    jobs = [c for c in made if c[:2] == ["run", "--rm"] and "python:3.12" in c]
    assert jobs[0][jobs[0].index("--network") + 1] == f"container:{first}"
    assert PASSWORD not in json.dumps(made)  # values travel in the environment only
    assert ["rm", "-f", first] in made
    assert PASSWORD not in out + text


def test_a_service_never_ready_fails_its_job_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, monkeypatch)
    ci = CI.replace('test -n "$POSTGRES_PASSWORD"', "exit 1").replace("20s", "2s")
    ci = ci.replace('[3.12, "3.13"]', "[3.12]")
    repo = make_repo(tmp_path / "repo", {"ci.yaml": ci}, secrets=f"DB_PASSWORD={PASSWORD}\n")
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--engine", "docker")
    assert code == 1, out
    assert statuses(repo)["knargo/test (3.12, debian)"] == "failure", out
    assert statuses(repo)["knargo/report"] == "skipped"
    log = next((repo / ".knargo" / "runs").glob("*/test-3-12-debian/log")).read_text()
    assert 'knargo: service "db" is not ready after 2s' in log
    assert "python 3.12" not in log


def test_without_an_engine_a_job_with_services_is_refused_saying_how_to_run_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"ci.yaml": CI}, secrets=f"DB_PASSWORD={PASSWORD}\n")
    code, out, _ = knargo(capsys, "run", "-C", str(repo))
    assert code == 1
    assert (
        "the job has services (db, cache), which run as containers: run it with a container "
        "engine, --engine docker (or --engine podman), e.g. knargo run --engine docker"
    ) in out
    assert statuses(repo)["knargo/test (3.13, debian)"] == "error"


PLAIN = """\
jobs:
  test:
    image: alpine
    run: echo "$KNARGO_JOB on $MATRIX_SHELL"
    matrix:
      shell: [sh, dash]
  lint:
    image: alpine
    run: "true"
  report:
    needs: test
    image: alpine
    run: echo done
"""


def test_run_job_by_its_id_runs_every_combination_and_one_by_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"ci.yaml": PLAIN})
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "report")
    assert code == 0, out
    assert statuses(repo) == {
        "knargo": "success",
        "knargo/test (sh)": "success",
        "knargo/test (dash)": "success",
        "knargo/report": "success",
    }
    log = next((repo / ".knargo" / "runs").glob("*/test-dash/log")).read_text()
    assert "test on dash" in log
    repo = make_repo(tmp_path / "other", {"ci.yaml": PLAIN})
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "test")
    assert code == 0, out
    assert set(statuses(repo)) == {"knargo", "knargo/test (sh)", "knargo/test (dash)"}
    repo = make_repo(tmp_path / "one", {"ci.yaml": PLAIN})
    code, out, _ = knargo(capsys, "run", "-C", str(repo), "--job", "test (dash)")
    assert code == 0, out
    assert set(statuses(repo)) == {"knargo", "knargo/test (dash)"}
