"""How `checkout:` reaches the Workflow: which script, each job's words, and what it costs.

A pipeline that writes no `checkout:` keeps today's init script (its renders are the golden
files, unchanged). One that does runs `jobpod.CHECKOUT_SCRIPT`, once, in `templateDefaults`,
and each job adds one short env var, which also moves to the defaults when all jobs agree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from argo_schemas import problems
from knargo.cli.explain import explain
from knargo.config.settings import Settings
from knargo.contract.events import GitEvent
from knargo.language.lint import check
from knargo.translation import jobpod
from knargo.translation.plan import plan
from knargo.translation.templates import SpecBuilder, with_defaults
from test_translate_golden import BASE_EVENT, CASES

EVENT = GitEvent.model_validate(BASE_EVENT)
JOB = "    image: alpine:3.20\n    run: make\n"


def _workflow(ci_yaml: str, event: GitEvent = EVENT) -> dict[str, Any]:
    checked = check(ci_yaml)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, event, Settings.embedded())
    assert result.workflow is not None, result.skipped
    assert problems(result.workflow) == []
    return result.workflow  # type: ignore[return-value]


def _init(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    spec = workflow["spec"]
    (template,) = [t for t in spec["templates"] if t["name"] == job]
    init: dict[str, Any] = with_defaults(spec["templateDefaults"], template)["initContainers"][0]
    return init


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _script(workflow: dict[str, Any]) -> str:
    script: str = workflow["spec"]["templateDefaults"]["initContainers"][0]["command"][2]
    return script


def test_without_checkout_keys_the_init_script_is_unchanged() -> None:
    workflow = _workflow(f"jobs:\n  a:\n{JOB}  b:\n{JOB}")
    assert _script(workflow) == jobpod.INIT_SCRIPT
    assert f'"{jobpod.CHECKOUT}"' not in json.dumps(workflow)


@pytest.mark.parametrize(
    ("top", "own", "words"),
    [
        ("{}", None, "depth=1"),
        ("{depth: 0, tags: true}", None, "depth=0 tags"),
        ("{depth: 0, tags: true}", "{submodules: true}", "depth=1 submodules"),
        ("false", None, "false"),
        ("false", "{depth: 3}", "depth=3"),
        (None, "false", "false"),
    ],
)
def test_a_jobs_own_checkout_replaces_the_top_level_one(
    top: str | None, own: str | None, words: str
) -> None:
    ci_yaml = f"checkout: {top}\n" if top else ""
    ci_yaml += f"jobs:\n  a:\n{JOB}" + (f"    checkout: {own}\n" if own else "")
    workflow = _workflow(ci_yaml)
    assert _script(workflow) == jobpod.CHECKOUT_SCRIPT
    assert _env(_init(workflow, "a"))[jobpod.CHECKOUT] == words


def test_the_options_script_is_written_once_and_each_job_adds_one_short_value() -> None:
    jobs = "".join(f"  j{i}:\n{JOB}    checkout: {{depth: {i}}}\n" for i in range(1, 41))
    workflow = _workflow("jobs:\n" + jobs)
    text = json.dumps(workflow)
    assert text.count("for option in") == 1
    plain = json.dumps(_workflow("jobs:\n" + "".join(f"  j{i}:\n{JOB}" for i in range(1, 41))))
    per_job = (len(text) - len(plain) - len(jobpod.CHECKOUT_SCRIPT)) / 40
    assert per_job < 60, per_job


@pytest.mark.parametrize(
    ("fields", "scope"),
    [
        ({"private": True}, "forge"),
        (
            {
                "private": True,
                "kind": "pull_request",
                "ref": "refs/heads/fix",
                "base_ref": "refs/heads/main",
                "pr_number": 42,
                "head_repository": "contributor/api",
                "fork": True,
            },
            "repository",
        ),
        ({}, None),
    ],
)
def test_the_token_goes_to_the_forge_except_for_a_forks_pull_request(
    fields: dict[str, Any], scope: str | None
) -> None:
    event = GitEvent.model_validate({**BASE_EVENT, **fields})
    init = _init(_workflow(f"jobs:\n  a:\n{JOB}    checkout: {{submodules: true}}\n", event), "a")
    assert _env(init).get("KNARGO_GIT_SCOPE") == scope
    tokens = [e for e in init["env"] if e["name"] == "KNARGO_GIT_TOKEN"]
    assert bool(tokens) is (scope is not None)


def test_only_the_jobs_that_run_decide_the_script() -> None:
    ci_yaml = (
        f"jobs:\n  a:\n{JOB}  release:\n{JOB}    if: event == 'tag'\n"
        "    checkout: {depth: 0, tags: true}\n"
    )
    assert _script(_workflow(ci_yaml)) == jobpod.INIT_SCRIPT
    tag = GitEvent.model_validate({**BASE_EVENT, "kind": "tag", "ref": "refs/tags/v1"})
    assert _script(_workflow(ci_yaml, tag)) == jobpod.CHECKOUT_SCRIPT


def test_render_explain_shows_each_jobs_checkout() -> None:
    ci_yaml = "checkout: {depth: 0, tags: true}\n"
    ci_yaml += f"jobs:\n  a:\n{JOB}  b:\n{JOB}    checkout: false\n"
    text = explain([_workflow(ci_yaml)])
    assert "  job a: template a, image alpine:3.20\n    checkout: depth=0 tags\n" in text
    assert "  job b: template b, image alpine:3.20\n    checkout: false\n" in text
    assert "checkout:" not in explain([_workflow(f"jobs:\n  a:\n{JOB}")])


@pytest.mark.parametrize("case", ["checkout-options", "checkout-private-fork"])
def test_merging_the_defaults_gives_each_job_its_whole_checkout(case: str) -> None:
    config = check((CASES / case / "ci.yaml").read_text()).config
    assert config is not None
    event = GitEvent.model_validate({**BASE_EVENT, "private": True})
    builder = SpecBuilder(config, event, Settings.embedded(), None, [])
    whole = builder.templates(dict(config.jobs), "push")
    spec = builder.spec(dict(config.jobs), "push")
    merged = [with_defaults(spec["templateDefaults"], t) for t in spec["templates"][1:]]
    by_name = [{e["name"]: e for e in t["initContainers"][0]["env"]} for t in merged]
    assert by_name == [{e["name"]: e for e in t["initContainers"][0]["env"]} for t in whole]
    assert [t["initContainers"][0]["command"] for t in merged] == [
        t["initContainers"][0]["command"] for t in whole
    ]
