"""`knargo runners check|list` and `knargo lint --cluster`.

Diagnostics goldens: `knargo runners check CASE.yaml` → CASE.out (stdout and exit code), one
case per problem kind; a first line `# knargo runners args: ...` adds flags. The cluster cases
run against the loopback Kubernetes fake through the real client.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from golden import assert_golden
from knargo.cli import main
from knargo.config import runnercheck
from knargo.config.settings import Settings
from kubefake import FakeKube, running_kube

CASES = Path(__file__).parent / "golden" / "runners"
ROOT = Path(__file__).resolve().parent.parent
RULES = {
    "syntax",
    "duplicate-key",
    "schema",
    "quantity",
    "resources",
    "toleration",
    "node-selector",
    "default-runner",
}
GITHUB = [{"name": "github", "kind": "github", "api_url": "x", "web_url": "https://github.com"}]
Capture = pytest.CaptureFixture[str]


def knargo(capsys: Capture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def check_output(name: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(CASES)
    first = (CASES / f"{name}.yaml").read_text().partition("\n")[0]
    marker = "# knargo runners args:"
    extra = shlex.split(first.split("args:", 1)[1]) if first.startswith(marker) else []
    code, out, err = knargo(capsys, "runners", "check", f"{name}.yaml", *extra)
    assert err == ""
    return f"{out}exit: {code}\n"


@pytest.mark.parametrize("name", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_runners_check_matches_golden(
    name: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_golden(CASES / f"{name}.out", check_output(name, capsys, monkeypatch))


def test_every_problem_kind_has_a_case() -> None:
    seen = set()
    for out in CASES.glob("*.out"):
        for line in out.read_text().splitlines():
            if ": error: " in line and line.endswith("]"):
                seen.add(line.rsplit("[", 1)[1].rstrip("]"))
    assert seen >= RULES, RULES - seen


@pytest.mark.parametrize("name", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_clean_runners_are_what_the_functions_accept(name: str) -> None:
    text = (CASES / f"{name}.yaml").read_text()
    if runnercheck.check_runners(text, "config.yaml") == []:
        Settings(forges=GITHUB, runners=runnercheck.runners_of(text))  # does not raise


def test_the_example_configurations_are_clean(capsys: Capture) -> None:
    for config in (ROOT / "examples" / "config.yaml", CASES / "clean.yaml"):
        assert knargo(capsys, "runners", "check", str(config)) == (0, "", "")


def test_runners_list(capsys: Capture) -> None:
    code, out, err = knargo(capsys, "runners", "list", str(CASES / "clean.yaml"))
    assert (code, err) == (0, "")
    assert out == (
        "ALIAS    REQUESTS                                 LIMITS                              "
        "NODE SELECTOR                                TOLERATIONS\n"
        "default  cpu=500m,memory=1Gi                      memory=1Gi                          "
        "-                                            -\n"
        "large    cpu=4,memory=8Gi                         cpu=4000m,memory=8192Mi             "
        "-                                            -\n"
        "gpu      cpu=8,memory=32Gi,ephemeral-storage=20G  nvidia.com/gpu=1,hugepages-2Mi=1Gi  "
        "accelerator=nvidia,kubernetes.io/arch=amd64  "
        "nvidia.com/gpu:NoSchedule op=Exists; dedicated=ci:NoExecute for 300s; op=Exists\n"
    )


def test_runners_list_json_and_the_built_in_default(tmp_path: Path, capsys: Capture) -> None:
    code, out, _ = knargo(capsys, "runners", "list", str(CASES / "clean.yaml"), "--format", "json")
    assert code == 0
    gpu = json.loads(out)[2]
    assert gpu["alias"] == "gpu" and gpu["nodeSelector"]["accelerator"] == "nvidia"
    assert gpu["tolerations"][1] == {
        "key": "dedicated",
        "operator": "Equal",
        "value": "ci",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    bare = tmp_path / "config.yaml"
    bare.write_text("namespace: ci\n")
    code, out, _ = knargo(capsys, "runners", "list", str(bare), "--format", "json")
    assert json.loads(out) == [
        {
            "alias": "default",
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "1Gi"},
            "nodeSelector": {},
            "tolerations": [],
            "security": {
                "allowPrivilegeEscalation": False,
                "capabilities": [],
                "seccomp": "RuntimeDefault",
            },
        }
    ]


def test_runners_list_refuses_invalid_aliases(capsys: Capture) -> None:
    code, out, err = knargo(capsys, "runners", "list", str(CASES / "resources.yaml"))
    assert (code, out) == (1, "")
    assert "is more than limits.cpu" in err


@pytest.mark.parametrize(
    "args",
    [
        ["runners"],
        ["runners", "check"],
        ["runners", "check", "a.yaml", "--cluster"],
        ["runners", "list", "a.yaml", "--context", "x"],
        ["runners", "check", "a.yaml", "--namespace", "x"],  # no Secrets here: not accepted
    ],
)
def test_runners_usage_errors_exit_2(args: list[str], capsys: Capture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


# --- against the cluster --------------------------------------------------------------------

CLUSTER_CONFIG = """\
namespace: ci
fork_pull_requests: run
forges:
  - {name: github, kind: github, api_url: https://api.github.com, web_url: https://github.com}
runners:
  default: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 1Gi}}
  gpu: {requests: {cpu: "8"}, limits: {cpu: "4"}}
