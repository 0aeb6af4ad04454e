"""Names are deterministic, within Argo's and Kubernetes' limits, and never collide."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from knargo.formats import naming

DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TEMPLATE = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")
LABEL = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
job_ids = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,99}", fullmatch=True)
repos = st.from_regex(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}(/[A-Za-z0-9][A-Za-z0-9._-]{0,60}){1,3}", fullmatch=True
)


@given(
    repo=repos,
    kind=st.sampled_from(["push", "tag", "pull_request"]),
    sha=st.from_regex(r"[0-9a-f]{40}|[0-9a-f]{64}", fullmatch=True),
    delivery=st.text(),
)
def test_workflow_names_are_valid_and_deterministic(
    repo: str, kind: str, sha: str, delivery: str
) -> None:
    name = naming.workflow_name("github", repo, kind, sha, delivery)
    assert len(name) <= 63 and DNS.match(name)
    assert name == naming.workflow_name("github", repo, kind, sha, delivery)
    assert name != naming.workflow_name("github", repo, kind, sha, delivery + "x")
    assert name != naming.workflow_name("gitlab", repo, kind, sha, delivery)


@given(repo=repos, index=st.integers(0, 99))
def test_cron_workflow_names_fit_52(repo: str, index: int) -> None:
    name = naming.cron_workflow_name("github", repo, index)
    assert len(name) <= 52 and DNS.match(name)
    assert name != naming.cron_workflow_name("github", repo, index + 1)


@given(st.lists(job_ids, unique=True, max_size=30))
def test_template_names_are_valid_unique_and_stable(ids: list[str]) -> None:
    names = naming.template_names(ids)
    assert all(TEMPLATE.match(n) and len(n) <= 128 for n in names.values())
    assert len(set(names.values())) == len(ids)
    assert "pipeline" not in names.values()
    for job_id in ids:  # a name does not depend on the other jobs
        assert naming.template_names([job_id]) == {job_id: names[job_id]}


def test_sanitised_ids_that_clean_alike_do_not_collide() -> None:
    names = naming.template_names(["build-x", "build_x", "pipeline", "_1"])
    assert names["build-x"] == "build-x"
    assert names["build_x"].startswith("build-x-") and names["build_x"] != "build-x"
    assert names["pipeline"].startswith("pipeline-")
    assert names["_1"].startswith("j-1-")


@given(st.text(max_size=200))
def test_label_values_are_valid(text: str) -> None:
    value = naming.label_value(text)
    assert len(value) <= 63 and LABEL.match(value)


def test_secret_object_names_are_dns_names_and_scope_specific() -> None:
    a = naming.secret_object_name("github.com/acme/api", "NPM_TOKEN")
    b = naming.secret_object_name("github.com/acme", "NPM_TOKEN")
    assert a != b
    assert all(DNS.match(n) and len(n) <= 253 for n in (a, b))
    assert a == naming.secret_object_name("github.com/acme/api", "NPM_TOKEN")
