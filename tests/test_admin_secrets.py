"""`knargo secrets set|list|delete` against the loopback Kubernetes fake, through the real
`kubernetes` client: both scopes, updates, concurrent writers of the catalog, the resolution
order `generate` sees, refused names and values, and a scan of every output for the value.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import pty
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from knargo.cli import main
from knargo.cli import secrets as secrets_cli
from knargo.config import admin
from knargo.config.catalog import parse_catalog
from knargo.formats.naming import secret_object_name
from knargo.io.kube import Cluster
from kubefake import FakeKube, running_kube

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
namespace: ci
forges:
  - {name: github, kind: github, api_url: https://api.github.com, web_url: https://github.com}
"""
ORG, REPO = "github.com/acme", "github.com/acme/api"
NOTE = f"{secrets_cli.CATALOG_NOTE}\n"
Capture = pytest.CaptureFixture[str]


def config_map(name: str, key: str, text: str, namespace: str = "knargo") -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace}
    return {"kind": "ConfigMap", "metadata": metadata, "data": {key: text}}


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with running_kube() as running:
        running.put_object(config_map("knargo-config", "config.yaml", CONFIG))
        yield running


@pytest.fixture
def kubeconfig(kube: FakeKube, tmp_path: Path) -> str:
    return str(kube.kubeconfig(tmp_path))


