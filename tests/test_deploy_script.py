"""knative/deploy.sh: shellcheck-clean, a golden --dry-run, and a run against stand-in tools.

* `--dry-run` prints every command and needs neither kn nor kubectl (it runs with a PATH
  that has neither); its output is tests/golden/deploy/dry-run.txt.
* The commands it prints cover every manifest of the kustomization, with the same Trigger
  filters, Broker class and SinkBinding as the YAML.
* A real run, with `kn` and `kubectl` replaced by stand-ins that record their arguments,
  executes exactly what --dry-run printed; a second run updates instead of creating.
* Missing tools and CRDs are named; other namespaces are substituted everywhere.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from golden import assert_golden
from test_deploy_manifests import KNATIVE, ROOT, kustomization, one, triggers

SCRIPT = KNATIVE / "deploy.sh"
GOLDEN = Path(__file__).parent / "golden" / "deploy"
# What the script (and the stand-ins below) call, besides kn and kubectl.
TOOLS = ("basename", "bash", "cat", "cut", "dirname", "head", "sed", "sha256sum", "shasum", "tr")


def tool(name: str) -> str:
    """A dev tool from this virtualenv (the `dev` extra ships it), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install the dev extra (pip install -e '.[dev]')")
    return found


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH with the few tools the script uses, and no kn or kubectl."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in TOOLS:
        found = shutil.which(name)
        if found:
            (directory / name).symlink_to(found)
    return directory


def deploy(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT), *args],
        env={"PATH": str(bin_dir), "HOME": str(bin_dir.parent), **env},
        cwd=bin_dir.parent,  # the script finds its files itself
        capture_output=True,
        text=True,
        timeout=60,
    )


def commands(output: str) -> list[list[str]]:
    """The commands a --dry-run printed, pipelines split, trailing remarks dropped."""
    found = []
    for line in output.splitlines():
        if not line.startswith("+ "):
            continue
        text = re.sub(r"\s+# [a-z ]+$", "", line[2:])
        for part in text.split(" | "):
            found.append(shlex.split(part))
    return found


