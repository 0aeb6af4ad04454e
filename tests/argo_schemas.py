"""Validators for Argo manifests: the published JSON schemas and the full CRD schemas.

The JSON schema (v4.1.2 and v3.7.18) checks types and required fields; the CRDs'
`openAPIV3Schema` (v4.1.2) also checks name patterns, enums and the cron pattern, as the
Kubernetes API server would. Loading the CRDs takes a while, so validators are cached.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import yaml

from reference import reference_path

__all__ = ["VERSIONS", "problems"]

VERSIONS = ("v4.1.2", "v3.7.18")
_CRDS = {"Workflow": "argoproj.io_workflows.yaml", "CronWorkflow": "argoproj.io_cronworkflows.yaml"}
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _json_schema(version: str) -> dict[str, Any]:
    parts = ("schemas", "argo-workflows", "schema.json")
    if version != "v4.1.2":
        parts = ("schemas", "argo-workflows", version, "schema.json")
    with reference_path(*parts).open() as f:
        return json.load(f)  # type: ignore[no-any-return]


@functools.cache
def _schema_validator(version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = _json_schema(version)
    wrapper = {
        "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}",
        "definitions": schema["definitions"],
    }
    return jsonschema.Draft202012Validator(wrapper)


@functools.cache
def _crd_validator(kind: str) -> jsonschema.Draft7Validator:
    with reference_path("schemas", "argo-workflows", _CRDS[kind]).open() as f:
        crd = yaml.load(f, Loader=_Loader)
    return jsonschema.Draft7Validator(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _messages(validate: Callable[[Any], Any], manifest: dict[str, Any], label: str) -> list[str]:
    return [
        f"{label}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validate(manifest)
    ]


def problems(manifest: dict[str, Any]) -> list[str]:
    """Every reason the Argo JSON schemas (both versions) or the CRD would reject `manifest`."""
    kind = manifest["kind"]
    found = []
    for version in VERSIONS:
        found += _messages(
            _schema_validator(version, kind).iter_errors, manifest, f"schema {version}"
        )
    found += _messages(_crd_validator(kind).iter_errors, manifest, "CRD v4.1.2")
    return found
