"""Golden translation cases: ci.yaml + event (+ config, catalog) → manifests and notes.

Each folder under golden/translate/ holds `ci.yaml`, `case.yaml` (the event fields that
differ from the base event, `changed_paths`, `trigger`), optionally `config.yaml` and
`catalog.yaml`, and the expected `expected.yaml`. Every manifest is also validated against
Argo's published schemas, and its DAG against the controller's validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import argo_validate
from argo_schemas import problems
from golden import assert_golden
from knargo.cli.render import dump
from knargo.config.catalog import parse_catalog
from knargo.config.settings import Settings, parse_settings
from knargo.contract.events import GitEvent
from knargo.language.lint import check
from knargo.translation.plan import plan

CASES = Path(__file__).parent / "golden" / "translate"
BASE_EVENT: dict[str, Any] = {
    "forge_kind": "github",
    "forge_name": "github",
    "repository": "acme/api",
    "repository_url": "https://github.com/acme/api",
    "clone_url": "https://github.com/acme/api.git",
    "default_branch": "main",
    "kind": "push",
    "ref": "refs/heads/main",
    "sha": "9f2c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807",
    "before": "1111111111111111111111111111111111111111",
    "sender": "octocat",
    "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
}


def _case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "case.yaml").exists())


def run_case(folder: Path) -> dict[str, Any]:
    case = yaml.safe_load((folder / "case.yaml").read_text()) or {}
    settings = Settings.embedded()
    if (folder / "config.yaml").exists():
        settings, problems_ = parse_settings((folder / "config.yaml").read_text(), "config.yaml")
        assert settings is not None, problems_
    catalog = None
    if (folder / "catalog.yaml").exists():
        catalog, problems_ = parse_catalog((folder / "catalog.yaml").read_text(), "catalog.yaml")
        assert catalog is not None, problems_
    event = GitEvent.model_validate({**BASE_EVENT, **case.get("event", {})})
    checked = check(
        (folder / "ci.yaml").read_text(),
        "ci.yaml",
        settings=settings,
        catalog=catalog,
        scope=event.scope if catalog else None,
    )
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(
        checked.config,
        event,
        settings,
        catalog,
        changed_paths=case.get("changed_paths"),
        trigger=case.get("trigger", "event"),
    )
    return {
        "skipped": result.skipped,
        "notes": result.notes,
        "jobs": [{"id": j.id, "task": j.task, "needs": list(j.needs)} for j in result.jobs],
        "manifests": result.manifests,
    }


@pytest.mark.parametrize("name", _case_names())
def test_translation_matches_golden(name: str) -> None:
    result = run_case(CASES / name)
    assert_golden(CASES / name / "expected.yaml", dump([result], "yaml"))


@pytest.mark.parametrize("name", _case_names())
def test_every_manifest_is_valid_for_argo(name: str) -> None:
    for manifest in run_case(CASES / name)["manifests"]:
        assert problems(manifest) == [], manifest["metadata"]["name"]


@pytest.mark.parametrize("name", _case_names())
def test_every_dag_passes_argos_controller_validation(name: str) -> None:
    """The DAG rules the schemas cannot express (`argo_validate`): a Workflow breaking one
    is accepted by the API server and then failed by the controller ("invalid spec")."""
    for manifest in run_case(CASES / name)["manifests"]:
        assert argo_validate.problems(manifest) == [], manifest["metadata"]["name"]


def test_there_are_cases() -> None:
    assert len(_case_names()) >= 10


DOCS = Path(__file__).parent.parent / "docs"
DOC_EVENTS: list[dict[str, Any]] = [
    {},
    {"kind": "pull_request", "ref": "refs/heads/feature", "pr_number": 7},
    {"kind": "tag", "ref": "refs/tags/v1.0.0"},
]


def _doc_pipelines() -> list[tuple[str, str]]:
    """Each yaml example of the docs that lints clean: (where, text)."""
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        for i, block in enumerate(
            re.finditer(r"^```yaml\n(.*?)^```\n", doc.read_text(), re.S | re.M)
        ):
            text = block.group(1)
            if "jobs:" not in text:
                continue
            checked = check(text, "ci.yaml", settings=Settings.embedded())
            if checked.config is not None and not any(
                d.severity == "error" for d in checked.diagnostics
            ):
                found.append((f"{doc.name}#{i}", text))
    return found


DOC_PIPELINES = _doc_pipelines()


def test_docs_have_pipelines_that_render() -> None:
    assert len(DOC_PIPELINES) >= 20
    assert any("failure()" in text for _, text in DOC_PIPELINES)


@pytest.mark.parametrize(("where", "text"), DOC_PIPELINES, ids=[w for w, _ in DOC_PIPELINES])
def test_every_rendered_docs_example_passes_argos_controller_validation(
    where: str, text: str
) -> None:
    checked = check(text, "ci.yaml", settings=Settings.embedded())
    assert checked.config is not None
    for fields in DOC_EVENTS:
        event = GitEvent.model_validate({**BASE_EVENT, **fields})
        result = plan(checked.config, event, Settings.embedded(), None)
        for manifest in result.manifests:
            assert argo_validate.problems(manifest) == [], (where, fields)
