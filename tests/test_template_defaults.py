"""What every job shares travels once, in `templateDefaults`, and merges back exactly.

Argo merges `spec.templateDefaults` into each template before it runs it (a strategic merge
patch; the template wins). The translator moves into the defaults only what every job's
containers have alike, so merging gives each job its whole template back: these tests merge
(`with_defaults`, the subset of the strategic merge knargo's manifests need) and compare with
the templates before factoring. The point of it is size: a plain job costs a few hundred bytes,
so a 1,000-job pipeline fits in what Kubernetes can store.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from argo_schemas import problems
from knargo.config.settings import Settings, parse_settings
from knargo.contract.events import GitEvent
from knargo.language.dialect import CiConfig
from knargo.language.lint import check
from knargo.translation import plan as plan_module
from knargo.translation.plan import MAX_MANIFEST_BYTES, plan
from knargo.translation.templates import SpecBuilder, factor_defaults, with_defaults
from test_translate_golden import BASE_EVENT, CASES

EVENT = GitEvent.model_validate(BASE_EVENT)


def _plain_jobs(count: int) -> CiConfig:
    jobs = {f"job{i}": {"image": "alpine:3.20", "run": "make test"} for i in range(count)}
    return CiConfig.model_validate({"jobs": jobs})


def _unordered_env(template: Any) -> Any:
    """The template with env vars by name: their order is free, since no plain value refers
    to another (`$(NAME)` always travels encoded)."""
    copy = json.loads(json.dumps(template))
    for container in [*copy.get("initContainers", []), copy.get("container", {})]:
        if "env" in container:
            container["env"] = sorted(container["env"], key=lambda e: e["name"])
    return copy


def _size(manifest: Any) -> int:
    return len(json.dumps(manifest, separators=(",", ":")))


@pytest.mark.parametrize("case", ["every-key", "runner-security", "id-collisions", "braces"])
def test_merging_the_defaults_gives_every_job_its_whole_template(case: str) -> None:
    folder = CASES / case
    settings = Settings.embedded()
    if (folder / "config.yaml").exists():
        settings, found = parse_settings((folder / "config.yaml").read_text(), "config.yaml")
        assert settings is not None, found
    config = check((folder / "ci.yaml").read_text(), settings=settings).config
    assert config is not None
    private = EVENT.model_copy(update={"private": True})  # the token from a Secret too
    builder = SpecBuilder(config, private, settings, None, [])
    whole = builder.templates(dict(config.jobs), "push")
    spec = builder.spec(dict(config.jobs), "push")
    merged = [with_defaults(spec["templateDefaults"], t) for t in spec["templates"][1:]]
    assert [_unordered_env(t) for t in merged] == [_unordered_env(t) for t in whole]
    assert whole


def test_only_what_all_jobs_share_moves() -> None:
    config = CiConfig.model_validate(
        {
            "env": {"SHARED": "1", "MIXED": "top"},
            "jobs": {
                "a": {"image": "alpine", "run": "a", "env": {"MIXED": "a"}},
                "b": {"image": "alpine", "run": "b", "shell": "bash"},
            },
        }
    )
    spec = SpecBuilder(config, EVENT, Settings.embedded(), None, []).spec(dict(config.jobs), "push")
    defaults = spec["templateDefaults"]["container"]
    shared = {e["name"] for e in defaults.get("env", [])}
    assert "SHARED" in shared
    assert not {"MIXED", "KNARGO_JOB"} & shared
    assert "command" not in defaults  # sh and bash differ
    for template in spec["templates"][1:]:
        own = template.get("container", {})
        assert own["image"] == "alpine"
        assert {e["name"] for e in own.get("env", [])} & shared == set()
        assert "command" in own


def test_the_dag_template_takes_no_container_from_the_defaults() -> None:
    spec = plan(_plain_jobs(2), EVENT, Settings.embedded()).workflow
    assert spec is not None
    dag = with_defaults(spec["spec"]["templateDefaults"], spec["spec"]["templates"][0])
    assert set(dag) == {"name", "dag"}


def test_the_defaults_image_is_never_a_jobs_image() -> None:
    defaults, templates = factor_defaults(
        SpecBuilder(_plain_jobs(1), EVENT, Settings.embedded(), None, []).templates(
            dict(_plain_jobs(1).jobs), "push"
        ),
        "placeholder",
    )
    assert defaults["container"].get("image") == "placeholder"
    assert templates[0]["container"].get("image") == "alpine:3.20"


def test_a_plain_job_costs_under_a_thousand_bytes() -> None:
    small = plan(_plain_jobs(10), EVENT, Settings.embedded()).workflow
    large = plan(_plain_jobs(110), EVENT, Settings.embedded()).workflow
    per_job = (_size(large) - _size(small)) / 100
    assert per_job <= 1000, per_job


def test_a_thousand_job_pipeline_renders_under_one_mebibyte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Argo v4's CRD stops at 200 templates (next test); without that limit (Argo v3.7) the
    # bytes alone would allow 1,000 jobs.
    monkeypatch.setattr(plan_module, "MAX_TEMPLATES", 10_000)
    result = plan(_plain_jobs(1000), EVENT, Settings.embedded())
    assert result.rejected is None
    assert result.workflow is not None
    assert len(result.jobs) == 1000
    assert _size(result.workflow) < MAX_MANIFEST_BYTES


def test_more_jobs_than_argo_v4_stores_are_refused_with_the_limit() -> None:
    result = plan(_plain_jobs(200), EVENT, Settings.embedded())
    assert result.workflow is None
    assert result.rejected == (
        "the pipeline has 200 jobs; Argo Workflows accepts at most 200 templates in a "
        "Workflow (its CRD's limit), so at most 199 jobs: split the pipeline or use fewer jobs"
    )


def test_the_largest_pipeline_argo_v4_stores_is_valid_for_argo() -> None:
    """Argo v4's full CRD allows 200 templates (and DAG tasks): the DAG and 199 jobs."""
    workflow = plan(_plain_jobs(199), EVENT, Settings.embedded()).workflow
    assert workflow is not None
    assert problems(workflow) == []
