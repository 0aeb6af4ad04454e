"""What the functions and the command line import at start-up, in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from knargo.io.kube import Cluster
from knargo.io.kubeclient import k8s
from knargo.language.dialect import CiConfig, Job
from knargo.language.fielddocs import DocumentedSchema, field_docstrings


def _modules_after(code: str, environ: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, **(environ or {})},
    )
    return list(json.loads(result.stdout.splitlines()[-1]))


def test_the_kube_module_imports_only_the_client_it_calls() -> None:
    loaded = _modules_after(
        "from knargo.io.kube import k8s\nk8s.ApiClient, k8s.Configuration, k8s.CustomObjectsApi"
    )
    assert "kubernetes.client.api.custom_objects_api" in loaded
    unused = ("kubernetes.config.kube_config", "kubernetes.dynamic", "kubernetes.watch")
    assert [m for m in unused if m in loaded] == []


def test_the_kubernetes_package_stays_whole_for_code_that_uses_it() -> None:
    code = (
        "import knargo.io.kube, kubernetes\n"
        "from kubernetes import config, watch\n"
        "print(kubernetes.__version__, callable(config.load_kube_config), watch.Watch)"
    )
    loaded = _modules_after(code)
    assert "kubernetes.config.kube_config" in loaded and "kubernetes.watch" in loaded


def test_the_dialect_does_not_read_its_source_at_import() -> None:
    """Docstrings are read when the schema is generated (`knargo schema`), not at import."""
    assert Job.model_fields["image"].description is None


def test_field_docstrings_become_the_schema_descriptions() -> None:
    docs = field_docstrings(Job)
    assert docs["image"].startswith("Container image the script runs in")
    schema = CiConfig.model_json_schema(by_alias=True, schema_generator=DocumentedSchema)
    job = schema["$defs"]["Job"]["properties"]
    assert job["image"]["description"] == docs["image"]
    assert (
        "description"
        not in CiConfig.model_json_schema(by_alias=True)["$defs"]["Job"]["properties"]["image"]
    )


def test_a_subcommand_imports_only_its_own_module() -> None:
    loaded = _modules_after(
        "import contextlib, io\nfrom knargo.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['version'])"
    )
    others = [f"knargo.cli.{name}" for name in ("dev", "lint", "run", "runners", "secrets")]
    assert [m for m in others if m in loaded] == []


def test_the_help_still_lists_every_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "knargo.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    for name in ("render", "lint", "schema", "secrets", "runners", "run", "dev", "version"):
        assert f"\n    {name} " in result.stdout


def test_generate_and_report_connect_without_building_the_api_client(tmp_path: Path) -> None:
    """The pod's service account is read at start (a missing one stops the function), the
    client's `ApiClient` (dateutil, multiprocessing, `kubernetes.utils`) is built on first use."""
    (tmp_path / "token").write_text("t0ken")
    (tmp_path / "ca.crt").write_text("not read before the first call\n")
    code = (
        "import os\nfrom knargo.io.kube import Cluster\n"
        "import kubernetes.config.incluster_config as pod\n"
        f"pod.SERVICE_TOKEN_FILENAME = {str(tmp_path / 'token')!r}\n"
        f"pod.SERVICE_CERT_FILENAME = {str(tmp_path / 'ca.crt')!r}\n"
        "Cluster.connect(os.environ)\n"
    )
    pod = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "9"}
    loaded = _modules_after(code, pod)
    built = ("kubernetes.client.api_client", "kubernetes.client.api.custom_objects_api")
    assert [m for m in built if m in loaded] == []
    with pytest.raises(subprocess.CalledProcessError, match="exit status 1"):
        _modules_after(code.replace("t0ken", "").replace("token'", "missing'"), pod)


def test_a_cluster_connects_once_on_first_use() -> None:
    made: list[Any] = []

    class Api:
        def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"metadata": {"name": args[4]}}

    def connect() -> Any:
        made.append(object())
        return made[-1]

    cluster = Cluster(connect=connect)
    assert made == []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(k8s, "CustomObjectsApi", lambda client: Api() if client is made[0] else None)
        assert cluster.get_workflow("ci", "a") == {"metadata": {"name": "a"}}
        assert cluster.get_workflow("ci", "b") == {"metadata": {"name": "b"}}
    assert len(made) == 1


def test_a_forge_client_loads_no_tls_before_its_first_request() -> None:
    loaded = _modules_after("from knargo.io.network import ForgeClient\nForgeClient()")
    assert "httpcore" not in loaded
