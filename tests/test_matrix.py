"""`matrix:`: combinations as GitHub Actions computes them, and what translation makes of them.

GitHub's documented examples ("Using a matrix for your jobs": expanding and adding
combinations, excluding) are checked as tables; a property test translates random matrices
with include/exclude and checks the Workflow's tasks against a reference that follows the
documentation's words, the names' validity and uniqueness, and that `needs` wait for all.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knargo.config.settings import Settings
from knargo.contract.events import GitEvent, JobInfo, PipelineSubmitted
from knargo.functions import status
from knargo.language import matrix
from knargo.language.lint import check
from knargo.translation.plan import plan
from knargo.translation.templates import with_defaults

EVENT = GitEvent.model_validate(
    {
        "forge_kind": "github",
        "forge_name": "github",
        "repository": "acme/api",
        "repository_url": "https://github.com/acme/api",
        "clone_url": "https://github.com/acme/api.git",
        "default_branch": "main",
        "kind": "push",
        "ref": "refs/heads/main",
        "sha": "9f2c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807",
        "sender": "octocat",
        "delivery_id": "d1",
    }
)
TASK_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def test_githubs_example_of_expanding_and_adding_combinations() -> None:
    found = matrix.combinations(
        {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    )
    assert found == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_githubs_example_of_excluding_combinations() -> None:
    found = matrix.combinations(
        {"os": ["macos-latest", "windows-latest"], "version": ["12", "14", "16"],
         "environment": ["staging", "production"]},
        exclude=[
            {"os": "macos-latest", "version": "12", "environment": "production"},
            {"os": "windows-latest", "version": "16"},
        ],
    )  # fmt: skip
    assert len(found) == 12 - 1 - 2
    assert {"os": "windows-latest", "version": "16", "environment": "staging"} not in found
    assert {"os": "macos-latest", "version": "12", "environment": "staging"} in found


def test_include_only_matrix_has_its_entries_and_excluded_axes_leave_includes() -> None:
    assert matrix.combinations({}, include=[{"a": "1"}, {"a": "2", "b": "x"}]) == [
        {"a": "1"},
        {"a": "2", "b": "x"},
    ]
    assert matrix.combinations({"a": ["1"]}, [{"a": "2"}], [{"a": "1"}]) == [{"a": "2"}]
    same = [{"a": "2", "b": "x"}, {"b": "x", "a": "2"}]  # one combination, keys in any order
    assert matrix.combinations({"a": ["1"]}, same, [{"a": "1"}]) == [{"a": "2", "b": "x"}]


def test_an_include_never_overwrites_an_axis_but_may_overwrite_an_added_value() -> None:
    found = matrix.combinations(
        {"os": ["linux"]}, include=[{"extra": "one"}, {"os": "linux", "extra": "two"}]
    )
    assert found == [{"os": "linux", "extra": "two"}]


def reference(
    axes: dict[str, list[str]], include: list[dict[str, str]], exclude: list[dict[str, str]]
) -> list[dict[str, str]]:
    """GitHub's documentation, sentence by sentence, as a set of frozen mappings."""
    product = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    if not axes:
        product = []
    # "An excluded configuration only has to be a partial match for it to be excluded."
    kept = [c for c in product if not any(e.items() <= c.items() for e in exclude)]
    added: list[dict[str, str]] = []
    for entry in include:
        # "... added to each of the matrix combinations if none of the key:value pairs
        # overwrite any of the original matrix values"
        targets = [c for c in kept if all(c[k] == v for k, v in entry.items() if k in axes)]
        for combination in targets:
            combination.update(entry)
        if not targets:  # "... a new matrix combination will be created instead"
            added.append(dict(entry))
    result: list[dict[str, str]] = []
    for combination in kept + added:
        if combination not in result:
            result.append(combination)
    return result


VALUES = st.sampled_from(["3.1", "3-1", "3.10", "a b", "A", "x_y", "1", "true", "ubuntu", "é"])
AXES = st.sampled_from(["python", "os", "node-version", "arch"])


