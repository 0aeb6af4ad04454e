"""Gitea/Forgejo webhooks: detection, signatures, delivery ids and normalisation of real payloads.

The expected values of the fixture table were read from the fixture files by hand.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knargo.config.settings import Forge
from knargo.contract.events import EventKind, ForgeKind, GitEvent
from knargo.forges.gitea import WEBHOOKS, GiteaWebhooks
from knargo.forges.payload import (
    Headers,
    Ignored,
    PayloadError,
    Webhooks,
    body_digest,
    hmac_sha256_hex,
)
from reference import reference_path

TRY_GITEA = Forge(
    name="try-gitea",
    kind="gitea",
    api_url="http://try.gitea.io/api/v1",
    web_url="http://try.gitea.io",
)
LOCALHOST = Forge(
    name="local-gitea",
    kind="gitea",
    api_url="http://localhost:3000/api/v1",
    web_url="http://localhost:3000",
)
DELIVERY = "7d4a5b0e-2f55-4d3b-9a8e-2b4f1d9f6c01"

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
VECTOR = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# What a push of gogits/hello-world on try.gitea.io has in common.
HELLO_WORLD = {
    "repository": "gogits/hello-world",
    "repository_url": "http://try.gitea.io/gogits/hello-world",
    "clone_url": "http://try.gitea.io/gogits/hello-world.git",
    "default_branch": "master",
    "private": True,
}
# The pull request #1 of jcitizen/my-repo (same repository), as opened, reopened, synchronized.
MY_REPO_PR = {
    "kind": EventKind.PULL_REQUEST,
    "repository": "jcitizen/my-repo",
    "repository_url": "https://try.gitea.io/jcitizen/my-repo",
    "clone_url": "https://try.gitea.io/jcitizen/my-repo.git",
    "default_branch": "master",
    "private": False,
    "ref": "refs/heads/feature",
    "sha": "2eba238e33607c1fa49253182e9fff42baafa1eb",
    "before": None,
    "pr_number": 1,
    "base_ref": "refs/heads/master",
    "fork": False,
    "head_repository": "jcitizen/my-repo",
    "changed_paths": (),
    "changed_paths_complete": False,
    "sender": "jcitizen",
}
PUSH_DEFAULTS = {"pr_number": None, "base_ref": None, "fork": False, "head_repository": None}

# (directory, file, event header, forge, expected fields of the event or the ignored reason)
CASES: list[tuple[str, str, str, Forge, dict[str, Any] | str]] = [
    (
        "drone-go-scm",
        "push.json",
        "push",
        TRY_GITEA,
        {
            **HELLO_WORLD,
            **PUSH_DEFAULTS,
            "kind": EventKind.PUSH,
            "ref": "refs/heads/master",
            "sha": "4522cbcefc20728a5b72b3a86af35e608622c514",
            "before": "9836a96a253cce25d17988fcf41b8c4205cf779f",
            "changed_paths": ("README.md",),
            # An old capture without `total_commits`: the list may have been cut.
            "changed_paths_complete": False,
            "sender": "unknwon",
        },
    ),
    ("drone-go-scm", "tag_create.json", "create", TRY_GITEA, 'event "create"'),
    ("drone-go-scm", "branch_create.json", "create", TRY_GITEA, 'event "create"'),
    ("drone-go-scm", "tag_delete.json", "delete", TRY_GITEA, 'event "delete"'),
    ("drone-go-scm", "branch_delete.json", "delete", TRY_GITEA, 'event "delete"'),
    ("drone-go-scm", "pull_request_opened.json", "pull_request", TRY_GITEA, MY_REPO_PR),
    ("drone-go-scm", "pull_request_reopened.json", "pull_request", TRY_GITEA, MY_REPO_PR),
    ("drone-go-scm", "pull_request_synchronized.json", "pull_request", TRY_GITEA, MY_REPO_PR),
    ("drone-go-scm", "pull_request_closed.json", "pull_request", TRY_GITEA, 'action "closed"'),
    # `merged: true` is still the action `closed`: the merge commit arrives as a push.
    ("drone-go-scm", "pull_request_merged.json", "pull_request", TRY_GITEA, 'action "closed"'),
    (
        "go-playground",
        "push-event.json",
        "push",
        LOCALHOST,
        {
            **PUSH_DEFAULTS,
            "kind": EventKind.PUSH,
            "repository": "example/example",
            "repository_url": "http://localhost:3000/example/example",
            "clone_url": "http://localhost:3000/example/example.git",
            "default_branch": "master",
            "private": False,
            "ref": "refs/heads/master",
            "sha": "67b56589a45103f891bdee7c0546e5d40bc02001",
            "before": None,  # the first push: `before` is zeros
            "changed_paths": ("example",),
            "changed_paths_complete": False,
            "sender": "example",
        },
    ),
    ("go-playground", "create-event.json", "create", LOCALHOST, 'event "create"'),
    ("go-playground", "delete-event.json", "delete", LOCALHOST, 'event "delete"'),
    (
        "go-playground",
        "pull-request-event.json",
        "pull_request",
        LOCALHOST,
        {
            "kind": EventKind.PULL_REQUEST,
            "repository": "example/example",
            "repository_url": "http://localhost:3000/example/example",
            "clone_url": "http://localhost:3000/example/example.git",
            "default_branch": "master",
            "private": False,
            "ref": "refs/heads/master",
            "sha": "48e773f892a831faa47c0a160d1b7f0cd369ae2a",
            "before": None,
            "pr_number": 2,
            "base_ref": "refs/heads/master",
            "fork": True,  # head repo_id 2 (example2/example), base repo_id 1
            "head_repository": "example2/example",
            "changed_paths": (),
            "changed_paths_complete": False,
            "sender": "example2",
        },
    ),
]


def load(directory: str, name: str) -> dict[str, Any]:
    path = reference_path("fixtures", "gitea", directory, name)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def event_headers(event: str, header: str = "X-Gitea-Event") -> Headers:
    return Headers({header: event, "X-GitHub-Event": event, "X-Gitea-Delivery": DELIVERY})


def parse(payload: dict[str, Any], event: str, forge: Forge = TRY_GITEA) -> GitEvent | Ignored:
    result = WEBHOOKS.parse(event_headers(event), payload, forge, DELIVERY)
    assert isinstance(result, GitEvent | Ignored)
    return result


def parse_event(payload: dict[str, Any], event: str) -> GitEvent:
    result = parse(payload, event)
    assert isinstance(result, GitEvent), result
    return result


def test_the_table_covers_every_gitea_fixture() -> None:
    root = reference_path("fixtures", "gitea")
    files = {f"{p.parent.name}/{p.name}" for p in Path(root).rglob("*.json")}
    assert files == {f"{directory}/{name}" for directory, name, *_ in CASES}


@pytest.mark.parametrize(
    ("directory", "name", "event", "forge", "expected"),
    CASES,
    ids=[f"{directory}/{name}" for directory, name, *_ in CASES],
)
@pytest.mark.parametrize("header", ["X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event"])
def test_fixture(
    directory: str,
    name: str,
    event: str,
    forge: Forge,
    expected: dict[str, Any] | str,
    header: str,
) -> None:
    payload = load(directory, name)
    result = WEBHOOKS.parse(event_headers(event, header), payload, forge, DELIVERY)
    assert WEBHOOKS.web_url(payload).split("://")[1].startswith(forge.host)
    if isinstance(expected, str):
        assert isinstance(result, Ignored)
        assert expected in result.reason
        return
    assert isinstance(result, GitEvent)
    assert result.forge_kind is ForgeKind.GITEA
    assert result.forge_name == forge.name
    assert result.delivery_id == DELIVERY
    assert result.host == forge.host
    assert {key: getattr(result, key) for key in expected} == expected


def test_create_and_delete_reasons_are_exact() -> None:
    result = parse(load("drone-go-scm", "tag_create.json"), "create")
    assert result == Ignored('event "create" does not run pipelines')
    result = parse(load("drone-go-scm", "pull_request_merged.json"), "pull_request")
    assert result == Ignored('pull_request action "closed" does not run pipelines')


def test_event_type_header_is_not_the_event() -> None:
    payload = load("drone-go-scm", "pull_request_synchronized.json")
    headers = Headers(
        {
            "X-Gitea-Event": "pull_request",
            "X-Gitea-Event-Type": "pull_request_sync",
            "X-GitHub-Event": "pull_request",
        }
    )
    result = WEBHOOKS.parse(headers, payload, TRY_GITEA, DELIVERY)
    assert isinstance(result, GitEvent)
    assert result.kind is EventKind.PULL_REQUEST


# --- pushes -------------------------------------------------------------------------------


def test_push_is_complete_when_total_commits_matches() -> None:
    payload = load("drone-go-scm", "push.json")
    payload["total_commits"] = 1
    assert parse_event(payload, "push").changed_paths_complete is True
    payload["total_commits"] = 7  # Gitea listed only some of the commits
    assert parse_event(payload, "push").changed_paths_complete is False
    payload["total_commits"] = True  # not a number
    assert parse_event(payload, "push").changed_paths_complete is False


def test_push_of_a_new_branch_is_incomplete_and_has_no_before() -> None:
    payload = load("go-playground", "push-event.json")
    payload["total_commits"] = 1
    event = parse_event(payload, "push")
    assert event.before is None
    assert event.changed_paths_complete is False


def test_push_without_commits_is_incomplete() -> None:
    payload = load("drone-go-scm", "push.json")
    payload["commits"] = []
    payload["total_commits"] = 0
    event = parse_event(payload, "push")
    assert event.changed_paths == ()
    assert event.changed_paths_complete is False


def test_tag_push_builds_the_head_commit() -> None:
    payload = load("go-playground", "push-event.json")
    payload["ref"] = "refs/tags/v1.0.0"
    payload["after"] = "a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4"  # an annotated tag object
    event = parse_event(payload, "push")
    assert event.kind is EventKind.TAG
    assert event.tag == "v1.0.0"
    assert event.sha == "67b56589a45103f891bdee7c0546e5d40bc02001"
    assert event.changed_paths_complete is False


def test_tag_push_without_head_commit_builds_after() -> None:
    payload = load("drone-go-scm", "push.json")
    payload["ref"] = "refs/tags/v1.0.0"
    event = parse_event(payload, "push")
    assert event.kind is EventKind.TAG
    assert event.sha == "4522cbcefc20728a5b72b3a86af35e608622c514"


def test_branch_push_builds_after_even_with_a_head_commit() -> None:
    payload = load("go-playground", "push-event.json")
    payload["head_commit"]["id"] = "1111111111111111111111111111111111111111"
    assert parse_event(payload, "push").sha == "67b56589a45103f891bdee7c0546e5d40bc02001"


@pytest.mark.parametrize(
    ("ref", "after", "reason"),
    [
        ("refs/heads/feature", "0" * 40, "branch deleted"),
        ("refs/tags/v1.0.0", "0" * 40, "tag deleted"),
        ("refs/heads/feature", "0" * 64, "branch deleted"),  # SHA-256 repository
    ],
)
def test_deletion_pushes_are_ignored(ref: str, after: str, reason: str) -> None:
    payload = load("drone-go-scm", "push.json")
    payload.update(ref=ref, after=after, commits=[])
    assert parse(payload, "push") == Ignored(reason)


def test_push_of_other_refs_is_ignored() -> None:
    payload = load("drone-go-scm", "push.json")
    payload["ref"] = "refs/pull/1/head"
    result = parse(payload, "push")
    assert isinstance(result, Ignored)
    assert "refs/pull/1/head" in result.reason


def test_sender_and_default_branch_fallbacks() -> None:
    payload = load("drone-go-scm", "push.json")
    del payload["sender"]["login"]
    del payload["repository"]["default_branch"]
    event = parse_event(payload, "push")
    assert event.sender == "unknwon"
    assert event.default_branch == "main"
    del payload["sender"]
    assert parse_event(payload, "push").sender == ""


# --- pull requests ------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["synchronized", "synchronize", "opened", "reopened"])
def test_pull_request_actions_that_run(action: str) -> None:
    payload = load("drone-go-scm", "pull_request_opened.json")
    payload["action"] = action
    assert parse_event(payload, "pull_request").sha == "2eba238e33607c1fa49253182e9fff42baafa1eb"


@pytest.mark.parametrize(
    "action", ["closed", "edited", "assigned", "label_updated", "reviewed", "", None, 3]
)
def test_other_pull_request_actions_are_ignored(action: object) -> None:
    payload = load("drone-go-scm", "pull_request_opened.json")
    payload["action"] = action
    result = parse(payload, "pull_request")
    assert isinstance(result, Ignored)
    assert f'action "{action if isinstance(action, str) else ""}"' in result.reason


def test_fork_falls_back_to_full_names_without_ids() -> None:
    payload = load("go-playground", "pull-request-event.json")
    pull = payload["pull_request"]
    for side in ("head", "base"):
        del pull[side]["repo_id"]
        del pull[side]["repo"]["id"]
    assert parse_event(payload, "pull_request").fork is True
    pull["head"]["repo"]["full_name"] = "Example/Example"
    assert parse_event(payload, "pull_request").fork is False


def test_fork_uses_nested_repo_ids() -> None:
    payload = load("go-playground", "pull-request-event.json")
    pull = payload["pull_request"]
    del pull["head"]["repo_id"]
    del pull["base"]["repo_id"]
    assert parse_event(payload, "pull_request").fork is True
    pull["head"]["repo"]["id"] = 1
    assert parse_event(payload, "pull_request").fork is False


def test_pull_request_from_a_deleted_fork() -> None:
    # Gitea sends head repo_id -1, no head repo, and the pull ref as head ref.
    payload = load("go-playground", "pull-request-event.json")
    head = payload["pull_request"]["head"]
    head.update(repo_id=-1, repo=None, ref="refs/pull/2/head")
    event = parse_event(payload, "pull_request")
    assert event.fork is True
    assert event.head_repository is None
    assert event.ref == "refs/pull/2/head"


def test_pr_number_falls_back_to_the_pull_request() -> None:
    payload = load("go-playground", "pull-request-event.json")
    del payload["number"]
    assert parse_event(payload, "pull_request").pr_number == 2


# --- malformed payloads -------------------------------------------------------------------


def _set(payload: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    data = copy.deepcopy(payload)
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("name", "event", "path", "value"),
    [
        ("push.json", "push", "ref", KeyError),
        ("push.json", "push", "ref", 5),
        ("push.json", "push", "after", KeyError),
        ("push.json", "push", "after", None),
        ("push.json", "push", "repository", KeyError),
        ("push.json", "push", "repository", "gogits/hello-world"),
        ("push.json", "push", "repository.full_name", ["gogits", "hello-world"]),
        ("push.json", "push", "repository.clone_url", KeyError),
        ("pull_request_opened.json", "pull_request", "pull_request", KeyError),
        ("pull_request_opened.json", "pull_request", "pull_request", []),
        ("pull_request_opened.json", "pull_request", "pull_request.head", "feature"),
        ("pull_request_opened.json", "pull_request", "pull_request.head.sha", 12),
        ("pull_request_opened.json", "pull_request", "pull_request.head.ref", ""),
        ("pull_request_opened.json", "pull_request", "pull_request.base.ref", KeyError),
        ("pull_request_opened.json", "pull_request", "repository.html_url", KeyError),
    ],
)
def test_missing_or_mistyped_fields_raise_payload_error(
    name: str, event: str, path: str, value: object
) -> None:
    payload = _set(load("drone-go-scm", name), path, value)
    with pytest.raises(PayloadError):
        parse(payload, event)


def test_pr_number_missing_everywhere_raises_payload_error() -> None:
    payload = load("drone-go-scm", "pull_request_opened.json")
    payload["number"] = "1"
    payload["pull_request"]["number"] = None
    with pytest.raises(PayloadError, match="number"):
        parse(payload, "pull_request")


def test_web_url() -> None:
    assert WEBHOOKS.web_url(load("drone-go-scm", "push.json")) == (
        "http://try.gitea.io/gogits/hello-world"
    )
    with pytest.raises(PayloadError):
        WEBHOOKS.web_url({"repository": None})
    with pytest.raises(PayloadError):
        WEBHOOKS.web_url({})


PUSH_KEYS = ["ref", "before", "after", "commits", "total_commits", "head_commit", "sha"]
REPO_KEYS = ["repository", "id", "full_name", "html_url", "clone_url", "default_branch", "private"]
PR_KEYS = ["action", "number", "pull_request", "head", "base", "repo", "repo_id"]
KEYS = [*PUSH_KEYS, *REPO_KEYS, *PR_KEYS, "sender", "login", "username", "added", "modified"]
WORDS = ["", "refs/heads/main", "refs/tags/v1", "main", "0" * 40, "a" * 40, "o/r", "opened"]
STRINGS = st.sampled_from([*WORDS, "synchronized", "https://gitea.example/o/r"]) | st.text(
    max_size=8
)
SCALARS = st.none() | st.booleans() | st.integers(-2, 3) | st.floats(allow_nan=True) | STRINGS
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=6)
    ),
    max_leaves=30,
)


@given(
    payload=st.dictionaries(st.sampled_from(KEYS), JSON, max_size=10),
    event=st.sampled_from(["push", "pull_request", "create", "delete", "ping", ""]),
)
def test_random_payloads_raise_only_payload_error(payload: dict[str, Any], event: str) -> None:
    try:
        result = parse(payload, event)
    except PayloadError:
        return
    assert isinstance(result, GitEvent | Ignored)


@given(payload=JSON)
def test_random_json_values_raise_only_payload_error(payload: object) -> None:
    for event in ("push", "pull_request"):
        with contextlib.suppress(PayloadError):
            parse(dict.fromkeys(("pull_request", "repository", "ref", "after"), payload), event)


EVENT_CASES = [case for case in CASES if not isinstance(case[4], str)]


@given(data=st.data())
def test_mutated_fixtures_raise_only_payload_error(data: st.DataObject) -> None:
    directory, name, event, forge, _ = data.draw(st.sampled_from(EVENT_CASES))
    payload = load(directory, name)
    for _ in range(data.draw(st.integers(1, 3))):
        # Walk down to a random field and replace or delete it.
        target: Any = payload
        while isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target)))
            if isinstance(target[key], dict) and data.draw(st.booleans()):
                target = target[key]
            elif data.draw(st.booleans()):
                target[key] = data.draw(JSON)
                break
            else:
                del target[key]
                break
    try:
        result = WEBHOOKS.parse(event_headers(event), payload, forge, DELIVERY)
    except PayloadError:
        return
    assert isinstance(result, GitEvent | Ignored)


# --- verify, delivery id, detect ----------------------------------------------------------


@pytest.mark.parametrize("header", ["X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature"])
def test_verify_the_documented_vector(header: str) -> None:
    assert WEBHOOKS.verify(Headers({header: VECTOR}), BODY, SECRET) is True


@pytest.mark.parametrize(
    ("headers", "body", "secret"),
    [
        ({"X-Gitea-Signature": VECTOR}, BODY, b"It's a Secret to Everybody!"),
        ({"X-Gitea-Signature": VECTOR}, BODY + b"\n", SECRET),
        ({"X-Gitea-Signature": "0" * 64}, BODY, SECRET),
        ({"X-Gitea-Signature": VECTOR[:-1]}, BODY, SECRET),
        ({"X-Gitea-Signature": VECTOR.upper()}, BODY, SECRET),
        ({"X-Gitea-Signature": "sha256=" + VECTOR}, BODY, SECRET),
        ({"X-Gitea-Signature": ""}, BODY, SECRET),
        ({"X-Gitea-Signature": "é" * 64}, BODY, SECRET),
        ({}, BODY, SECRET),
        # GitHub-style headers, which Gitea also sends, are not what this module checks.
        ({"X-Hub-Signature-256": "sha256=" + VECTOR}, BODY, SECRET),
        # A Forgejo signature takes precedence over the Gitea one.
        ({"X-Forgejo-Signature": "0" * 64, "X-Gitea-Signature": VECTOR}, BODY, SECRET),
    ],
)
def test_verify_rejects(headers: dict[str, str], body: bytes, secret: bytes) -> None:
    assert WEBHOOKS.verify(Headers(headers), body, secret) is False


def test_verify_rejects_an_empty_secret() -> None:
    # What an HMAC with an empty key would be, and what Gitea sends without a secret.
    for signature in (hmac_sha256_hex(b"", BODY), ""):
        assert WEBHOOKS.verify(Headers({"X-Gitea-Signature": signature}), BODY, b"") is False


@given(signature=st.text(max_size=70), body=st.binary(max_size=40), secret=st.binary(max_size=8))
def test_verify_never_raises(signature: str, body: bytes, secret: bytes) -> None:
    assert WEBHOOKS.verify(Headers({"X-Forgejo-Signature": signature}), body, secret) in (
        True,
        False,
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"X-Forgejo-Delivery": "f", "X-Gitea-Delivery": "g", "X-Gogs-Delivery": "o"},
            "f",
        ),
        ({"X-Gitea-Delivery": "g", "X-Gogs-Delivery": "o", "X-GitHub-Delivery": "h"}, "g"),
        ({"X-Gogs-Delivery": "o", "X-GitHub-Delivery": "h"}, "o"),
        ({"X-Forgejo-Delivery": "", "X-Gitea-Delivery": "g"}, "g"),
        ({"X-GitHub-Delivery": "h"}, body_digest(BODY)),
        ({}, body_digest(BODY)),
    ],
)
def test_delivery_id_precedence(headers: dict[str, str], expected: str) -> None:
    assert WEBHOOKS.delivery_id(Headers(headers), BODY) == expected


FORGEJO_HEADERS = {
    "X-Forgejo-Delivery": DELIVERY,
    "X-Forgejo-Event": "push",
    "X-Forgejo-Event-Type": "push",
    "X-Forgejo-Signature": VECTOR,
    "X-Gitea-Delivery": DELIVERY,
    "X-Gitea-Event": "push",
    "X-Gitea-Event-Type": "push",
    "X-Gitea-Signature": VECTOR,
    "X-Gogs-Delivery": DELIVERY,
    "X-Gogs-Event": "push",
    "X-Gogs-Event-Type": "push",
    "X-Gogs-Signature": VECTOR,
    "X-GitHub-Delivery": DELIVERY,
    "X-GitHub-Event": "push",
    "X-GitHub-Event-Type": "push",
    "X-Hub-Signature-256": "sha256=" + VECTOR,
}
GITEA_HEADERS = {k: v for k, v in FORGEJO_HEADERS.items() if not k.startswith("X-Forgejo")}
GOGS_HEADERS = {"X-Gogs-Event": "push", "X-Gogs-Signature": VECTOR}
GITHUB_HEADERS = {
    "X-GitHub-Delivery": DELIVERY,
    "X-GitHub-Event": "push",
    "X-GitHub-Hook-ID": "1",
    "X-Hub-Signature-256": "sha256=" + VECTOR,
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (FORGEJO_HEADERS, True),
        (GITEA_HEADERS, True),
        (GOGS_HEADERS, True),
        ({k.lower(): v for k, v in GITEA_HEADERS.items()}, True),
        (GITHUB_HEADERS, False),
        ({}, False),
    ],
)
def test_detect(headers: dict[str, str], expected: bool) -> None:
    assert WEBHOOKS.detect(Headers(headers)) is expected


def test_forgejo_delivery_end_to_end() -> None:
    headers = Headers(FORGEJO_HEADERS)
    assert WEBHOOKS.verify(headers, BODY, SECRET)
    assert WEBHOOKS.delivery_id(headers, BODY) == DELIVERY
    result = WEBHOOKS.parse(headers, load("drone-go-scm", "push.json"), TRY_GITEA, DELIVERY)
    assert isinstance(result, GitEvent)
    assert result.kind is EventKind.PUSH


def test_module_implements_the_protocol() -> None:
    webhooks: Webhooks = WEBHOOKS
    assert isinstance(webhooks, GiteaWebhooks)
    assert webhooks.kind is ForgeKind.GITEA