@dataclass
class Cli:
    kubeconfig: str
    capsys: Capture
    monkeypatch: pytest.MonkeyPatch

    def __call__(self, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(["secrets", *args, "--kubeconfig", self.kubeconfig])
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(kubeconfig: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setattr(secrets_cli, "now", lambda: datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    return Cli(kubeconfig, capsys, monkeypatch)


def stored(kube: FakeKube, namespace: str = "ci") -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: s for s in kube.objects("secrets", namespace)}


def value_of(kube: FakeKube, scope: str, name: str, namespace: str = "ci") -> bytes:
    secret = stored(kube, namespace)[secret_object_name(scope, name)]
    return base64.b64decode(secret["data"]["value"])


def catalog(kube: FakeKube, namespace: str = "knargo") -> dict[str, frozenset[str]]:
    [found] = [
        c for c in kube.objects("configmaps", namespace) if "catalog" in c["metadata"]["name"]
    ]
    parsed, problems = parse_catalog(found["data"]["catalog.yaml"], "catalog.yaml")
    assert parsed is not None, problems
    return dict(parsed.scopes)


# --- set, list, delete ----------------------------------------------------------------------


def test_set_list_and_delete_at_both_scopes(cli: Cli, kube: FakeKube) -> None:
    org_secret, repo_secret = (
        secret_object_name(ORG, "NPM_TOKEN"),
        secret_object_name(REPO, "NPM_TOKEN"),
    )
    assert cli("set", ORG, "NPM_TOKEN", stdin=b"org-token\n") == (
        0,
        f"created {ORG} NPM_TOKEN (Secret ci/{org_secret})\n",
        NOTE,
    )
    assert cli("set", REPO, "NPM_TOKEN", stdin=b"repo-token") == (
        0,
        f"created {REPO} NPM_TOKEN (Secret ci/{repo_secret})\n",
        NOTE,
    )
    assert value_of(kube, ORG, "NPM_TOKEN") == b"org-token"  # the trailing newline dropped
    assert value_of(kube, REPO, "NPM_TOKEN") == b"repo-token"
    secret = stored(kube)[repo_secret]
    assert secret["type"] == "Opaque" and list(secret["data"]) == ["value"]
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "knargo"}
    assert secret["metadata"]["annotations"] == {
        "knargo.dev/secret-scope": REPO,
        "knargo.dev/secret-name": "NPM_TOKEN",
        "knargo.dev/updated-at": "2026-03-01T09:30:00Z",
    }
    assert catalog(kube) == {ORG: {"NPM_TOKEN"}, REPO: {"NPM_TOKEN"}}

    code, out, err = cli("list")
    assert (code, err) == (0, "")
    assert out == (
        "SCOPE                NAME       SECRET                                UPDATED\n"
        f"github.com/acme      NPM_TOKEN  {org_secret}      2026-03-01T09:30:00Z\n"
        f"github.com/acme/api  NPM_TOKEN  {repo_secret}  2026-03-01T09:30:00Z\n"
    )
    code, out, _ = cli("list", REPO, "--format", "json")
    assert json.loads(out) == [
        {
            "scope": REPO,
            "name": "NPM_TOKEN",
            "secret": repo_secret,
            "updated": "2026-03-01T09:30:00Z",
            "state": "ok",
        }
    ]

    assert cli("delete", REPO, "NPM_TOKEN") == (
        0,
        f"deleted {REPO} NPM_TOKEN (Secret ci/{repo_secret})\n",
        NOTE,
    )
    assert list(stored(kube)) == [org_secret]
    assert catalog(kube) == {ORG: {"NPM_TOKEN"}}
    code, out, _ = cli("delete", ORG, "NPM_TOKEN", "--format", "json")
    assert json.loads(out) == {
        "action": "deleted",
        "scope": ORG,
        "name": "NPM_TOKEN",
        "secret": f"ci/{org_secret}",
        "catalog_changed": True,
    }
    assert stored(kube) == {} and catalog(kube) == {}
    assert cli("list") == (0, "", 'no pipeline secrets in namespace "ci"\n')
    assert cli("list", "--format", "json")[1] == "[]\n"


def test_update_of_an_existing_secret(cli: Cli, kube: FakeKube, tmp_path: Path) -> None:
    cli("set", REPO, "NPM_TOKEN", stdin=b"first")
    secret = secret_object_name(REPO, "NPM_TOKEN")
    before = stored(kube)[secret]["metadata"]
    kube.put_object(
        stored(kube)[secret] | {"metadata": before | {"labels": before["labels"] | {"team": "a"}}}
    )
    path = tmp_path / "token"
    path.write_bytes(b"second\r\n")
    code, out, err = cli("set", REPO, "NPM_TOKEN", "--from-file", str(path), "--format", "json")
    assert (code, err) == (0, "")  # the catalog did not change: no restart needed
    assert json.loads(out) == {
        "action": "updated",
        "scope": REPO,
        "name": "NPM_TOKEN",
        "secret": f"ci/{secret}",
        "catalog_changed": False,
    }
    assert value_of(kube, REPO, "NPM_TOKEN") == b"second"
    after = stored(kube)[secret]["metadata"]
    assert after["uid"] == before["uid"] and after["labels"]["team"] == "a"  # kept, not recreated
    assert int(after["resourceVersion"]) > int(before["resourceVersion"])
    puts = [r for r in kube.requests if r.method == "PUT" and r.path.endswith(f"/secrets/{secret}")]
    assert puts[-1].body["metadata"]["resourceVersion"]  # conditional on what was read


def test_concurrent_updates_to_the_catalog(kube: FakeKube, kubeconfig: str, tmp_path: Path) -> None:
    names = [f"TOKEN_{i}" for i in range(8)]
    for name in names:
        (tmp_path / name).write_text(f"value of {name}\n")
    kube.latency = 0.01
    start, codes = threading.Barrier(len(names)), {}

    def set_one(name: str) -> None:
        start.wait()
        path = str(tmp_path / name)
        args = ["secrets", "set", ORG, name, "--from-file", path, "--kubeconfig", kubeconfig]
        codes[name] = main(args)

    threads = [threading.Thread(target=set_one, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == dict.fromkeys(names, 0)
    assert catalog(kube) == {ORG: frozenset(names)}  # no writer lost another's entry
    writes = [
        r
        for r in kube.requests
        if (r.method == "POST" and r.path.endswith("/configmaps"))
        or (r.method == "PUT" and r.path.endswith("/knargo-secret-catalog"))
    ]
    assert len(writes) > len(names)  # some lost a race (AlreadyExists, Conflict) and retried
    assert all(value_of(kube, ORG, n) == f"value of {n}".encode() for n in names)


def test_a_lost_race_is_retried_at_the_new_resource_version(
    cli: Cli, kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("set", ORG, "A", stdin=b"a")
    cli("set", ORG, "B", stdin=b"b")
    replace_config_map, replace_secret = Cluster.replace_config_map, Cluster.replace_secret
    raced: list[str] = []

    def catalog_first(self: Cluster, manifest: dict[str, Any]) -> bool:
        if "catalog" not in raced:  # another admin's write lands between our read and write
            raced.append("catalog")
            text = admin.catalog_text({ORG: frozenset({"A", "B", "OTHER"})})
            kube.put_object(config_map("knargo-secret-catalog", "catalog.yaml", text))
        return replace_config_map(self, manifest)

    def secret_first(self: Cluster, manifest: dict[str, Any]) -> bool:
        if "secret" not in raced:
            raced.append("secret")
            kube.put_object(stored(kube)[manifest["metadata"]["name"]])  # a new resourceVersion
        return replace_secret(self, manifest)

    monkeypatch.setattr(Cluster, "replace_config_map", catalog_first)
    monkeypatch.setattr(Cluster, "replace_secret", secret_first)
    assert cli("set", ORG, "C", stdin=b"c")[0] == 0
    assert cli("set", ORG, "A", stdin=b"new")[0] == 0
    assert raced == ["catalog", "secret"]
    assert catalog(kube) == {ORG: {"A", "B", "C", "OTHER"}}
    assert value_of(kube, ORG, "A") == b"new"


def test_resolution_order_as_generate_sees_it(
    cli: Cli, kube: FakeKube, tmp_path: Path, capsys: Capture
) -> None:
    """generate mounts the catalog ConfigMap; render reads the same file the same way."""
    cli("set", ORG, "REGISTRY_TOKEN", stdin=b"org")
    cli("set", REPO, "REGISTRY_TOKEN", stdin=b"repo")
    ci_yaml = tmp_path / "ci.yaml"
    ci_yaml.write_text(
        "jobs:\n  push:\n    image: alpine\n    run: make\n    secrets: [REGISTRY_TOKEN]\n"
    )
    mounted = tmp_path / "catalog.yaml"

    def secret_refs(repository: str) -> list[str]:
        [config_map_] = [c for c in kube.objects("configmaps", "knargo") if "catalog" in str(c)]
        mounted.write_text(config_map_["data"]["catalog.yaml"])
        args = [
            "render",
            str(ci_yaml),
            "--repo",
            repository,
            "--catalog",
            str(mounted),
            "-o",
            "json",
        ]
        assert main(args) == 0
        out = capsys.readouterr().out
        return sorted(set(_secret_key_refs(json.loads(out))))

    assert secret_refs(REPO) == [secret_object_name(REPO, "REGISTRY_TOKEN")]  # repository first
    assert secret_refs("github.com/acme/web") == [secret_object_name(ORG, "REGISTRY_TOKEN")]
    cli("delete", REPO, "REGISTRY_TOKEN")
    assert secret_refs(REPO) == [secret_object_name(ORG, "REGISTRY_TOKEN")]  # then its owner


def _secret_key_refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("secretKeyRef")
        if isinstance(ref, dict) and not ref["name"].startswith("knargo-forge-"):
            yield ref["name"]
        for item in value.values():
            yield from _secret_key_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_key_refs(item)


# --- refused input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "acme/api", "NPM_TOKEN"], 'invalid scope "acme/api": expected HOST/OWNER or'),
        (["set", "github.com", "NPM_TOKEN"], 'invalid scope "github.com"'),
        (
            ["set", ORG, "npm_token"],
            'invalid secret name "npm_token": secret names follow '
            "environment-variable rules ([A-Z_][A-Z0-9_]*",
        ),
        (["set", ORG, "NPM-TOKEN"], 'invalid secret name "NPM-TOKEN"'),
        (["set", ORG, "1TOKEN"], 'invalid secret name "1TOKEN"'),
        (["delete", ORG, "npm.token"], 'invalid secret name "npm.token"'),
        (["list", "acme"], 'invalid scope "acme"'),
    ],
)
def test_invalid_scopes_and_names(cli: Cli, kube: FakeKube, args: list[str], message: str) -> None:
    code, out, err = cli(*args, stdin=b"value")
    assert (code, out) == (1, "")
    assert err.startswith(f"knargo secrets: error: {message}")
    assert stored(kube) == {} and len(kube.objects("configmaps", "knargo")) == 1


@pytest.mark.parametrize("stdin", [b"", b"\n", b"\r\n"])
def test_empty_values_are_refused(cli: Cli, kube: FakeKube, stdin: bytes, tmp_path: Path) -> None:
    expected = (
        1,
        "",
        "knargo secrets: error: empty value refused: give the value on stdin or with --from-file\n",
    )
    assert cli("set", ORG, "NPM_TOKEN", stdin=stdin) == expected
    (tmp_path / "empty").write_bytes(stdin)
    assert cli("set", ORG, "NPM_TOKEN", "--from-file", str(tmp_path / "empty")) == expected
    assert stored(kube) == {} and len(kube.objects("configmaps", "knargo")) == 1


def test_a_value_is_never_taken_from_an_argument(cli: Cli, kube: FakeKube) -> None:
    code, out, err = cli("set", ORG, "NPM_TOKEN", "hunter2", stdin=b"x")
    assert (code, out) == (1, "")
    assert err == (
        "knargo secrets: error: a value is read from stdin or --from-file, never from an "
        "argument; the extra argument (not shown) may now be in your shell's history\n"
    )
    assert "hunter2" not in err and stored(kube) == {}


def test_an_unreadable_file(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("set", ORG, "NPM_TOKEN", "--from-file", str(tmp_path / "missing"))
    assert code == 1
    assert (
        err
        == f"knargo secrets: error: cannot read {tmp_path / 'missing'}: No such file or directory\n"
    )


def test_delete_of_a_secret_that_does_not_exist(cli: Cli) -> None:
    assert cli("delete", ORG, "NOPE") == (
        1,
        "",
        'knargo secrets: error: no secret NOPE in github.com/acme (namespace "ci")\n',
    )


def test_secrets_knargo_does_not_manage_are_left_alone(cli: Cli, kube: FakeKube) -> None:
    name = secret_object_name(ORG, "NPM_TOKEN")
    kube.put_object(
        {
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "ci"},
            "data": {"value": "b3RoZXI="},
        }
    )
    for args in (["set", ORG, "NPM_TOKEN"], ["delete", ORG, "NPM_TOKEN"]):
        code, _, err = cli(*args, stdin=b"mine")
        assert code == 1
        assert f'Secret "{name}" exists and is not managed by knargo; refusing to change it' in err
    assert value_of(kube, ORG, "NPM_TOKEN") == b"other"


def test_an_invalid_catalog_is_not_overwritten(cli: Cli, kube: FakeKube) -> None:
    kube.put_object(config_map("knargo-secret-catalog", "catalog.yaml", "scopes:\n  acme: [x]\n"))
    code, out, err = cli("set", ORG, "NPM_TOKEN", stdin=b"v")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "knargo secrets: error: the secret catalog is invalid; fix it first:",
        "configmap/knargo/knargo-secret-catalog/catalog.yaml:2:3: error: invalid scope "
        '"acme" (expected host/owner or host/owner/repository) [catalog]',
        "configmap/knargo/knargo-secret-catalog/catalog.yaml:2:10: error: invalid secret name "
        '"x" ([A-Z_][A-Z0-9_]*) [catalog]',
    ]
    assert stored(kube) == {}  # refused before the Secret was written
    code, out, err = cli("list")
    assert (code, out) == (1, "")
    assert "catalog.yaml:2:3: error: invalid scope" in err


def test_list_shows_what_is_out_of_step(cli: Cli, kube: FakeKube) -> None:
    cli("set", ORG, "A", stdin=b"a")
    cli("set", ORG, "B", stdin=b"b")
    kube.put_object(
        config_map("knargo-secret-catalog", "catalog.yaml", "scopes: {github.com/acme: [A, C]}")
    )
    code, out, err = cli("list", "--format", "json")
    assert code == 0
    assert [(r["name"], r["state"], r["updated"]) for r in json.loads(out)] == [
        ("A", "ok", "2026-03-01T09:30:00Z"),
        ("B", "not-in-catalog", "2026-03-01T09:30:00Z"),
        ("C", "missing-secret", None),
    ]
    assert err == (
        f"warning: {ORG} B: Secret {secret_object_name(ORG, 'B')} is not in the catalog, so no "
        "job gets it (set it again or delete it)\n"
        f"warning: {ORG} C: in the catalog, but its Secret {secret_object_name(ORG, 'C')} is "
        "missing (set it again)\n"
    )
    assert cli("delete", ORG, "C")[0] == 0  # either half is enough to delete
    assert cli("delete", ORG, "B")[0] == 0
    assert catalog(kube) == {ORG: {"A"}} and list(stored(kube)) == [secret_object_name(ORG, "A")]


# --- namespaces and connections -------------------------------------------------------------


def test_the_pipeline_namespace(cli: Cli, kube: FakeKube) -> None:
    kube.put_object(config_map("knargo-config", "config.yaml", "namespace: pipelines\n"))
    cli("set", ORG, "A", stdin=b"a")  # the configuration's namespace
    cli("set", ORG, "B", "--namespace", "other", stdin=b"b")  # the flag's
    kube.put_object(
        config_map("knargo-config", "config.yaml", "namespace: pipelines\n", "elsewhere")
    )
    cli("set", ORG, "C", "--config-namespace", "elsewhere", stdin=b"c")
    cli("set", ORG, "D", "--config-namespace", "empty", stdin=b"d")  # the context's: ci
    assert [list(stored(kube, ns)) for ns in ("pipelines", "other", "ci")] == [
        [secret_object_name(ORG, "A"), secret_object_name(ORG, "C")],
        [secret_object_name(ORG, "B")],
        [secret_object_name(ORG, "D")],
    ]
    assert catalog(kube) == {ORG: {"A", "B"}}
    assert catalog(kube, "elsewhere") == {ORG: {"C"}}


def test_cluster_errors_exit_1_with_what_failed(cli: Cli, kube: FakeKube) -> None:
    kube.forbid("create", "secrets")
    code, out, err = cli("set", ORG, "A", stdin=b"a")
    assert (code, out) == (1, "")
    assert err.startswith(
        'knargo secrets: error: Kubernetes refused to create secrets in namespace "ci" (403): '
    )
    kube.fail_next(503, path_contains="/configmaps/knargo-secret-catalog")
    code, _, err = cli("list")
    assert code == 1 and 'Kubernetes could not get configmaps in namespace "knargo" (503)' in err


def test_a_missing_kubeconfig(tmp_path: Path, capsys: Capture) -> None:
    missing = str(tmp_path / "nope")
    assert main(["secrets", "list", "--kubeconfig", missing]) == 1
    assert capsys.readouterr().err.startswith(
        f"knargo secrets: error: Kubernetes configuration {missing}"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["secrets"],
        ["secrets", "set", ORG],
        ["secrets", "delete", ORG],
        ["secrets", "list", "a", "b"],
        ["secrets", "set", ORG, "A", "--value", "x"],
    ],
)
def test_secrets_usage_errors_exit_2(args: list[str], capsys: Capture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2


# --- the value goes nowhere but into the Secret ---------------------------------------------

VALUE = "kn4rgo-canary-Zq7Xw9-ünï"


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, *(base64.b64encode(b).decode() for b in (raw, raw + b"\n")), raw.hex()]


