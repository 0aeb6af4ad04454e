"""The job command of a job that reads secrets, run with `sh` as the pod runs it: its output
goes through the filter that masks the values of its secret variables, line by line, and its
exit status is the script's.

Each test renders a pipeline, takes the job's container as Argo would run it
(`templateDefaults` merged in), and runs its command in a directory standing in for the pod's
`/workspace` and `/knargo` volumes, with the secret values in its environment as Kubernetes
puts them there from the Secrets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from knargo.translation import jobpod
from test_artifacts_shell import _container
from test_local_kit import execute, make_repo

TOKEN = "tok-3f9a-secret"
KEY = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----\n"


def _job(run: str, extra: str = "", shell: str = "") -> str:
    indented = "".join(f"      {line}\n" for line in run.splitlines())
    text = "jobs:\n  build:\n    image: alpine\n    secrets: [TOKEN, KEY]\n" + extra
    if shell:
        text += f"    shell: {shell}\n"
    return text + "    run: |\n" + indented


def _popen(
    container: Mapping[str, Any],
    pod: Path,
    secrets: Mapping[str, str],
    path: str = "",
    new_group: bool = False,
) -> subprocess.Popen[str]:
    home, workspace = pod / "knargo", pod / "workspace"
    home.mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    if container["env_file"]:
        (home / "env").write_bytes(container["env_file"])
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {"PATH": path or os.environ["PATH"], "KNARGO_HOME": str(home), **secrets}
    return subprocess.Popen(
        container["command"],
        env=env,
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0 if new_group else None,  # as Argo's executor starts it
    )


def _run(
    run: str,
    pod: Path,
    secrets: Mapping[str, str] | None = None,
    path: str = "",
    extra: str = "",
    shell: str = "",
) -> tuple[int, str, str]:
    """The job `build` running `run`: its status, stdout and stderr."""
    container = _container(_job("true", extra, shell))
    (pod / "knargo").mkdir(parents=True, exist_ok=True)
    (pod / "knargo" / "script").write_text(run + "\n")
    given = {"TOKEN": TOKEN, "KEY": KEY} if secrets is None else secrets
    process = _popen(container, pod, given, path)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


PRINTS = """\
echo "plain: $TOKEN."
echo "twice: $TOKEN$TOKEN"
printf 'split: %s' "$(printf '%s' "$TOKEN" | cut -c1-5)"
sleep 0.1
printf '%s\\n' "$(printf '%s' "$TOKEN" | cut -c6-)"
echo "on stderr: $TOKEN" >&2
printf '%s\\n' "$KEY"
echo "second line alone: $(printf '%s\\n' "$KEY" | sed -n 2p)" >&2
echo "not a regex: tok-3f9a-secreX tokX3f9a-secret"
"""


@pytest.mark.parametrize("code", [0, 1, 42])
def test_secret_values_are_masked_on_stdout_and_stderr_and_the_status_is_kept(
    tmp_path: Path, code: int
) -> None:
    status, out, err = _run(PRINTS + f"exit {code}", tmp_path)
    assert status == code
    assert out == (
        "plain: ***.\n"
        "twice: ******\n"
        "split: ***\n"
        "***\n***\n***\n***\n\n"  # every line of the value (which ends with a newline)
        "not a regex: tok-3f9a-secreX tokX3f9a-secret\n"
    )
    assert err == "on stderr: ***\nsecond line alone: ***\n"


def test_a_failing_command_under_set_e_keeps_its_status(tmp_path: Path) -> None:
    status, out, _ = _run('echo "$TOKEN"\nfalse\necho never', tmp_path)
    assert (status, out) == (1, "***\n")


def test_a_bash_jobs_pipefail_status_is_kept(tmp_path: Path) -> None:
    status, out, _ = _run('echo "$TOKEN" | cat\nexit 3 | cat\necho never', tmp_path, shell="bash")
    assert (status, out) == (3, "***\n")


def test_a_last_line_without_newline_is_masked_and_kept_as_is(tmp_path: Path) -> None:
    status, out, _ = _run('printf "end: %s" "$TOKEN"', tmp_path)
    assert (status, out) == (0, "end: ***")


def test_values_shorter_than_four_characters_are_not_masked(tmp_path: Path) -> None:
    secrets = {"TOKEN": "abc", "KEY": "abcd"}
    status, out, _ = _run('echo "$TOKEN $KEY"', tmp_path, secrets)
    assert jobpod.MIN_MASKED == 4
    assert (status, out) == (0, "abc ***\n")


def test_output_streams_line_by_line(tmp_path: Path) -> None:
    """The script waits for the test to have read its first line: a filter that held it back
    would make the script give up (status 3)."""
    go = tmp_path / "go"
    script = f"""\
echo "first $TOKEN"
i=0
while [ ! -f {go} ]; do
  i=$((i + 1)); [ "$i" -lt 200 ] || exit 3
  sleep 0.05
done
echo "second $TOKEN"
"""
    container = _container(_job("true"))
    (tmp_path / "knargo").mkdir()
    (tmp_path / "knargo" / "script").write_text(script)
    process = _popen(container, tmp_path, {"TOKEN": TOKEN, "KEY": KEY})
    assert process.stdout is not None
    assert process.stdout.readline() == "first ***\n"
    go.touch()
    rest, _ = process.communicate(timeout=30)
    assert (process.returncode, rest) == (0, "second ***\n")


def test_a_process_left_running_does_not_keep_the_job_alive(tmp_path: Path) -> None:
    started = time.monotonic()
    status, out, _ = _run('(sleep 20; echo "late $TOKEN") &\necho "done $TOKEN"', tmp_path)
    assert (status, out) == (0, "done ***\n")
    assert time.monotonic() - started < 15


def test_an_image_without_awk_fails_the_job_instead_of_leaking(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sh = subprocess.run(["sh", "-c", "command -v sh"], capture_output=True, text=True)
    (bin_dir / "sh").symlink_to(sh.stdout.strip())
    status, out, err = _run('echo "$TOKEN"', tmp_path / "pod", path=str(bin_dir))
    assert (status, out) == (127, "")
    assert "no awk to mask" in err


def test_a_job_with_files_masks_and_keeps_the_status(tmp_path: Path) -> None:
    status, out, _ = _run(
        'echo "$TOKEN"\nexit 42', tmp_path, extra="    cache: {key: k, paths: [x]}\n"
    )
    assert status == 42
    assert "***\n" in out and TOKEN not in out


def test_the_names_reach_the_command_and_no_value_does() -> None:
    container = _container(_job("true"))
    env = {e["name"]: e for e in container["env"]}
    assert env[jobpod.MASKED] == {"name": jobpod.MASKED, "value": "TOKEN KEY"}
    assert container["command"] == jobpod.main_command("sh", masked=True)


def test_a_job_without_secrets_runs_the_command_it_always_ran() -> None:
    container = _container("jobs:\n  build:\n    image: alpine\n    run: make\n")
    assert container["command"] == jobpod.main_command("sh")
    assert "awk" not in container["command"][2]
    assert jobpod.MASKED not in {e["name"] for e in container["env"]}


def test_a_fork_whose_secrets_are_withheld_runs_the_usual_command() -> None:
    fork = {"kind": "pull_request", "pr_number": 7, "fork": True, "ref": "refs/pull/7/head"}
    container = _container(_job("true"), **fork)
    assert container["command"] == jobpod.main_command("sh")
    assert jobpod.MASKED not in {e["name"] for e in container["env"]}


def test_a_local_run_masks_each_line_of_a_multi_line_value(tmp_path: Path) -> None:
    """The local layer masks whole values; a line of the value printed alone is masked by the
    job's command, as in a pod."""
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    ci = _job('printf "%s\\n" "$KEY" | sed -n 3p\necho "token $TOKEN"\nexit 1')
    ran = execute(repo, ci, tmp_path, secrets={"TOKEN": TOKEN, "KEY": KEY})
    log = ran.log("build")
    assert "AQEFAASCBKcwggSjAgEAAoIB" not in log and TOKEN not in log
    assert "***\n" in log and "token ***" in log
    assert ran.workflow["status"]["phase"] == "Failed"


def test_a_stopped_job_keeps_what_its_script_prints_on_sigterm_and_its_status(
    tmp_path: Path,
) -> None:
    """Argo's executor forwards SIGTERM (a deadline, a stopped Workflow) to the command's whole
    process group: the script gets it as before, and the filters keep masking what it prints
    as it stops, its status the job's."""
    script = """\
trap 'echo "stopping with $TOKEN"; exit 5' TERM
echo "started $TOKEN"
while :; do sleep 0.05; done
"""
    container = _container(_job("true"))
    (tmp_path / "knargo").mkdir()
    (tmp_path / "knargo" / "script").write_text(script)
    process = _popen(container, tmp_path, {"TOKEN": TOKEN, "KEY": KEY}, new_group=True)
    assert process.stdout is not None
    assert process.stdout.readline() == "started ***\n"
    os.killpg(process.pid, signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    assert (process.returncode, rest) == (5, "stopping with ***\n")
