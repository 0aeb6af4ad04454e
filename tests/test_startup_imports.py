"""What the functions and the command line import at start-up, in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

from knargo.language.dialect import CiConfig, Job
from knargo.language.fielddocs import DocumentedSchema, field_docstrings


def _modules_after(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
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