@st.composite
def matrices(draw: st.DrawFn) -> tuple[dict[str, list[str]], list[Any], list[Any]]:
    axes = draw(
        st.dictionaries(AXES, st.lists(VALUES, min_size=1, max_size=4, unique=True), max_size=3)
    )
    keys = st.sampled_from([*axes, "extra"]) if axes else st.just("extra")
    entry = st.dictionaries(keys, VALUES, min_size=1, max_size=3)
    include = draw(st.lists(entry, max_size=3))
    exclude = draw(
        st.lists(st.dictionaries(st.sampled_from(list(axes)), VALUES, min_size=1), max_size=3)
        if axes
        else st.just([])
    )
    return axes, include, exclude


def _ci_yaml(axes: dict[str, list[str]], include: list[Any], exclude: list[Any]) -> str:
    spec: dict[str, Any] = dict(axes)
    if include:
        spec["include"] = include
    if exclude:
        spec["exclude"] = exclude
    jobs = {
        "test": {"image": "alpine", "run": "true", "matrix": spec},
        "after": {"image": "alpine", "run": "true", "needs": "test"},
    }
    return json.dumps({"jobs": jobs})  # JSON is YAML, and quotes every value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrices())
def test_random_matrices_translate_to_their_combinations(
    drawn: tuple[dict[str, list[str]], list[Any], list[Any]],
) -> None:
    axes, include, exclude = drawn
    expected = reference(axes, include, exclude)
    checked = check(_ci_yaml(axes, include, exclude))
    if not expected or (not axes and not include):
        assert checked.config is None
        return
    shown = matrix.display_names("test", None, expected)
    if len(set(shown)) < len(shown):  # values with ", " and "=" that read alike: lint says so
        assert checked.config is None
        assert {d.rule for d in checked.diagnostics} == {"name"}
        return
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, EVENT, Settings.embedded())
    assert result.workflow is not None
    spec: Any = result.workflow["spec"]
    templates = {t["name"]: with_defaults(spec["templateDefaults"], t) for t in spec["templates"]}
    tasks = spec["templates"][0]["dag"]["tasks"]
    combos = [t for t in tasks if t["name"] != "after"]
    found = []
    for task in combos:
        env = {e["name"]: e["value"] for e in templates[task["template"]]["container"]["env"]}
        found.append({k: v for k, v in env.items() if k.startswith("MATRIX_")})
    assert found == [{matrix.env_name(k): v for k, v in c.items()} for c in expected]
    names = [t["name"] for t in tasks]
    assert len(set(names)) == len(names)
    assert all(TASK_NAME.match(n) and len(n) <= 128 for n in names), names
    annotations = [t["metadata"]["annotations"]["knargo.dev/job"] for t in spec["templates"][1:]]
    assert annotations == [*shown, "after"]
    assert len(set(shown)) == len(shown)
    labels = [t["metadata"]["labels"]["knargo.dev/job"] for t in spec["templates"][1:]]
    assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in labels), labels
    after = next(t for t in tasks if t["name"] == "after")
    assert after["dependencies"] == [t["name"] for t in combos]
    assert [j.id for j in result.jobs] == [*shown, "after"]


@pytest.mark.parametrize(
    ("job_id", "name", "combination", "shown"),
    [
        ("test", None, None, "test"),
        ("test", "Unit tests", None, "Unit tests"),
        ("test", None, {"python": "3.12", "os": "ubuntu"}, "test (3.12, ubuntu)"),
        ("test", "py ${{ matrix.python }}", {"python": "3.12"}, "py 3.12"),
        ("test", "tests", {"python": "3.12"}, "tests (3.12)"),
    ],
)
def test_display_names(
    job_id: str, name: str | None, combination: dict[str, str] | None, shown: str
) -> None:
    assert matrix.display_name(job_id, name, combination) == shown


def test_combinations_whose_names_clean_alike_get_a_digest() -> None:
    checked = check(json.dumps({"jobs": {
        "test": {"image": "alpine", "run": "true", "matrix": {"v": ["3.1", "3-1", "3 1"]}},
        "test-3-1": {"image": "alpine", "run": "true"},
    }}))  # fmt: skip
    assert checked.config is not None
    result = plan(checked.config, EVENT, Settings.embedded())
    names = [j.task for j in result.jobs]
    assert names[-1] == "test-3-1"
    assert len(set(names)) == 4
    assert all(n.startswith("test-3-1-") for n in names[:3])


