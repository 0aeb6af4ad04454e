"""`knargo render --explain`: what each job runs, readable, beside its template's name.

Scripts travel base64-encoded in the manifest (Argo substitutes `{{...}}` everywhere in a
template and has no escape), so neither the YAML nor the Argo UI shows them. This decodes them
from the manifests `render` would print (`templateDefaults` merged in, as Argo does): each
job's template, image, environment (plain values, the Secrets referenced, the values that
travel in the encoded env file), script and services (with their decoded readiness
checks). It reads what is emitted; it changes nothing that
is emitted.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from knargo.translation.templates import with_defaults

__all__ = ["explain"]

JOB = "knargo.dev/job"
SCRIPT, ENV_FILE, CHECKOUT = "KNARGO_SCRIPT", "KNARGO_ENV", "KNARGO_CHECKOUT"
READY = "KNARGO_SERVICE_READY"


def explain(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Every job of every manifest, in plain text."""
    out: list[str] = []
    for manifest in manifests:
        spec = manifest["spec"]
        spec = spec.get("workflowSpec", spec)  # a CronWorkflow's Workflow
        out.append(f"{manifest['kind']} {manifest['metadata']['name']}")
        defaults = spec.get("templateDefaults")
        for template in spec["templates"]:
            job = ((template.get("metadata") or {}).get("annotations") or {}).get(JOB)
            if job is not None:
                out += _job(job, with_defaults(defaults, template))
    return "".join(line + "\n" for line in out)


def _job(job: str, template: Mapping[str, Any]) -> list[str]:
    container = template["container"]
    init_env = {
        e["name"]: e.get("value", "")
        for init in template.get("initContainers", [])
        for e in init.get("env", [])
    }
    lines = [
        "",
        f"  job {job}: template {template['name']}, image {container['image']}",
    ]
    if CHECKOUT in init_env:  # only when the pipeline writes `checkout:`
        lines.append(f"    checkout: {init_env[CHECKOUT]}")
    lines.append("    env:")
    lines += [_variable(v) for v in container.get("env", [])]
    if init_env.get(ENV_FILE):
        lines.append("    env sourced from the encoded env file (values with {{):")
        lines += [f"      {line}" for line in _decoded(init_env[ENV_FILE]).splitlines()]
    lines.append("    script:")
    lines += [f"      | {line}" for line in _decoded(init_env.get(SCRIPT, "")).splitlines()]
    for sidecar in template.get("sidecars", []):
        lines += _service(sidecar)
    return lines


def _service(sidecar: Mapping[str, Any]) -> list[str]:
    """A service: its image, ports, env (Secrets referenced) and decoded readiness check."""
    ports = ", ".join(str(p["containerPort"]) for p in sidecar.get("ports", []))
    lines = [f"    service {sidecar['name']}: image {sidecar['image']}, ports {ports or 'none'}"]
    ready = ""
    for variable in sidecar.get("env", []):
        if variable["name"] == READY:
            ready = _decoded(variable["value"])
            continue
        lines.append(_variable(variable))
    lines.append(f"      ready when: {ready}" if ready else "      ready when: started")
    return lines


def _variable(variable: Mapping[str, Any]) -> str:
    ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
    shown = f"<Secret {ref['name']}, key {ref['key']}>" if ref else variable.get("value", "")
    return f"      {variable['name']}={shown}"


def _decoded(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", "surrogateescape")
