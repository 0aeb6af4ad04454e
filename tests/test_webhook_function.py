"""The webhook function, through functions-framework, with every recorded forge payload.

Each fixture under ../shared/fixtures is signed as its forge signs deliveries and posted to
the real function app; the CloudEvent it publishes reaches a sink on loopback (a stand-in
for the broker) and is checked field by field, or the answer says why it was ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from deliveries import FORGES, secret, signed
from reference import reference_path
from sink import Sink

ROOT = Path(__file__).resolve().parent.parent
PUSH, PR = "dev.knargo.git.push", "dev.knargo.git.pull_request"

# (fixture, forge, event header, status, expectation): published events as
# (type, repository, ref, sha); ignored ones as a fragment of the reason.
GH, GL, GT = "github/payloads", "gitlab", "gitea"
CASES: list[tuple[str, str, str, int, Any]] = [
    (f"{GH}/create/payload.json", "github", "create", 202, 'event "create"'),
    (f"{GH}/create/with-installation.payload.json", "github", "create", 202, 'event "create"'),
    (f"{GH}/delete/payload.json", "github", "delete", 202, 'event "delete"'),
    (f"{GH}/delete/with-installation.payload.json", "github", "delete", 202, 'event "delete"'),
    (f"{GH}/drone-go-scm/branch_create.json", "github", "create", 202, 'event "create"'),
    (f"{GH}/drone-go-scm/pr_closed.json", "github", "pull_request", 202, 'action "closed"'),
    (
        f"{GH}/drone-go-scm/pr_opened.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "bradrydzewski/drone-test-go",
            "refs/heads/master",
            "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
        ),
    ),
    (
        f"{GH}/drone-go-scm/pr_sync.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "bradrydzewski/drone-test-go",
            "refs/heads/master",
            "8102e371cd01cf668893cb2d04a04d52331b1dc9",
        ),
    ),
    (
        f"{GH}/drone-go-scm/push.json",
        "github",
        "push",
        202,
        (
            PUSH,
            "Codertocat/Hello-World",
            "refs/heads/master",
            "199eddf46df50de8d02e99bf1c5fdb4101338224",
        ),
    ),
    (
        f"{GH}/drone-go-scm/push_branch_create.json",
        "github",
        "push",
        202,
        (
            PUSH,
            "bradrydzewski/drone-test-go",
            "refs/heads/feature-branch",
            "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
        ),
    ),
    (f"{GH}/drone-go-scm/push_branch_delete.json", "github", "push", 202, "branch deleted"),
    (
        f"{GH}/drone-go-scm/push_tag.json",
        "github",
        "push",
        202,
        (
            PUSH,
            "bradrydzewski/drone-test-go",
            "refs/tags/v0.0.1",
            "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
        ),
    ),
    (f"{GH}/drone-go-scm/push_tag_delete.json", "github", "push", 202, "tag deleted"),
    (f"{GH}/drone-go-scm/tag_create.json", "github", "create", 202, 'event "create"'),
    (f"{GH}/go-playground/create.json", "github", "create", 202, 'event "create"'),
    (f"{GH}/go-playground/delete.json", "github", "delete", 202, 'event "delete"'),
    (f"{GH}/go-playground/ping.json", "github", "ping", 200, None),
    (
        f"{GH}/go-playground/pull-request.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "baxterthehacker/public-repo",
            "refs/heads/changes",
            "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        ),
    ),
    (
        f"{GH}/go-playground/push.json",
        "github",
        "push",
        202,
        (
            PUSH,
            "binkkatal/sample_app",
            "refs/heads/master",
            "fd489864e7642b48eaad6e3f155c10e46810ec72",
        ),
    ),
    (f"{GH}/ping/payload.json", "github", "ping", 200, None),
    (f"{GH}/ping/with-app_id.payload.json", "github", "ping", 200, None),
    (f"{GH}/ping/with-organization.payload.json", "github", "ping", 200, None),
    (f"{GH}/pull_request/closed.payload.json", "github", "pull_request", 202, 'action "closed"'),
    (
        f"{GH}/pull_request/opened.from-fork.DERIVED.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "Codertocat/Hello-World",
            "refs/heads/changes",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
    ),
    (
        f"{GH}/pull_request/opened.payload.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "Codertocat/Hello-World",
            "refs/heads/changes",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
    ),
    (
        f"{GH}/pull_request/opened.with-organization.payload.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "Codertocat/Hello-World",
            "refs/heads/changes",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
    ),
    (
        f"{GH}/pull_request/reopened.payload.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "Codertocat/Hello-World",
            "refs/heads/changes",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
    ),
    (
        f"{GH}/pull_request/synchronize.from-fork.DERIVED.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "Codertocat/Hello-World",
            "refs/heads/changes",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
    ),
    (
        f"{GH}/pull_request/synchronize.payload.json",
        "github",
        "pull_request",
        202,
        (
            PR,
            "Codertocat/Hello-World",
            "refs/heads/changes",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ),
    ),
    (f"{GH}/push/1.payload.json", "github", "push", 202, "tag deleted"),
    (f"{GH}/push/payload.json", "github", "push", 202, "tag deleted"),
    (f"{GH}/push/with-installation.payload.json", "github", "push", 202, "tag deleted"),
    (
        f"{GH}/push/with-new-branch.payload.json",
        "github",
        "push",
        202,
        (
            PUSH,
            "Codertocat/Hello-World",
            "refs/heads/master",
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        ),
    ),
    (
        f"{GH}/push/with-no-username-committer.payload.json",
        "github",
        "push",
        202,
        (
            PUSH,
            "Codertocat/Hello-World",
            "refs/heads/master",
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        ),
    ),
    (f"{GH}/push/with-organization.payload.json", "github", "push", 202, "tag deleted"),
    (
        f"{GL}/docs/merge-request-hook.json",
        "gitlab-docs",
        "Merge Request Hook",
        202,
        (
            PR,
            "gitlabhq/gitlab-test",
            "refs/heads/ms-viewport",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        ),
    ),
    (
        f"{GL}/docs/push-hook.json",
        "gitlab-docs",
        "Push Hook",
        202,
        (PUSH, "mike/diaspora", "refs/heads/master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
    ),
    (
        f"{GL}/docs/tag-push-hook.json",
        "gitlab-docs",
        "Tag Push Hook",
        202,
        (PUSH, "jsmith/example", "refs/tags/v1.0.0", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"),
    ),
    (
        f"{GL}/drone-go-scm/branch_create.json",
        "gitlab",
        "Push Hook",
        202,
        (
            PUSH,
            "gitlab-org/hello-world",
            "refs/heads/feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        ),
    ),
    (f"{GL}/drone-go-scm/branch_delete.json", "gitlab", "Push Hook", 202, "branch deleted"),
    (
        f"{GL}/drone-go-scm/merge_request_subgroup.json",
        "gitlab",
        "Merge Request Hook",
        202,
        (
            PR,
            "group1/group2/group3/grp2repo",
            "refs/heads/feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        ),
    ),
    (f"{GL}/drone-go-scm/pull_request_close.json", "gitlab", "Merge Request Hook", 202, "close"),
    (
        f"{GL}/drone-go-scm/pull_request_create.json",
        "gitlab",
        "Merge Request Hook",
        202,
        (
            PR,
            "gitlab-org/hello-world",
            "refs/heads/feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        ),
    ),
    (f"{GL}/drone-go-scm/pull_request_merge.json", "gitlab", "Merge Request Hook", 202, "merge"),
    (
        f"{GL}/drone-go-scm/pull_request_reopen.json",
        "gitlab",
        "Merge Request Hook",
        202,
        (
            PR,
            "gitlab-org/hello-world",
            "refs/heads/feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        ),
    ),
    (
        f"{GL}/drone-go-scm/push.json",
        "gitlab",
        "Push Hook",
        202,
        (
            PUSH,
            "gitlab-org/hello-world",
            "refs/heads/master",
            "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        ),
    ),
    (
        f"{GL}/drone-go-scm/push_subgroup.json",
        "gitlab",
        "Push Hook",
        202,
        (
            PUSH,
            "group1/group2/group3/grp2repo",
            "refs/heads/master",
            "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        ),
    ),
    (
        f"{GL}/drone-go-scm/tag_create.json",
        "gitlab",
        "Tag Push Hook",
        202,
        (
            PUSH,
            "gitlab-org/hello-world",
            "refs/tags/v1.0.0",
            "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        ),
    ),
    (f"{GL}/drone-go-scm/tag_delete.json", "gitlab", "Tag Push Hook", 202, "tag deleted"),
    (
        f"{GL}/go-playground/merge-request-event.json",
        "gitlab-docs",
        "Merge Request Hook",
        202,
        (
            PR,
            "gitlabhq/gitlab-test",
            "refs/heads/ms-viewport",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        ),
    ),
    (
        f"{GL}/go-playground/push-event.json",
        "gitlab-docs",
        "Push Hook",
        202,
        (PUSH, "mike/diaspora", "refs/heads/master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
    ),
    (
        f"{GL}/go-playground/tag-event.json",
        "gitlab-docs",
        "Tag Push Hook",
        202,
        (PUSH, "jsmith/example", "refs/tags/v1.0.0", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"),
    ),
    (
        f"{GL}/jenkins-x-go-scm/pull_request_edited.json",
        "gitlab",
        "Merge Request Hook",
        202,
        (
            PR,
            "gitlab-org/hello-world",
            "refs/heads/feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        ),
    ),
    (f"{GT}/drone-go-scm/branch_create.json", "gitea", "create", 202, 'event "create"'),
    (f"{GT}/drone-go-scm/branch_delete.json", "gitea", "delete", 202, 'event "delete"'),
    (f"{GT}/drone-go-scm/pull_request_closed.json", "gitea", "pull_request", 202, "closed"),
    (f"{GT}/drone-go-scm/pull_request_merged.json", "gitea", "pull_request", 202, "closed"),
    (
        f"{GT}/drone-go-scm/pull_request_opened.json",
        "gitea",
        "pull_request",
        202,
        (PR, "jcitizen/my-repo", "refs/heads/feature", "2eba238e33607c1fa49253182e9fff42baafa1eb"),
    ),
    (
        f"{GT}/drone-go-scm/pull_request_reopened.json",
        "gitea",
        "pull_request",
        202,
        (PR, "jcitizen/my-repo", "refs/heads/feature", "2eba238e33607c1fa49253182e9fff42baafa1eb"),
    ),
    (
        f"{GT}/drone-go-scm/pull_request_synchronized.json",
        "gitea",
        "pull_request",
        202,
        (PR, "jcitizen/my-repo", "refs/heads/feature", "2eba238e33607c1fa49253182e9fff42baafa1eb"),
    ),
    (
        f"{GT}/drone-go-scm/push.json",
        "gitea",
        "push",
        202,
        (
            PUSH,
            "gogits/hello-world",
            "refs/heads/master",
            "4522cbcefc20728a5b72b3a86af35e608622c514",
        ),
    ),
    (f"{GT}/drone-go-scm/tag_create.json", "gitea", "create", 202, 'event "create"'),
    (f"{GT}/drone-go-scm/tag_delete.json", "gitea", "delete", 202, 'event "delete"'),
    (f"{GT}/go-playground/create-event.json", "forgejo-local", "create", 202, 'event "create"'),
    (f"{GT}/go-playground/delete-event.json", "forgejo-local", "delete", 202, 'event "delete"'),
    (
        f"{GT}/go-playground/pull-request-event.json",
        "forgejo-local",
        "pull_request",
        202,
        (PR, "example/example", "refs/heads/master", "48e773f892a831faa47c0a160d1b7f0cd369ae2a"),
    ),
    (
        f"{GT}/go-playground/push-event.json",
        "forgejo-local",
        "push",
        202,
        (PUSH, "example/example", "refs/heads/master", "67b56589a45103f891bdee7c0546e5d40bc02001"),
    ),
]


def test_every_fixture_has_a_case() -> None:
    root = reference_path("fixtures")
    payloads = {
        str(p.relative_to(root))
        for forge in ("github/payloads", "gitlab", "gitea")
        for p in (root / forge).rglob("*.json")
    }
    assert payloads == {case[0] for case in CASES}


@pytest.mark.parametrize(
    ("fixture", "forge", "event", "status", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_fixture_delivery(
    fixture: str, forge: str, event: str, status: int, expected: Any, client: Any, sink: Sink
) -> None:
    body = reference_path("fixtures", *fixture.split("/")).read_bytes()
    kind = FORGES[forge][0]
    headers = signed(kind, forge, event, body, delivery="d-1")
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == status, response.get_json()
    if status == 200:
        assert response.get_json() == {"pong": True}
        assert sink.events == []
    elif isinstance(expected, str):
        assert expected in response.get_json()["ignored"]
        assert sink.events == []
    else:
        ce_type, repository, ref, sha = expected
        [published] = sink.events
        delivery_id = "42-d-1" if kind == "github" else "d-1"
        assert response.get_json() == {"id": delivery_id, "type": ce_type}
        assert (published.type, published.id, published.subject) == (ce_type, delivery_id, ref)
        data = published.data
        assert (data["repository"], data["ref"], data["sha"]) == (repository, ref, sha)
        assert data["forge_name"] == forge and data["forge_kind"] == kind
        assert published.source == data["repository_url"]
        assert published.traceparent and published.traceparent == data["traceparent"]


PUSH_FIXTURE = ("fixtures", "github", "payloads", "drone-go-scm", "push.json")


def push_body() -> bytes:
    return reference_path(*PUSH_FIXTURE).read_bytes()


def test_github_documented_test_vector() -> None:
    from knargo.forges.github import WEBHOOKS
    from knargo.forges.payload import Headers

    headers = Headers(
        {
            "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d"
            "7586c22c46f4379c8b043e17"
        }
    )
    assert WEBHOOKS.verify(headers, b"Hello, World!", b"It's a Secret to Everybody")
    assert not WEBHOOKS.verify(headers, b"Hello, World?", b"It's a Secret to Everybody")


def _refusal(client: Any, sink: Sink, status: int, body: bytes, headers: dict[str, str]) -> None:
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == status
    assert set(response.get_json()) == {"error"}
    assert sink.requests == 0


def test_bad_signature(client: Any, sink: Sink) -> None:
    headers = signed("github", "github", "push", push_body())
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    _refusal(client, sink, 401, push_body(), headers)


def test_missing_signature(client: Any, sink: Sink) -> None:
    headers = signed("github", "github", "push", push_body())
    del headers["X-Hub-Signature-256"]
    _refusal(client, sink, 401, push_body(), headers)


def test_signature_for_a_different_body(client: Any, sink: Sink) -> None:
    headers = signed("github", "github", "push", b'{"other": true}')
    _refusal(client, sink, 401, push_body(), headers)


def test_wrong_secret(client: Any, sink: Sink) -> None:
    headers = signed("github", "gitea", "push", push_body())  # gitea's secret, GitHub headers
    _refusal(
        client,
        sink,
        401,
        push_body(),
        {k: v for k, v in headers.items() if not k.startswith("X-Gitea")},
    )


def test_previous_secret_is_accepted_during_a_rotation(client: Any, sink: Sink) -> None:
    body = push_body()
    headers = signed("github", "github", "push", body)
    digest = hmac.new(b"old-secret", body, hashlib.sha256).hexdigest()
    headers["X-Hub-Signature-256"] = f"sha256={digest}"
    assert client.post("/", data=body, headers=headers).status_code == 202
    assert len(sink.events) == 1


def test_empty_gitea_signature(client: Any, sink: Sink) -> None:
    body = reference_path("fixtures", "gitea", "drone-go-scm", "push.json").read_bytes()
    headers = signed("gitea", "gitea", "push", body)
    headers["X-Gitea-Signature"] = ""
    headers["X-Hub-Signature-256"] = ""
    _refusal(client, sink, 401, body, headers)


def test_gitlab_wrong_token(client: Any, sink: Sink) -> None:
    body = reference_path("fixtures", "gitlab", "drone-go-scm", "push.json").read_bytes()
    headers = signed("gitlab", "gitlab", "Push Hook", body)
    headers["X-Gitlab-Token"] = "guess"
    _refusal(client, sink, 401, body, headers)


def test_replayed_body_with_another_event_header(client: Any, sink: Sink) -> None:
    # The signature covers the body only: a replay with another event header is still
    # signed, so it must not turn a push into something else.
    body = push_body()
    headers = signed("github", "github", "pull_request", body)
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 202
    assert "ignored" in response.get_json()
    assert sink.requests == 0


def test_secret_of_one_forge_does_not_vouch_for_another_host(client: Any, sink: Sink) -> None:
    # Signed with the try.gitea.io forge's secret, but the repository is on localhost:3000.
    body = reference_path("fixtures", "gitea", "go-playground", "push-event.json").read_bytes()
    _refusal(client, sink, 401, body, signed("gitea", "gitea", "push", body))


def test_oversize_body(client: Any, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import main  # the function module functions-framework loaded

    from knargo.config.reload import Reloading

    smaller = dataclasses.replace(main.RUNTIME.current(), max_body=1000)
    monkeypatch.setattr(main, "RUNTIME", Reloading.fixed(smaller))
    body = push_body()
    assert len(body) > 1000
    _refusal(client, sink, 413, body, signed("github", "github", "push", body))


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", ""])
def test_content_type_must_be_json(content_type: str, client: Any, sink: Sink) -> None:
    body = push_body()
    headers = signed("github", "github", "push", body) | {"Content-Type": content_type}
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 415
    assert sink.requests == 0
    if "form" in content_type:
        assert "application/json" in response.get_json()["error"]


@pytest.mark.parametrize(
    "body", [b"", b"{", b"[]", b'"x"', b"\xff\xfe", b"null", b'{"ref": 3}', b'{"repository": []}']
)
def test_garbage_signed_bodies_are_4xx(body: bytes, client: Any, sink: Sink) -> None:
    response = client.post("/", data=body, headers=signed("github", "github", "push", body))
    assert response.status_code == 400
    assert sink.requests == 0


def test_unknown_forge_and_wrong_method(client: Any, sink: Sink) -> None:
    response = client.post("/", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert client.get("/").status_code == 405
    assert (
        client.put("/", data=b"{}", headers={"Content-Type": "application/json"}).status_code == 405
    )
    assert sink.requests == 0


def test_annotated_tag_builds_the_commit_not_the_tag_object(client: Any, sink: Sink) -> None:
    payload = json.loads(
        reference_path(
            "fixtures", "github", "payloads", "drone-go-scm", "push_tag.json"
        ).read_bytes()
    )
    payload["after"] = "1" * 40  # the tag object; head_commit.id stays the commit
    body = json.dumps(payload).encode()
    assert (
        client.post("/", data=body, headers=signed("github", "github", "push", body)).status_code
        == 202
    )
    assert sink.events[0].data["sha"] == "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd"
    assert sink.events[0].data["kind"] == "tag"


def test_a_branch_named_beyond_ascii_is_published_percent_encoded(client: Any, sink: Sink) -> None:
    """Git allows any UTF-8 in a branch name; an HTTP header carries printable ASCII only."""
    payload = json.loads(push_body())
    payload["ref"] = "refs/heads/fix/überall-\u65e5\u672c"
    body = json.dumps(payload).encode()
    answer = client.post("/", data=body, headers=signed("github", "github", "push", body))
    assert answer.status_code == 202
    assert sink.events[0].subject == "refs/heads/fix/überall-\u65e5\u672c"
    assert sink.headers[0]["ce-subject"] == "refs/heads/fix/%C3%BCberall-%E6%97%A5%E6%9C%AC"
    assert sink.events[0].data["ref"] == "refs/heads/fix/überall-\u65e5\u672c"


def test_fork_pull_request_is_marked(client: Any, sink: Sink) -> None:
    body = reference_path(
        "fixtures", "github", "payloads", "pull_request", "opened.from-fork.DERIVED.json"
    ).read_bytes()
    client.post("/", data=body, headers=signed("github", "github", "pull_request", body))
    data = sink.events[0].data
    assert (data["fork"], data["head_repository"], data["pr_number"]) == (
        True,
        "Octocoders/Hello-World",
        2,
    )


def test_trace_context_is_continued(client: Any, sink: Sink) -> None:
    body = push_body()
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = signed("github", "github", "push", body) | {"traceparent": parent}
    client.post("/", data=body, headers=headers)
    assert sink.events[0].traceparent == parent
    assert sink.headers[0]["traceparent"] == parent


def test_redelivery_carries_the_same_id(client: Any, sink: Sink) -> None:
    body = push_body()
    headers = signed("github", "github", "push", body, delivery="same")
    client.post("/", data=body, headers=headers)
    client.post("/", data=body, headers=headers)
    assert [e.id for e in sink.events] == ["42-same", "42-same"]


def test_broker_errors_are_retried_then_succeed(client: Any, sink: Sink) -> None:
    sink.fail_next = [503, 500]
    body = push_body()
    response = client.post("/", data=body, headers=signed("github", "github", "push", body))
    assert response.status_code == 202
    assert sink.requests == 3 and len(sink.events) == 1


def test_broker_down_gives_503_then_redelivery_publishes_once(client: Any, sink: Sink) -> None:
    sink.fail_next = [503] * 4
    body = push_body()
    headers = signed("github", "github", "push", body, delivery="retry-me")
    assert client.post("/", data=body, headers=headers).status_code == 503
    assert sink.events == [] and sink.requests == 4
    assert client.post("/", data=body, headers=headers).status_code == 202
    assert [e.id for e in sink.events] == ["42-retry-me"]


def test_broker_unreachable_gives_503(
    tmp_path: Path, sink: Sink, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import main

    from knargo.io.network import Publisher, RetryPolicy

    monkeypatch.setattr(
        main, "PUBLISHER", Publisher("http://127.0.0.1:9/", RetryPolicy((0.01, 0.01), timeout=0.2))
    )
    body = push_body()
    response = client.post("/", data=body, headers=signed("github", "github", "push", body))
    assert response.status_code == 503


def test_slow_broker_times_out_into_503(
    sink: Sink, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import main

    from knargo.io.network import Publisher, RetryPolicy

    sink.delay = 0.5
    monkeypatch.setattr(main, "PUBLISHER", Publisher(sink.url, RetryPolicy((0.01,), timeout=0.1)))
    body = push_body()
    response = client.post("/", data=body, headers=signed("github", "github", "push", body))
    assert response.status_code == 503


def test_one_log_line_per_delivery_without_secrets(
    client: Any, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    body = push_body()
    client.post("/", data=body, headers=signed("github", "github", "push", body, "log-1"))
    bad = signed("github", "github", "push", body) | {"X-Hub-Signature-256": "sha256=00"}
    client.post("/", data=body, headers=bad)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["function"], x["status"], x["message"]) for x in lines] == [
        ("webhook", 202, "published"),
        ("webhook", 401, "refused"),
    ]
    published = lines[0]
    assert published["repository"] == "Codertocat/Hello-World"
    assert published["delivery_id"] == "42-log-1" and published["forge"] == "github"
    assert published["event_type"] == "dev.knargo.git.push" and len(published["trace_id"]) == 32
    from knargo.observability.logs import FIELDS

    assert all(field in line for line in lines for field in FIELDS)
    assert lines[1]["reason"] == "signature"
    assert isinstance(published["duration_ms"], float)
    text = json.dumps(lines)
    assert secret("github").decode() not in text and "sha256=" not in text
    assert "Hello-World" not in json.dumps(lines[1])  # nothing from an unverified body


def test_two_forges_of_one_kind_may_share_a_secret() -> None:
    from knargo.config.credentials import Credentials, Secret
    from knargo.config.settings import Forge, Settings
    from knargo.forges import Headers
    from knargo.functions.webhook import Publish, Request, receive

    body = push_body().replace(b"https://github.com/", b"https://github.example.com/")
    settings = Settings(
        forges=[
            Forge(name="github", kind="github", api_url="a", web_url="https://github.com"),
            Forge(name="ghe", kind="github", api_url="b", web_url="https://github.example.com"),
        ]
    )
    credentials = Credentials(
        {"github": (Secret(secret("github")),), "ghe": (Secret(secret("github")),)}
    )
    outcome = receive(
        Request("POST", Headers(signed("github", "github", "push", body)), body),
        settings,
        credentials,
    )
    assert isinstance(outcome, Publish) and outcome.event.forge_name == "ghe"


def test_ce_overrides_are_added_to_every_event(
    tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deliveries import webhook_client

    monkeypatch.setenv("K_CE_OVERRIDES", '{"extensions": {"cluster": "eu-1"}}')
    overridden = webhook_client(tmp_path, sink, monkeypatch)
    body = push_body()
    assert (
        overridden.post(
            "/", data=body, headers=signed("github", "github", "push", body)
        ).status_code
        == 202
    )
    assert sink.events[0].extensions["cluster"] == "eu-1"
    assert sink.headers[0]["ce-cluster"] == "eu-1"