def test_too_many_jobs_counting_combinations_is_an_error_naming_the_limit() -> None:
    jobs: dict[str, Any] = {
        f"j{i}": {"image": "alpine", "run": "true", "matrix": {"a": list("abcdefghij")}}
        for i in range(20)
    }
    checked = check(json.dumps({"jobs": jobs}))
    assert checked.config is None
    assert any(
        "the pipeline has 200 jobs, counting each matrix combination as one" in d.message
        and "at most 199" in d.message
        for d in checked.diagnostics
    )


def test_combinations_shown_alike_show_their_keys() -> None:
    combinations = [{"python": "3.1", "os": "3.1"}, {"python": "3.1"}, {"os": "3.1"}]
    assert matrix.display_names("test", None, combinations) == [
        "test (3.1, 3.1)",
        "test (python=3.1)",
        "test (os=3.1)",
    ]


def test_each_combination_reports_its_own_status_context() -> None:
    checked = check(
        "jobs:\n"
        "  test:\n"
        "    image: python:${{ matrix.python }}\n"
        "    run: pytest\n"
        "    matrix: {python: [3.12, 3.13], os: [ubuntu]}\n"
    )
    assert checked.config is not None
    result = plan(checked.config, EVENT, Settings.embedded())
    assert result.workflow is not None
    submitted = PipelineSubmitted(
        event=EVENT,
        namespace="ci",
        workflow=result.workflow["metadata"]["name"],
        ui_url="https://argo.example",
        jobs=[JobInfo(id=j.id, task=j.task, needs=list(j.needs)) for j in result.jobs],
        created=True,
    )
    assert [u.context for u in status.from_submitted(submitted, "knargo")] == [
        "knargo",
        "knargo/test (3.12, ubuntu)",
        "knargo/test (3.13, ubuntu)",
    ]
    workflow: dict[str, Any] = json.loads(json.dumps(result.workflow))
    workflow["status"] = {
        "phase": "Running",
        "nodes": {
            "n1": {"id": "n1", "type": "Pod", "displayName": "test-3-12-ubuntu",
                   "templateName": "test-3-12-ubuntu", "phase": "Failed", "message": "exit 1"},
            "n2": {"id": "n2", "type": "Pod", "displayName": "test-3-13-ubuntu",
                   "templateName": "test-3-13-ubuntu", "phase": "Running"},
        },
    }  # fmt: skip
    _, updates = status.from_workflow(workflow, "knargo", "https://argo.example")
    assert [(u.context, u.state.value) for u in updates] == [
        ("knargo", "running"),
        ("knargo/test (3.12, ubuntu)", "failure"),
        ("knargo/test (3.13, ubuntu)", "running"),
    ]


def test_a_combination_is_named_alike_whether_or_not_a_job_named_like_it_runs() -> None:
    text = json.dumps({"jobs": {
        "test": {"image": "alpine", "run": "true", "matrix": {"v": ["1"]}},
        "test-1": {"image": "alpine", "run": "true", "if": "event == 'tag'"},
    }})  # fmt: skip
    checked = check(text)
    assert checked.config is not None
    push = plan(checked.config, EVENT, Settings.embedded())
    tag = plan(
        checked.config,
        GitEvent.model_validate({**EVENT.model_dump(), "kind": "tag", "ref": "refs/tags/v1"}),
        Settings.embedded(),
    )
    assert [j.id for j in push.jobs] == ["test (1)"]
    assert [j.task for j in push.jobs] == [tag.jobs[0].task]
    assert push.jobs[0].task.startswith("test-1-")
    assert [j.task for j in tag.jobs] == [push.jobs[0].task, "test-1"]


def test_values_argo_would_take_for_tags_never_reach_the_manifest_as_tags() -> None:
    checked = check(json.dumps({"jobs": {
        "test": {"image": "alpine", "run": "true", "name": "t {{x}} ${{ matrix.v }}",
                 "env": {"V": "${{ matrix.v }}"}, "matrix": {"v": ["{{.}}", "$(x)"]}},
    }}))  # fmt: skip
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, EVENT, Settings.embedded())
    assert result.workflow is not None
    assert "{{" not in json.dumps(result.workflow)
    assert [j.id for j in result.jobs] == ["t { {x}} { {.}}", "t { {x}} $(x)"]
    spec: Any = result.workflow["spec"]
    shown = [t["metadata"]["annotations"]["knargo.dev/job"] for t in spec["templates"][1:]]
    assert shown == [j.id for j in result.jobs]