def assert_no_leak(text: str) -> None:
    for form in forms(VALUE):
        assert form not in text


def test_the_value_never_appears_in_outputs_logs_or_errors(
    cli: Cli,
    kube: FakeKube,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    value = (VALUE + "\n").encode()
    path = tmp_path / "value"
    path.write_bytes(value)
    outputs = [
        cli("set", REPO, "NPM_TOKEN", stdin=value),
        cli("set", REPO, "NPM_TOKEN", "--from-file", str(path), "--format", "json"),
        cli("set", ORG, "NPM_TOKEN", stdin=value),
        cli("list"),
        cli("list", "--format", "json"),
        cli("set", ORG, "NPM_TOKEN", VALUE, stdin=value),  # by mistake, as an argument
    ]
    kube.fail_next(500, path_contains="/secrets/")
    outputs.append(cli("set", REPO, "NPM_TOKEN", stdin=value))
    kube.fail_next(422, path_contains="/secrets/")
    outputs.append(cli("set", REPO, "NPM_TOKEN", stdin=value))
    kube.forbid("update", "secrets")
    outputs.append(cli("set", REPO, "NPM_TOKEN", stdin=value))
    monkeypatch.setattr(secrets_cli, "ATTEMPTS", 2)
    monkeypatch.setattr(Cluster, "replace_secret", lambda _self, _manifest: False)  # always lost
    outputs.append(cli("set", REPO, "NPM_TOKEN", stdin=value))
    outputs.append(cli("delete", ORG, "NPM_TOKEN"))
    assert [code for code, _, _ in outputs] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    for _, out, err in outputs:
        assert_no_leak(out + err)
    assert caplog.records  # the client's and urllib3's debug logging was on
    assert_no_leak(caplog.text)
    assert_no_leak(json.dumps(kube.objects("configmaps", "knargo")))
    assert value_of(kube, REPO, "NPM_TOKEN") == VALUE.encode()  # it did reach the Secret
    for request in kube.requests:
        if base64.b64encode(VALUE.encode()).decode() in json.dumps(request.body):
            assert request.method in ("POST", "PUT") and "/secrets" in request.path
        assert_no_leak(request.path + json.dumps(request.query))


def test_no_leak_from_a_process_with_tracebacks(kube: FakeKube, kubeconfig: str) -> None:
    argv = [
        sys.executable,
        "-m",
        "knargo.cli",
        "secrets",
        "set",
        REPO,
        "NPM_TOKEN",
        "--kubeconfig",
        kubeconfig,
    ]
    env = {**os.environ, "KNARGO_DEBUG": "1", "PYTHONWARNINGS": "always"}
    runs = []
    for failure in (None, 500):
        if failure:
            kube.fail_next(failure, path_contains="/secrets/")
        runs.append(
            subprocess.run(
                argv,
                input=(VALUE + "\n").encode(),
                capture_output=True,
                env=env,
                check=False,
                timeout=60,
            )
        )
    assert [r.returncode for r in runs] == [0, 1]
    assert b"Traceback" in runs[1].stderr  # KNARGO_DEBUG shows it, without the value
    for run in runs:
        assert_no_leak(run.stdout.decode() + run.stderr.decode())
    assert_no_leak(" ".join(argv))
    assert value_of(kube, REPO, "NPM_TOKEN") == VALUE.encode()


def test_the_prompt_on_a_terminal_does_not_echo(kube: FakeKube, kubeconfig: str) -> None:
    argv = [
        sys.executable,
        "-m",
        "knargo.cli",
        "secrets",
        "set",
        REPO,
        "NPM_TOKEN",
        "--kubeconfig",
        kubeconfig,
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with the fake's threads
        pid, terminal = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal
        os.execv(sys.executable, argv)
    seen = _read_until(terminal, b"(hidden): ")
    os.write(terminal, (VALUE + "\n").encode())
    seen += _read_until(terminal, None)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    text = seen.decode(errors="replace")
    assert f"Value of NPM_TOKEN for {REPO} (hidden): " in text
    assert f"created {REPO} NPM_TOKEN" in text
    assert_no_leak(text)
    assert value_of(kube, REPO, "NPM_TOKEN") == VALUE.encode()


def _read_until(terminal: int, marker: bytes | None, timeout: float = 60) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline and (marker is None or marker not in seen):
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen
