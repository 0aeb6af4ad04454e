"""The knargo command line: outputs, streams and exit codes (DESIGN §8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from knargo import __version__
from knargo.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ci.yaml"
CONFIG = ROOT / "examples" / "config.yaml"
CATALOG = ROOT / "examples" / "catalog.yaml"
Capture = pytest.CaptureFixture[str]


def knargo(capsys: Capture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ci.yaml"
    path.write_text(text)
    return str(path)


def test_render_prints_only_manifests_on_stdout(capsys: Capture) -> None:
    code, out, err = knargo(
        capsys, "render", str(EXAMPLE), "--config", str(CONFIG), "--catalog", str(CATALOG)
    )
    assert code == 0
    kinds = [doc["kind"] for doc in yaml.safe_load_all(out)]
    assert kinds == ["Workflow", "CronWorkflow"]  # a push to the default branch
    assert "note:" in err and "left out by if" in err  # publish runs on tags only


def test_render_json_is_one_list(capsys: Capture) -> None:
    code, out, _ = knargo(capsys, "render", str(EXAMPLE), "--event", "tag", "-o", "json")
    assert code == 0
    manifests = json.loads(out)
    assert [m["kind"] for m in manifests] == ["Workflow"]
    tasks = manifests[0]["spec"]["templates"][0]["dag"]["tasks"]
    assert [t["name"] for t in tasks] == ["build", "test", "lint", "publish"]


def test_render_schedule_emits_only_cron_workflows(capsys: Capture) -> None:
    code, out, _ = knargo(capsys, "render", str(EXAMPLE), "--event", "schedule")
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["CronWorkflow"]
    assert docs[0]["spec"]["schedules"] == ["0 3 * * 1-5"]
    assert docs[0]["spec"]["timezone"] == "Europe/Berlin"


def test_render_filtered_event_prints_nothing_and_says_why(capsys: Capture) -> None:
    code, out, err = knargo(capsys, "render", str(EXAMPLE), "--ref", "refs/heads/wip")
    assert (code, out) == (0, "")
    assert 'branch "wip" does not match on.push.branches' in err


def test_render_path_filters(tmp_path: Path, capsys: Capture) -> None:
    path = write(
        tmp_path, "on:\n  push:\n    paths: ['src/**']\njobs:\n  a: {image: alpine, run: x}\n"
    )
    code, out, err = knargo(capsys, "render", path)
    assert code == 0 and out and "paths counted as matched" in err
    code, out, err = knargo(capsys, "render", path, "--changed-path", "README.md")
    assert (code, out) == (0, "") and "no changed path matches" in err
    code, out, _ = knargo(capsys, "render", path, "--changed-path", "src/a.py")
    assert code == 0 and out


def test_render_fork_pull_request_has_no_secrets(capsys: Capture) -> None:
    code, out, _err = knargo(
        capsys, "render", str(EXAMPLE), "--event", "pull_request", "--fork", "-o", "json"
    )
    assert code == 0
    assert "secretKeyRef" not in out


def test_render_invalid_file_exits_1_with_diagnostics_on_stderr(
    tmp_path: Path, capsys: Capture
) -> None:
    path = write(tmp_path, "jobs:\n  a:\n    imagee: x\n    run: y\n")
    code, out, err = knargo(capsys, "render", path)
    assert (code, out) == (1, "")
    assert f"{path}:3:5: error: unknown key" in err


@pytest.mark.parametrize(
    "args",
    [
        ["render"],
        ["render", "x.yaml", "--event", "merge"],
        ["render", "x.yaml", "--fork"],
        ["render", "x.yaml", "--repo", "justone"],
        ["render", "x.yaml", "--repo", "unknown.example/a/b"],
        ["render", "x.yaml", "--sha", "xyz; rm -rf /"],
        ["render", "x.yaml", "--sha", "abc123"],
        ["render", "x.yaml", "--ref", "refs/heads/a b"],
        ["render", "x.yaml", "--ref", "refs/heads/a..b"],
        ["render", "x.yaml", "--ref", "refs/heads/x.lock"],
        ["render", "x.yaml", "--default-branch", "ma~in"],
        ["render", "x.yaml", "--repo", "owner/na me"],
        ["render", "x.yaml", "--repo", "evil host/a/b"],
        ["render", "x.yaml", "--changed-path", "../etc/passwd"],
        ["render", "x.yaml", "--changed-path", "a\nb"],
        ["lint"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(
    args: list[str], tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text("jobs:\n  a: {image: alpine, run: x}\n")
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["render", "lint"])
def test_a_missing_file_is_a_usage_error(command: str, capsys: Capture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "/nonexistent/ci.yaml"])
    assert exit_.value.code == 2
    assert (
        capsys.readouterr().err == f"knargo {command}: error: /nonexistent/ci.yaml: no such file\n"
    )


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path, capsys: Capture) -> None:
    path = tmp_path / "ci.yaml"
    path.write_bytes(b"jobs: \xff\n")
    code, out, err = knargo(capsys, "render", str(path))
    assert code == 1 and f"{path}:1:1: error: cannot read: not UTF-8 text [io]" in err
    code, out, _ = knargo(capsys, "lint", str(path))
    assert code == 1 and "cannot read: not UTF-8 text" in out


def test_lint_reads_standard_input(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("jobs:\n  a: {image: alpine, runn: x}\n"))
    code, out, _ = knargo(capsys, "lint", "-")
    assert code == 1 and '-:2:22: error: unknown key "runn"' in out


def test_invalid_config_is_reported_with_its_position(tmp_path: Path, capsys: Capture) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("forges: []\nnamespace: 3\n")
    code, _, err = knargo(capsys, "render", str(EXAMPLE), "--config", str(config))
    assert code == 1
    assert f"{config}:1:9: error:" in err and f"{config}:2:12: error:" in err


def test_lint_clean_file_prints_nothing(capsys: Capture) -> None:
    assert knargo(capsys, "lint", str(EXAMPLE)) == (0, "", "")


def test_lint_json_and_several_files(tmp_path: Path, capsys: Capture) -> None:
    bad = write(tmp_path, "jobs:\n  a:\n    image: x\n    run: y\n    needs: b\n")
    code, out, _ = knargo(capsys, "lint", str(EXAMPLE), bad, "--format", "json")
    assert code == 1
    assert json.loads(out) == [
        {
            "file": bad,
            "line": 5,
            "col": 12,
            "severity": "error",
            "rule": "needs",
            "message": 'job "a" needs unknown job "b" (jobs: a)',
        }
    ]


def test_lint_warnings_do_not_fail(tmp_path: Path, capsys: Capture) -> None:
    path = write(
        tmp_path, "on:\n  schedule: [{cron: '0 0 30 2 *'}]\njobs:\n  a: {image: alpine, run: x}\n"
    )
    code, out, _ = knargo(capsys, "lint", path)
    assert code == 0 and "warning: schedule" in out


def test_lint_secrets_need_catalog_and_repo(tmp_path: Path, capsys: Capture) -> None:
    path = write(tmp_path, "jobs:\n  a: {image: alpine, run: x, secrets: [NOPE]}\n")
    assert knargo(capsys, "lint", path, "--catalog", str(CATALOG))[0] == 0
    code, out, _ = knargo(
        capsys, "lint", path, "--catalog", str(CATALOG), "--repo", "example/repository"
    )
    assert code == 1 and 'unknown secret "NOPE" for github.com/example/repository' in out


def test_schema_and_version(capsys: Capture) -> None:
    code, out, _ = knargo(capsys, "schema")
    assert code == 0 and json.loads(out)["title"] == "CiConfig"
    assert knargo(capsys, "version") == (0, f"knargo {__version__}\n", "")


def test_internal_errors_exit_3_without_a_traceback(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import knargo.language.lint as lint_module

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(lint_module, "check", broken)
    code, _out, err = knargo(capsys, "lint", str(EXAMPLE))
    assert code == 3
    assert "Traceback" not in err and "secret detail" not in err


def test_console_script_runs_as_a_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "knargo.cli", "render", str(EXAMPLE), "--event", "tag"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert next(yaml.safe_load_all(result.stdout))["kind"] == "Workflow"


def test_scripts_over_64_kib_are_rejected_with_their_position(
    tmp_path: Path, capsys: Capture
) -> None:
    script = "echo " + "x" * (64 * 1024) + "\n"
    path = write(tmp_path, f"jobs:\n  a:\n    image: alpine\n    run: {json.dumps(script)}\n")
    code, out, _ = knargo(capsys, "lint", path)
    assert code == 1
    assert f"{path}:4:10: error: the script is 65,542 bytes, over the limit of 65,536" in out


def test_pipelines_kubernetes_cannot_store_are_rejected(tmp_path: Path, capsys: Capture) -> None:
    jobs = "".join(f"  job{i}:\n    image: alpine\n    run: {'make ' * 1200}\n" for i in range(150))
    path = write(tmp_path, f"jobs:\n{jobs}")
    code, out, err = knargo(capsys, "render", path)
    assert (code, out) == (1, "")
    assert "error: the pipeline renders to a Workflow of 1.2 MiB, over the 1 MiB" in err
    assert "[size]" in err


def test_lint_reports_the_size_render_refuses(tmp_path: Path, capsys: Capture) -> None:
    jobs = "".join(f"  job{i}:\n    image: alpine\n    run: {'make ' * 1400}\n" for i in range(150))
    path = write(tmp_path, f"on: pull_request\njobs:\n{jobs}")
    code, out, _ = knargo(capsys, "lint", path)
    assert (code, out.splitlines()[0]) == (
        1,
        f"{path}:1:1: error: the pipeline renders to a Workflow of 1.4 MiB, over the 1 MiB "
        "Kubernetes can store; use fewer or smaller jobs (a pull request event) [size]",
    )


def test_render_accepts_full_commit_ids(tmp_path: Path, capsys: Capture) -> None:
    path = write(tmp_path, "jobs:\n  a: {image: alpine, run: x}\n")
    for sha in ("a" * 40, "0123456789abcdef" * 4):
        code, out, _ = knargo(capsys, "render", path, "--sha", sha.upper(), "-o", "json")
        assert code == 0 and json.loads(out)[0]["metadata"]["annotations"]["knargo.dev/sha"] == sha


def test_render_json_prints_an_empty_list_when_nothing_runs(
    tmp_path: Path, capsys: Capture
) -> None:
    path = write(tmp_path, "on: {push: {branches: [main]}}\njobs:\n  a: {image: alpine, run: x}\n")
    code, out, err = knargo(capsys, "render", path, "--ref", "refs/heads/wip", "-o", "json")
    assert (code, json.loads(out)) == (0, []) and "nothing to run" in err


def test_render_explain_shows_each_jobs_decoded_script_and_env(
    tmp_path: Path, capsys: Capture
) -> None:
    path = write(
        tmp_path,
        "jobs:\n  build_x:\n    image: alpine\n    env: {PLAIN: one, TEMPLATED: 'a {{b}} c'}\n"
        '    secrets: [NPM_TOKEN]\n    run: |\n      echo "{{ not argo }}"\n      make\n',
    )
    code, out, _ = knargo(capsys, "render", path, "--explain")
    manifest = json.loads(knargo(capsys, "render", path, "-o", "json")[1])[0]
    template = manifest["spec"]["templates"][1]["name"]
    assert code == 0 and template != "build_x"
    lines = out.splitlines()
    assert lines[0] == f"Workflow {manifest['metadata']['name']}"
    assert f"  job build_x: template {template}, image alpine" in lines
    assert "      PLAIN=one" in lines
    assert any(line.startswith("      NPM_TOKEN=<Secret knargo-") for line in lines)
    assert "      export TEMPLATED='a {{b}} c'" in lines
    assert lines[-3:] == ["    script:", '      | echo "{{ not argo }}"', "      | make"]
    assert "{{" not in json.dumps(manifest)  # the manifest itself still carries no tag


def test_long_lines_and_values_are_cut_around_the_column(tmp_path: Path, capsys: Capture) -> None:
    image = "x" * 200_000
    path = write(tmp_path, f"jobs:\n  a:\n    run: make\n    image: {image}!\n")
    code, out, _ = knargo(capsys, "lint", path)
    assert code == 1 and len(out) < 2_000
    message, source, caret = out.splitlines()
    assert source.startswith("    image: xxx") and source.endswith("x…") and len(source) == 101
    assert caret == " " * 11 + "^"
    assert " … " in message  # the quoted image keeps its start and end
    code, out, _ = knargo(capsys, "lint", path, "--format", "json")
    (found,) = json.loads(out)
    assert len(found["message"]) < 500 and found["message"].startswith("invalid image reference")