def test_shellcheck_finds_nothing() -> None:
    done = subprocess.run(
        [tool("shellcheck"), "--severity=style", str(SCRIPT)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in SCRIPT.read_text()
    assert os.access(SCRIPT, os.X_OK)


def test_dry_run_output_is_the_golden_file(bin_dir: Path) -> None:
    done = deploy(bin_dir, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert_golden(GOLDEN / "dry-run.txt", done.stdout)


def test_dry_run_covers_every_manifest() -> None:
    printed = commands((GOLDEN / "dry-run.txt").read_text())
    applied = {c[-1] for c in printed if c[:2] == ["kubectl", "apply"] and c[-1] != "-"}
    applied |= {c[-1] for c in printed if c[:3] == ["kubectl", "create", "-f"]}
    services = {c[c.index("-f") + 1] for c in printed if c[:3] == ["kn", "service", "apply"]}
    by_kn = {"knative/broker.yaml", "knative/sinkbinding.yaml", "knative/triggers.yaml"}
    listed = {f"knative/{name}" for name in kustomization()["resources"]}
    assert applied | services | by_kn == listed
    assert not (applied & services), "each file has one tool"


def test_dry_run_creates_the_knative_objects_of_the_yaml() -> None:
    printed = commands((GOLDEN / "dry-run.txt").read_text())

    def flags(command: list[str]) -> dict[str, str]:
        return {a: b for a, b in itertools.pairwise(command) if a.startswith("-")}

    created = {c[3]: flags(c) for c in printed if c[:3] == ["kn", "trigger", "create"]}
    assert {
        name: (f["--filter"].removeprefix("type="), f["--sink"].removeprefix("ksvc:"))
        for name, f in created.items()
    } == triggers()
    patched = {
        c[3] for c in printed if c[:3] == ["kubectl", "patch", "triggers.eventing.knative.dev"]
    }
    assert patched == set(triggers()), "every Trigger gets its delivery"
    for command in printed:
        if command[:2] == ["kubectl", "patch"]:
            assert flags(command)["--patch-file"] == "knative/patches/delivery.yaml"
    broker = one("Broker")
    (create,) = [c for c in printed if c[:3] == ["kn", "broker", "create"]]
    assert create[3] == broker["metadata"]["name"]
    assert (
        flags(create)["--class"]
        == (broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"])
    )
    assert flags(create)["--broker-config"] == f"cm:{broker['spec']['config']['name']}"
    binding = one("SinkBinding")
    (bind,) = [c for c in printed if c[:4] == ["kn", "source", "binding", "create"]]
    assert bind[4] == binding["metadata"]["name"]
    subject = binding["spec"]["subject"]
    assert flags(bind)["--subject"] == (
        f"{subject['kind']}:{subject['apiVersion']}:{subject['name']}"
    )
    assert flags(bind)["--sink"] == f"broker:{binding['spec']['sink']['ref']['name']}"
    # The SinkBinding exists before webhook, so its first revision has K_SINK.
    kn = [c for c in printed if c[0] == "kn"]
    binding_at = kn.index(bind)
    (webhook_at,) = [i for i, c in enumerate(kn) if c[:4] == ["kn", "service", "apply", "webhook"]]
    assert binding_at < webhook_at


def test_dry_run_checks_every_crd_it_relies_on() -> None:
    printed = commands((GOLDEN / "dry-run.txt").read_text())
    checked = {c[3] for c in printed if c[:3] == ["kubectl", "get", "customresourcedefinition"]}
    used = {
        "services.serving.knative.dev",
        "brokers.eventing.knative.dev",
        "triggers.eventing.knative.dev",
        "sinkbindings.sources.knative.dev",
        "eventbus.argoproj.io",
        "eventsources.argoproj.io",
        "sensors.argoproj.io",
        # what knargo itself creates, and what Argo's executor writes
        "workflows.argoproj.io",
        "cronworkflows.argoproj.io",
        "workflowtaskresults.argoproj.io",
        "inmemorychannels.messaging.knative.dev",
    }
    assert checked == used
    assert ["command", "-v", "kn", "kubectl"] in printed


# --- a run with stand-in kn and kubectl ---------------------------------------------------

STAND_IN = """#!/bin/sh
# Records its arguments (one line, shell-quoted) and answers like the real tool would.
{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf ' %s' "'$a'"; done; echo; } >> "$LOG"
case "$(basename "$0") $*" in
  "kubectl get customresourcedefinition "*)
    for crd in $MISSING_CRDS; do [ "$3" = "$crd" ] && exit 1; done ;;
  "kubectl get configmap "*"jsonpath"*) printf '%s' "$STUB_CATALOG" ;;
  "kubectl get configmap "*) [ "$EXISTS" = 1 ] || exit 1 ;;
  "kubectl get secret "*) printf '%s' "$STUB_SECRET" ;;
  "kubectl "*" -f -"*) cat > /dev/null ;;
  "kn service describe "*) echo "https://webhook.knargo.example.com" ;;
  "kn "*" describe "*) [ "$EXISTS" = 1 ] || exit 1 ;;
esac
exit 0
"""
CLUSTER = {
    "EXISTS": "0",
    "MISSING_CRDS": "",
    "STUB_CATALOG": '{"catalog.yaml":"scopes: {}\\n"}',
    "STUB_SECRET": '{"github.token":"dG9rZW4=","github.webhook-secret":"c2VjcmV0"}',
}


def stand_ins(bin_dir: Path) -> Path:
    """Put the stand-in kn and kubectl on the PATH; returns the log they write."""
    for name in ("kn", "kubectl"):
        path = bin_dir / name
        path.write_text(STAND_IN)
        path.chmod(0o755)
    return bin_dir.parent / "calls.log"


def recorded(log: Path) -> list[list[str]]:
    return [shlex.split(line) for line in log.read_text().splitlines()]


def _existence_checks(calls: list[list[str]]) -> list[list[str]]:
    """The reads that only decide between create and update (or create and skip)."""
    return [
        c
        for c in calls
        if ("describe" in c and "url" not in c)
        or (c[:3] == ["kubectl", "get", "configmap"] and "-o" not in c)
    ]


def _digests(calls: list[list[str]]) -> dict[str, str]:
    found = {}
    for call in calls:
        if call[:3] == ["kn", "service", "apply"]:
            annotation = call[call.index("--annotation-revision") + 1]
            found[call[3]] = annotation.removeprefix("knargo.dev/config-digest=")
    return found


def test_a_run_executes_what_the_dry_run_prints(bin_dir: Path) -> None:
    log = stand_ins(bin_dir)
    done = deploy(bin_dir, LOG=str(log), **CLUSTER)
    assert done.returncode == 0, done.stderr
    calls = recorded(log)
    existence = _existence_checks(calls)
    assert {" ".join(c[:3]) for c in existence} == {
        "kn broker describe",
        "kn source binding",
        "kn trigger describe",
        "kubectl get configmap",
    }
    digests = _digests(calls)
    assert all(re.fullmatch(r"[0-9a-f]{16}", d) for d in digests.values()), digests
    executed = [
        [re.sub(r"config-digest=\w+$", "config-digest=<digest>", word) for word in c]
        for c in calls
        if c not in existence
    ]
    expected = [
        c for c in commands((GOLDEN / "dry-run.txt").read_text()) if c[0] in ("kn", "kubectl")
    ]
    assert executed == expected
    assert "Webhook URL: https://webhook.knargo.example.com" in done.stdout


def test_a_second_run_updates_instead_of_creating(bin_dir: Path) -> None:
    log = stand_ins(bin_dir)
    first = deploy(bin_dir, LOG=str(log), **(CLUSTER | {"EXISTS": "1"}))
    assert first.returncode == 0, first.stderr
    calls = recorded(log)
    assert not [c for c in calls if "create" in c[:4]], "nothing is created twice"
    assert "The secret catalog exists" in first.stdout, "the catalog is never overwritten"
    updates = [c for c in calls if c[:3] == ["kn", "trigger", "update"]]
    assert len(updates) == len(triggers())
    for update in updates:
        assert "--broker" not in update, "a Trigger's Broker cannot change"
        assert "--filter" in update and "--sink" in update
    (binding,) = [c for c in calls if c[:3] == ["kn", "source", "binding"] and "describe" not in c]
    assert binding[3] == "update"
    # Nothing changed in between: the same digests, so no function restarts.
    log.unlink()
    again = deploy(bin_dir, LOG=str(log), **(CLUSTER | {"EXISTS": "1"}))
    assert again.returncode == 0, again.stderr
    assert _digests(recorded(log)) == _digests(calls)


def test_a_changed_credential_or_catalog_restarts_whom_it_concerns(bin_dir: Path) -> None:
    log = stand_ins(bin_dir)

    def digests(**changes: str) -> dict[str, str]:
        if log.exists():
            log.unlink()
        done = deploy(bin_dir, LOG=str(log), **(CLUSTER | {"EXISTS": "1"} | changes))
        assert done.returncode == 0, done.stderr
        return _digests(recorded(log))

    before = digests()
    rotated = digests(STUB_SECRET='{"github.token":"bmV3","github.webhook-secret":"c2VjcmV0"}')
    assert all(rotated[f] != before[f] for f in ("webhook", "generate", "report"))
    catalog = digests(STUB_CATALOG='{"catalog.yaml":"scopes: {github.com/acme: [NPM_TOKEN]}"}')
    assert catalog["generate"] != before["generate"], "generate reads the catalog"
    assert catalog["webhook"] == before["webhook"] and catalog["report"] == before["report"]


def test_a_run_without_credentials_stops_and_says_so(bin_dir: Path) -> None:
    log = stand_ins(bin_dir)
    done = deploy(bin_dir, LOG=str(log), **(CLUSTER | {"STUB_SECRET": ""}))
    assert done.returncode == 1
    assert "knargo-credentials in knargo holds no values: pass --credentials DIR" in done.stderr
    assert not [c for c in recorded(log) if c[0] == "kn"], "it stops before the functions"


def test_missing_tools_are_named(bin_dir: Path) -> None:
    done = deploy(bin_dir)
    assert done.returncode == 1
    assert "kn (the Knative CLI" in done.stderr and "kubectl (" in done.stderr
    assert "docs/deploy.md" in done.stderr


def test_missing_crds_are_named_and_nothing_is_applied(bin_dir: Path) -> None:
    log = stand_ins(bin_dir)
    missing = "sensors.argoproj.io services.serving.knative.dev"
    done = deploy(bin_dir, LOG=str(log), **(CLUSTER | {"MISSING_CRDS": missing}))
    assert done.returncode == 1
    assert "CRD sensors.argoproj.io: install Argo Events" in done.stderr
    assert "CRD services.serving.knative.dev: install Knative Serving" in done.stderr
    assert {c[1] for c in recorded(log)} == {"get"}, "it stops before changing anything"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option: --bogus"),
        (["--namespace", "Knargo"], "not a valid namespace name"),
        (["--pipeline-namespace", "ci/x"], "not a valid namespace name"),
        (["--tag", "a b"], "not an image tag"),
        (["--credentials", "/nonexistent"], "is not a directory"),
    ],
)
def test_bad_arguments_are_refused(bin_dir: Path, args: list[str], message: str) -> None:
    done = deploy(bin_dir, "--dry-run", *args)
    assert done.returncode == 1
    assert message in done.stderr


def test_help(bin_dir: Path) -> None:
    done = deploy(bin_dir, "--help")
    assert done.returncode == 0 and "--dry-run" in done.stdout and "--credentials" in done.stdout


# --- credentials and namespaces -----------------------------------------------------------


def test_credentials_go_through_a_pipe_and_are_never_printed(bin_dir: Path, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "github.webhook-secret").write_text("very-secret-value\n")
    (credentials / "github.token").write_text("ghp_not_a_real_token\n")
    for args in (["--dry-run"], []):
        log = stand_ins(bin_dir)
        done = deploy(bin_dir, *args, "--credentials", str(credentials), LOG=str(log), **CLUSTER)
        assert done.returncode == 0, done.stderr
        everything = done.stdout + done.stderr + (log.read_text() if log.exists() else "")
        assert "very-secret-value" not in everything and "ghp_" not in everything
    printed = commands(deploy(bin_dir, "--dry-run", "--credentials", str(credentials)).stdout)
    create = ["kubectl", "create", "secret", "generic", "knargo-credentials", "-n", "knargo"]
    create += [f"--from-file={credentials}", "--dry-run=client", "-o", "yaml"]
    assert create in printed
    apply = ["kubectl", "apply", "--server-side", "--field-manager=knargo-credentials"]
    assert [*apply, "-f", "-"] in printed
    assert printed.index(create) < printed.index(
        ["kubectl", "get", "secret", "knargo-credentials", "-n", "knargo", "-o", "jsonpath={.data}"]
    ), "the values are set before they are read"


def test_other_namespaces_are_substituted_everywhere(bin_dir: Path) -> None:
    done = deploy(bin_dir, "--dry-run", "-n", "tools", "--pipeline-namespace", "builds")
    assert done.returncode == 0, done.stderr
    rendered: list[dict[str, Any]] = []
    for line in done.stdout.splitlines():
        if line.startswith("+ sed "):
            sed, _, rest = line[2:].partition(" | ")
            assert rest in ("kubectl apply -f -", "kubectl create -f -   # skipped if it exists")
            out = subprocess.run(shlex.split(sed), cwd=ROOT, capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            rendered += [d for d in yaml.safe_load_all(out.stdout) if d]
    assert "kubectl apply -f knative/" not in done.stdout
    namespaces = {d["metadata"].get("namespace") for d in rendered} - {None}
    assert namespaces == {"tools", "builds"}
    assert {d["metadata"]["name"] for d in rendered if d["kind"] == "Namespace"} == {
        "tools",
        "builds",
    }
    for document in rendered:
        for subject in document.get("subjects", []):
            assert subject["namespace"] in {"tools", "builds"}
    config = next(d for d in rendered if d["metadata"]["name"] == "knargo-config")
    assert yaml.safe_load(config["data"]["config.yaml"])["namespace"] == "builds"
    sensor = next(d for d in rendered if d["kind"] == "Sensor")
    http = sensor["spec"]["triggers"][0]["template"]["http"]
    assert http["url"].endswith("/tools/knargo")
    assert http["headers"]["Ce-Source"].startswith("argo-events/tools/")
    source = next(d for d in rendered if d["kind"] == "EventSource")
    assert source["spec"]["resource"]["workflow"]["namespace"] == "builds"
    knative = [c for c in commands(done.stdout) if c[0] == "kn"]
    assert all(c[c.index("-n") + 1] == "tools" for c in knative)
    # The names that do not change are names, not namespaces.
    assert {d["metadata"]["name"] for d in rendered if d["kind"] == "EventBus"} == {"knargo"}
    assert len(rendered) == len(
        [m for name in kustomization()["resources"] for m in _kubectl_applied(name)]
    )


def _kubectl_applied(name: str) -> list[dict[str, Any]]:
    """The objects deploy.sh applies with kubectl (kn creates the rest from flags or -f)."""
    by_kn = {"broker.yaml", "sinkbinding.yaml", "triggers.yaml"}
    by_kn |= {f"{function}.yaml" for function in ("webhook", "generate", "report")}
    if name in by_kn:
        return []
    return [d for d in yaml.safe_load_all((KNATIVE / name).read_text()) if d]


def test_the_deploy_doc_lists_every_option(bin_dir: Path) -> None:
    usage = deploy(bin_dir, "--help").stdout
    offered = set(re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", usage, re.M)) - {"--help"}
    doc = (ROOT / "docs" / "deploy.md").read_text()
    rows = re.findall(r"^\| ((?:`-\w`, )?`--[a-z-]+[^|]*)\|", doc, re.M)
    documented = {flag for row in rows for flag in re.findall(r"`(--[a-z-]+)[^`]*`", row)}
    assert documented == offered
