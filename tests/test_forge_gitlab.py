"""GitLab webhooks: token check, delivery ids, and normalisation of every GitLab fixture.

The expected values in `CASES` were read from the fixture files by hand
(`../shared/fixtures/gitlab/`, see its README), not computed by the code under test.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knargo.config.settings import Forge
from knargo.contract.events import EventKind, ForgeKind, GitEvent
from knargo.forges.gitlab import WEBHOOKS, GitLabWebhooks
from knargo.forges.payload import Headers, Ignored, PayloadError, Ping, body_digest
from reference import reference_path

GITLAB_COM = Forge(
    name="gitlab",
    kind=ForgeKind.GITLAB,
    api_url="https://gitlab.com/api/v4",
    web_url="https://gitlab.com",
)
EXAMPLE = Forge(
    name="example",
    kind=ForgeKind.GITLAB,
    api_url="http://example.com/api/v4",
    web_url="http://example.com",
)
PUSH, TAG, MR = "Push Hook", "Tag Push Hook", "Merge Request Hook"
DELIVERY = "delivery-1"


def load(*parts: str) -> dict[str, Any]:
    with reference_path("fixtures", "gitlab", *parts).open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def headers(event: str) -> Headers:
    return Headers({"X-Gitlab-Event": event, "X-Gitlab-Token": "secret"})


def parse(payload: Any, event: str, forge: Forge = GITLAB_COM) -> Any:
    return WEBHOOKS.parse(headers(event), payload, forge, DELIVERY)


# Repository fields shared by the gitlab.com captures (drone-go-scm, jenkins-x-go-scm).
HELLO = {
    "repository": "gitlab-org/hello-world",
    "repository_url": "https://gitlab.com/gitlab-org/hello-world",
    "clone_url": "https://gitlab.com/gitlab-org/hello-world.git",
    "default_branch": "master",
    "private": True,  # visibility_level 0
}
SUBGROUP = {
    "repository": "group1/group2/group3/grp2repo",
    "repository_url": "https://gitlab.com/group1/group2/group3/grp2repo",
    "clone_url": "https://gitlab.com/group1/group2/group3/grp2repo.git",
    "default_branch": "master",
    "private": True,
}
NO_PR = {"pr_number": None, "base_ref": None, "head_repository": None, "fork": False}
HELLO_MR = {
    **HELLO,
    "kind": EventKind.PULL_REQUEST,
    "ref": "refs/heads/feature",
    "sha": "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
    "before": None,
    "pr_number": 1,
    "base_ref": "refs/heads/master",
    "head_repository": "gitlab-org/hello-world",
    "fork": False,
    "changed_paths": (),
    "changed_paths_complete": False,
    "sender": "sytses",
}
DIASPORA_PUSH = {
    "repository": "mike/diaspora",
    "repository_url": "http://example.com/mike/diaspora",
    "clone_url": "http://example.com/mike/diaspora.git",
    "default_branch": "master",
    "private": True,
    "kind": EventKind.PUSH,
    "ref": "refs/heads/master",
    "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
    "changed_paths": ("CHANGELOG", "app/controller/application.rb"),
    "changed_paths_complete": False,  # total_commits_count 4, 2 listed
    **NO_PR,
}
EXAMPLE_TAG = {
    "repository": "jsmith/example",
    "repository_url": "http://example.com/jsmith/example",
    "clone_url": "http://example.com/jsmith/example.git",
    "default_branch": "master",
    "private": True,
    "kind": EventKind.TAG,
    "ref": "refs/tags/v1.0.0",
    "sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
    "before": None,
    "changed_paths": (),
    "changed_paths_complete": False,
    "sender": "John Smith",  # no user_username
    **NO_PR,
}
GITLAB_TEST_MR = {
    "repository": "gitlabhq/gitlab-test",
    "repository_url": "http://example.com/gitlabhq/gitlab-test",
    "clone_url": "http://example.com/gitlabhq/gitlab-test.git",
    "default_branch": "master",
    "private": False,  # visibility_level 20
    "kind": EventKind.PULL_REQUEST,
    "ref": "refs/heads/ms-viewport",
    "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "before": None,
    "pr_number": 1,
    "base_ref": "refs/heads/master",
    # The docs sample is inconsistent: source/target are another project than `project`,
    # but source_project_id == target_project_id (14), so it is not a fork.
    "head_repository": "awesome_space/awesome_project",
    "fork": False,
    "changed_paths": (),
    "changed_paths_complete": False,
    "sender": "root",
}

# path -> (X-Gitlab-Event, forge, expected fields or the Ignored reason)
CASES: dict[str, tuple[str, Forge, dict[str, Any] | str]] = {
    "drone-go-scm/push.json": (
        PUSH,
        GITLAB_COM,
        {
            **HELLO,
            **NO_PR,
            "kind": EventKind.PUSH,
            "ref": "refs/heads/master",
            "sha": "2adc9465c4edfc33834e173fe89436a7cb899a1d",
            "before": "9217710ce8c7e1eae7a5d1c45f6e43e1c769f866",
            "changed_paths": ("README.md",),
            "changed_paths_complete": True,
            "sender": "sytses",
        },
    ),
    "drone-go-scm/push_subgroup.json": (
        PUSH,
        GITLAB_COM,
        {
            **SUBGROUP,
            **NO_PR,
            "kind": EventKind.PUSH,
            "ref": "refs/heads/master",
            "sha": "2adc9465c4edfc33834e173fe89436a7cb899a1d",
            "before": "9217710ce8c7e1eae7a5d1c45f6e43e1c769f866",
            "changed_paths": ("README.md",),
            "changed_paths_complete": True,
            "sender": "sytses",
        },
    ),
    # A new branch: `before` is zeros, so the listed commit is not known to be all.
    "drone-go-scm/branch_create.json": (
        PUSH,
        GITLAB_COM,
        {
            **HELLO,
            **NO_PR,
            "kind": EventKind.PUSH,
            "ref": "refs/heads/feature",
            "sha": "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
            "before": None,
            "changed_paths": ("README.md",),
            "changed_paths_complete": False,
            "sender": "sytses",
        },
    ),
    "drone-go-scm/branch_delete.json": (PUSH, GITLAB_COM, "branch deleted"),
    "drone-go-scm/tag_create.json": (
        TAG,
        GITLAB_COM,
        {
            **HELLO,
            **NO_PR,
            "kind": EventKind.TAG,
            "ref": "refs/tags/v1.0.0",
            "sha": "2adc9465c4edfc33834e173fe89436a7cb899a1d",
            "before": None,
            "changed_paths": ("README.md",),
            "changed_paths_complete": False,
            "sender": "sytses",
        },
    ),
    "drone-go-scm/tag_delete.json": (TAG, GITLAB_COM, "tag deleted"),
    "drone-go-scm/pull_request_create.json": (MR, GITLAB_COM, HELLO_MR),
    "drone-go-scm/pull_request_reopen.json": (MR, GITLAB_COM, HELLO_MR),
    "drone-go-scm/pull_request_close.json": (
        MR,
        GITLAB_COM,
        'merge request action "close" does not run pipelines',
    ),
    "drone-go-scm/pull_request_merge.json": (
        MR,
        GITLAB_COM,
        'merge request action "merge" does not run pipelines',
    ),
    "drone-go-scm/merge_request_subgroup.json": (
        MR,
        GITLAB_COM,
        {**HELLO_MR, **SUBGROUP, "head_repository": "group1/group2/group3/grp2repo"},
    ),
    "jenkins-x-go-scm/pull_request_edited.json": (
        MR,
        GITLAB_COM,
        {**HELLO_MR, "before": "2ee77db7e47fecd07229e021ef89e5d46cd4f5dd"},
    ),
    "docs/push-hook.json": (PUSH, EXAMPLE, {**DIASPORA_PUSH, "sender": "jsmith"}),
    "docs/tag-push-hook.json": (TAG, EXAMPLE, EXAMPLE_TAG),
    "docs/merge-request-hook.json": (MR, EXAMPLE, GITLAB_TEST_MR),
    "go-playground/push-event.json": (PUSH, EXAMPLE, {**DIASPORA_PUSH, "sender": "John Smith"}),
    "go-playground/tag-event.json": (TAG, EXAMPLE, EXAMPLE_TAG),
    "go-playground/merge-request-event.json": (MR, EXAMPLE, GITLAB_TEST_MR),
}


def test_every_fixture_has_a_case() -> None:
    root = reference_path("fixtures", "gitlab")
    files = {str(p.relative_to(root)) for p in root.rglob("*.json")}
    assert files == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture(name: str) -> None:
    event, forge, expected = CASES[name]
    payload = load(*name.split("/"))
    result = parse(payload, event, forge)
    if isinstance(expected, str):
        assert result == Ignored(expected)
        return
    assert isinstance(result, GitEvent)
    assert {field: getattr(result, field) for field in expected} == expected
    assert result.forge_kind is ForgeKind.GITLAB
    assert result.forge_name == forge.name
    assert result.delivery_id == DELIVERY
    assert result.host == forge.host
    assert WEBHOOKS.web_url(payload) == expected["repository_url"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_header_fallback_without_object_kind(name: str) -> None:
    event, forge, _ = CASES[name]
    payload = load(*name.split("/"))
    with_kind = parse(payload, event, forge)
    del payload["object_kind"]
    assert parse(payload, event, forge) == with_kind


def test_object_kind_wins_over_header() -> None:
    payload = load("drone-go-scm", "push.json")
    result = parse(payload, "Merge Request Hook")
    assert isinstance(result, GitEvent)
    assert result.kind is EventKind.PUSH


def test_update_without_oldrev_is_ignored() -> None:
    payload = load("jenkins-x-go-scm", "pull_request_edited.json")
    del payload["object_attributes"]["oldrev"]
    assert parse(payload, MR) == Ignored("merge request update without new commits")


@pytest.mark.parametrize("action", ["approved", "unapproved", "approval", "unapproval", ""])
def test_other_merge_request_actions_are_ignored(action: str) -> None:
    payload = load("drone-go-scm", "pull_request_create.json")
    payload["object_attributes"]["action"] = action
    assert parse(payload, MR) == Ignored(f'merge request action "{action}" does not run pipelines')


def test_fork_merge_request() -> None:
    payload = load("drone-go-scm", "pull_request_create.json")
    attributes = payload["object_attributes"]
    attributes["source_project_id"] = 999
    attributes["source"]["path_with_namespace"] = "contributor/hello-world"
    result = parse(payload, MR)
    assert isinstance(result, GitEvent)
    assert result.fork is True
    assert result.head_repository == "contributor/hello-world"
    assert result.repository == "gitlab-org/hello-world"
    assert result.clone_url == "https://gitlab.com/gitlab-org/hello-world.git"


def test_merge_request_without_source_has_no_head_repository() -> None:
    payload = load("drone-go-scm", "pull_request_create.json")
    del payload["object_attributes"]["source"]
    result = parse(payload, MR)
    assert isinstance(result, GitEvent)
    assert result.head_repository is None
    assert result.fork is False


def test_push_without_total_commits_count_is_not_complete() -> None:
    payload = load("drone-go-scm", "push.json")
    del payload["total_commits_count"]
    result = parse(payload, PUSH)
    assert isinstance(result, GitEvent)
    assert result.changed_paths == ("README.md",)
    assert result.changed_paths_complete is False


def test_push_without_commits_is_not_complete() -> None:
    payload = load("drone-go-scm", "push.json")
    payload["commits"] = []
    payload["total_commits_count"] = 0
    result = parse(payload, PUSH)
    assert isinstance(result, GitEvent)
    assert result.changed_paths == ()
    assert result.changed_paths_complete is False


def test_push_fallbacks() -> None:
    payload = load("drone-go-scm", "push.json")
    del payload["checkout_sha"]
    del payload["project"]["git_http_url"]
    del payload["project"]["default_branch"]
    del payload["project"]["visibility_level"]
    del payload["user_username"]
    result = parse(payload, PUSH)
    assert isinstance(result, GitEvent)
    assert result.sha == "2adc9465c4edfc33834e173fe89436a7cb899a1d"  # `after`
    assert result.clone_url == "https://gitlab.com/gitlab-org/hello-world.git"  # repository.
    assert result.default_branch == "main"
    assert result.private is False
    assert result.sender == "Sid Sijbrandij"


@pytest.mark.parametrize(("visibility", "private"), [(0, True), (10, True), (20, False)])
def test_visibility_level(visibility: int, private: bool) -> None:
    payload = load("drone-go-scm", "push.json")
    payload["project"]["visibility_level"] = visibility
    result = parse(payload, PUSH)
    assert isinstance(result, GitEvent)
    assert result.private is private


def test_deletion_by_null_checkout_sha() -> None:
    payload = load("drone-go-scm", "push.json")
    payload["checkout_sha"] = None
    assert parse(payload, PUSH) == Ignored("branch deleted")


def test_ref_outside_the_expected_namespace_is_ignored() -> None:
    push = load("drone-go-scm", "push.json")
    push["ref"] = "refs/tags/v1"
    assert parse(push, PUSH) == Ignored('push of "refs/tags/v1" (not under refs/heads/)')
    tag = load("drone-go-scm", "tag_create.json")
    tag["ref"] = "refs/heads/main"
    assert parse(tag, TAG) == Ignored('tag push of "refs/heads/main" (not under refs/tags/)')


@pytest.mark.parametrize(
    ("object_kind", "header", "name"),
    [
        ("pipeline", "Pipeline Hook", "pipeline"),
        ("issue", "Issue Hook", "issue"),
        (None, "Issue Hook", "Issue Hook"),
        (None, "", ""),
    ],
)
def test_other_events_are_ignored(object_kind: str | None, header: str, name: str) -> None:
    payload: dict[str, Any] = {"project": {"web_url": "https://gitlab.com/a/b"}}
    if object_kind is not None:
        payload["object_kind"] = object_kind
    assert parse(payload, header) == Ignored(f'event "{name}" does not run pipelines')


# --- malformed payloads ---------------------------------------------------------------------


_DELETE = object()


def _set(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = payload
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize(
    ("fixture", "event", "path", "value"),
    [
        ("push.json", PUSH, "project", "gitlab-org/hello-world"),
        ("push.json", PUSH, "project", _DELETE),
        ("push.json", PUSH, "project", None),
        ("push.json", PUSH, "ref", 5),
        ("push.json", PUSH, "ref", _DELETE),
        ("push.json", PUSH, "after", _DELETE),
        ("push.json", PUSH, "after", ""),
        ("push.json", PUSH, "project.path_with_namespace", 1),
        ("push.json", PUSH, "project.web_url", _DELETE),
        ("push.json", PUSH, "project.visibility_level", "0"),
        ("push.json", PUSH, "project.visibility_level", True),
        ("tag_create.json", TAG, "project", []),
        ("pull_request_create.json", MR, "object_attributes", []),
        ("pull_request_create.json", MR, "object_attributes", _DELETE),
        ("pull_request_create.json", MR, "object_attributes.last_commit", _DELETE),
        ("pull_request_create.json", MR, "object_attributes.last_commit", "c4c79227"),
        ("pull_request_create.json", MR, "object_attributes.iid", "1"),
        ("pull_request_create.json", MR, "object_attributes.source_branch", None),
        ("pull_request_create.json", MR, "object_attributes.target_branch", 3),
        ("pull_request_create.json", MR, "object_attributes.source_project_id", _DELETE),
        ("pull_request_create.json", MR, "object_attributes.target_project_id", "4861503"),
        ("pull_request_create.json", MR, "project", 4861503),
    ],
)
def test_malformed_payload(fixture: str, event: str, path: str, value: Any) -> None:
    payload = load("drone-go-scm", fixture)
    _set(payload, path, value)
    with pytest.raises(PayloadError):
        parse(payload, event)


@pytest.mark.parametrize("payload", [[], "push", 5, None])
def test_payload_not_an_object(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse(payload, PUSH)
    with pytest.raises(PayloadError):
        WEBHOOKS.web_url(payload)


def test_web_url_falls_back_to_repository_homepage() -> None:
    payload = load("drone-go-scm", "push.json")
    del payload["project"]
    assert WEBHOOKS.web_url(payload) == "https://gitlab.com/gitlab-org/hello-world"
    del payload["repository"]
    with pytest.raises(PayloadError):
        WEBHOOKS.web_url(payload)


@pytest.mark.parametrize("project", ["x", [], 1, {"web_url": 2}, {}])
def test_web_url_malformed(project: Any) -> None:
    with pytest.raises(PayloadError):
        WEBHOOKS.web_url({"project": project})


KEYS = [
    "object_kind",
    "ref",
    "before",
    "after",
    "checkout_sha",
    "commits",
    "total_commits_count",
    "user_username",
    "user_name",
    "user",
    "username",
    "project",
    "repository",
    "path_with_namespace",
    "web_url",
    "git_http_url",
    "homepage",
    "default_branch",
    "visibility_level",
    "object_attributes",
    "action",
    "oldrev",
    "last_commit",
    "id",
    "iid",
    "source_branch",
    "target_branch",
    "source_project_id",
    "target_project_id",
    "source",
    "added",
    "modified",
    "removed",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-1, 30)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        ["", "push", "tag_push", "merge_request", "open", "update", "refs/heads/x", "0" * 40]
    )
    | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=30,
)
EVENTS = st.sampled_from([PUSH, TAG, MR, "Note Hook", ""])


def _check(payload: Any, event: str) -> None:
    try:
        result = parse(payload, event)
    except PayloadError:
        pass
    else:
        assert isinstance(result, GitEvent | Ignored)
        assert not isinstance(result, Ping)
    with contextlib.suppress(PayloadError):
        WEBHOOKS.web_url(payload)


@settings(max_examples=300)
@given(JSON, EVENTS)
def test_random_payloads_raise_only_payload_error(payload: Any, event: str) -> None:
    _check(payload, event)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


FIXTURE_PAYLOADS: list[tuple[str, dict[str, Any]]] = []


def _fixture_payloads() -> list[tuple[str, dict[str, Any]]]:
    if not FIXTURE_PAYLOADS:
        FIXTURE_PAYLOADS.extend(
            (event, load(*name.split("/"))) for name, (event, _, _) in CASES.items()
        )
    return FIXTURE_PAYLOADS


@settings(max_examples=300)
@given(st.data(), JSON)
def test_mutated_fixtures_raise_only_payload_error(data: st.DataObject, replacement: Any) -> None:
    event, original = data.draw(st.sampled_from(_fixture_payloads()))
    payload = copy.deepcopy(original)
    path = data.draw(st.sampled_from(_paths(payload)))
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = replacement
    _check(payload, event)


# --- verify, delivery id, detect ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "secret", "ok"),
    [
        ({"X-Gitlab-Token": "s3cret"}, b"s3cret", True),
        ({"x-gitlab-token": "s3cret"}, b"s3cret", True),
        ({"X-Gitlab-Token": "s3cret "}, b"s3cret", False),
        ({"X-Gitlab-Token": "S3CRET"}, b"s3cret", False),
        ({"X-Gitlab-Token": "wrong"}, b"s3cret", False),
        ({}, b"s3cret", False),
        ({"X-Gitlab-Token": ""}, b"s3cret", False),
        ({"X-Gitlab-Token": ""}, b"", False),
        ({"X-Gitlab-Token": "s3cret"}, b"", False),
        ({}, b"", False),
        ({"X-Gitlab-Token": "sécret"}, "sécret".encode(), True),
        ({"X-Gitlab-Token": "\ud800"}, b"?", False),
        ({"X-Hub-Signature-256": "sha256=abc"}, b"s3cret", False),
    ],
)
def test_verify(header: dict[str, str], secret: bytes, ok: bool) -> None:
    assert WEBHOOKS.verify(Headers(header), b'{"object_kind":"push"}', secret) is ok


def test_delivery_id_precedence() -> None:
    body = b'{"object_kind":"push"}'
    both = Headers({"Idempotency-Key": "idem-1", "X-Gitlab-Event-UUID": "uuid-1"})
    assert WEBHOOKS.delivery_id(both, body) == "idem-1"
    assert WEBHOOKS.delivery_id(Headers({"X-Gitlab-Event-UUID": "uuid-1"}), body) == "uuid-1"
    empty_key = Headers({"Idempotency-Key": "", "X-Gitlab-Event-UUID": "uuid-1"})
    assert WEBHOOKS.delivery_id(empty_key, body) == "uuid-1"
    assert WEBHOOKS.delivery_id(Headers(), body) == body_digest(body)
    assert WEBHOOKS.delivery_id(Headers(), body) == WEBHOOKS.delivery_id(Headers(), body)
    assert WEBHOOKS.delivery_id(Headers(), body) != WEBHOOKS.delivery_id(Headers(), body + b" ")


@pytest.mark.parametrize(
    ("header", "detected"),
    [
        ({"X-Gitlab-Event": "Push Hook"}, True),
        ({"x-gitlab-event": "Merge Request Hook"}, True),
        ({"X-Gitlab-Token": "s3cret"}, False),
        ({"X-GitHub-Event": "push"}, False),
        ({"X-Gitea-Event": "push"}, False),
        ({}, False),
    ],
)
def test_detect(header: dict[str, str], detected: bool) -> None:
    assert WEBHOOKS.detect(Headers(header)) is detected


def test_module_constant() -> None:
    assert isinstance(WEBHOOKS, GitLabWebhooks)
    assert WEBHOOKS.kind is ForgeKind.GITLAB