"""
CATALOG = "scopes:\n  github.com/acme/api: [NPM_TOKEN]\n  github.com/acme: [REGISTRY_TOKEN]\n"
CI_YAML = """\
on: [push, pull_request]
jobs:
  build:
    image: alpine
    run: make
    runner: large
  publish:
    image: alpine
    run: make publish
    secrets: [NPM_TOKEN, REGISTRY_TOKEN, SONAR_TOKEN]
  deploy:
    image: alpine
    run: make deploy
    secrets: [REGISTRY_TOKEN]
    if: event == 'tag'
"""


def config_map(name: str, key: str, text: str, namespace: str = "knargo") -> dict[str, object]:
    return {
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: text},
    }


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with running_kube() as running:
        running.put_object(config_map("knargo-config", "config.yaml", CLUSTER_CONFIG))
        running.put_object(config_map("knargo-secret-catalog", "catalog.yaml", CATALOG))
        yield running


@pytest.fixture
def kubeconfig(kube: FakeKube, tmp_path: Path) -> str:
    return str(kube.kubeconfig(tmp_path))


def test_runners_check_of_the_cluster(kubeconfig: str, capsys: Capture) -> None:
    code, out, err = knargo(capsys, "runners", "check", "--cluster", "--kubeconfig", kubeconfig)
    assert (code, err) == (1, "")
    assert out == (
        'configmap/knargo/knargo-config/config.yaml:7:25: error: requests.cpu "8" of runner '
        '"gpu" is more than limits.cpu "4" [resources]\n'
        '  gpu: {requests: {cpu: "8"}, limits: {cpu: "4"}}\n'
        "                        ^\n"
    )
    code, out, _ = knargo(capsys, "runners", "list", "--cluster", "--kubeconfig", kubeconfig)
    assert code == 1


def test_runners_of_a_cluster_without_a_configuration(kubeconfig: str, capsys: Capture) -> None:
    args = ["runners", "check", "--cluster", "--kubeconfig", kubeconfig, "--config-namespace", "x"]
    code, out, err = knargo(capsys, *args)
    assert (code, out) == (1, "")
    assert err == (
        'knargo runners: error: no ConfigMap "knargo-config" with key config.yaml in namespace '
        '"x" (see --config-namespace)\n'
    )


def test_lint_against_the_cluster(kubeconfig: str, tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "ci.yaml").write_text(CI_YAML)
    ci_yaml = str(tmp_path / "ci.yaml")
    args = ["lint", ci_yaml, "--cluster", "--kubeconfig", kubeconfig]
    code, out, err = knargo(capsys, *args, "--repo", "github.com/acme/api", "--format", "json")
    assert (code, err) == (1, "")
    assert [(d["line"], d["col"], d["severity"], d["rule"]) for d in json.loads(out)] == [
        (6, 13, "error", "runner"),
        (10, 5, "warning", "fork"),
        (10, 42, "error", "secret"),
    ]
    messages = [d["message"] for d in json.loads(out)]
    assert messages[0] == 'unknown runner "large" (configured: default, gpu)'
    assert messages[2].startswith(  # its own scope, then the organisation's
        'unknown secret "SONAR_TOKEN" for github.com/acme/api (defined: NPM_TOKEN, REGISTRY_TOKEN)'
    )
    code, out, _ = knargo(capsys, *args, "--repo", "github.com/acme/web")
    assert code == 1 and 'unknown secret "NPM_TOKEN" for github.com/acme/web' in out
    code, out, _ = knargo(capsys, *args)  # without --repo: no secrets checked
    assert code == 1 and "[secret]" not in out and "[fork]" in out and "[runner]" in out


def test_lint_fork_warnings_do_not_fail(kubeconfig: str, tmp_path: Path, capsys: Capture) -> None:
    path = tmp_path / "ci.yaml"
    path.write_text("jobs:\n  a: {image: alpine, run: x, secrets: [NPM_TOKEN]}\n")
    code, out, _ = knargo(
        capsys,
        "lint",
        str(path),
        "--cluster",
        "--kubeconfig",
        kubeconfig,
        "--repo",
        "github.com/acme/api",
    )
    assert code == 0
    assert out == (
        f'{path}:2:30: warning: job "a" gets no secrets (NPM_TOKEN) in pull requests from forks; '
        'add if: "!fork" to skip it there [fork]\n'
        "  a: {image: alpine, run: x, secrets: [NPM_TOKEN]}\n"
        "                             ^\n"
    )
    code, out, _ = knargo(capsys, "lint", str(path), "--repo", "github.com/acme/api")
    assert (code, out) == (0, "")  # files only: no fork warnings


def test_lint_with_an_invalid_cluster_configuration(
    kube: FakeKube, kubeconfig: str, tmp_path: Path, capsys: Capture
) -> None:
    kube.put_object(config_map("knargo-config", "config.yaml", "forges: []\n"))
    kube.put_object(config_map("knargo-secret-catalog", "catalog.yaml", "scopes: [x]\n"))
    (tmp_path / "ci.yaml").write_text(CI_YAML)
    args = ["lint", str(tmp_path / "ci.yaml"), "--cluster", "--kubeconfig", kubeconfig]
    code, out, err = knargo(capsys, *args, "--repo", "github.com/acme/api")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "configmap/knargo/knargo-config/config.yaml:1:9: error: "
        '"forges": List should have at least 1 item after validation, not 0 [schema]',
        "configmap/knargo/knargo-secret-catalog/catalog.yaml:1:9: error: "
        '"scopes" must map scopes to lists of secret names [catalog]',
    ]


@pytest.mark.parametrize(
    "extra",
    [
        ["--cluster", "--config", "x.yaml"],
        ["--cluster", "--catalog", "x.yaml"],
        ["--kubeconfig", "k"],
        ["--config-namespace", "knargo"],
    ],
)
def test_lint_cluster_usage_errors(extra: list[str], tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "ci.yaml").write_text(CI_YAML)
    with pytest.raises(SystemExit) as exit_:
        main(["lint", str(tmp_path / "ci.yaml"), *extra])
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


def test_runners_check_takes_the_file_as_config_option_too(capsys: Capture) -> None:
    example = str(Path(__file__).resolve().parent.parent / "examples" / "config.yaml")
    assert main(["runners", "check", "--config", example]) == 0
    assert main(["runners", "check", example]) == 0
    with pytest.raises(SystemExit) as exit_:
        main(["runners", "check", example, "--config", example])
    assert exit_.value.code == 2
