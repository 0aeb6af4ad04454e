"""The loopback forge fake answers like GitHub, GitLab and Gitea, and catches contract breaks."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import httpx
import jsonschema
import pytest

from forgefake import Change, ForgeFake, response_schema, running_forges

SHA = "a" * 40
BASE = "b" * 40
TOKENS = {"github": "gh-secret", "gitlab": "gl-secret", "gitea": "gt-secret"}
AUTH = {
    "github": {"Authorization": "Bearer gh-secret"},
    "gitlab": {"PRIVATE-TOKEN": "gl-secret"},
    "gitea": {"Authorization": "token gt-secret"},
}
CI = b"pipelines:\n  build: {}\n"
RAW_MEDIA_TYPES = (
    "application/vnd.github.raw+json",
    "application/vnd.github.raw",
    "application/vnd.github.v3.raw",
)


@pytest.fixture
def fake() -> Iterator[ForgeFake]:
    with running_forges(tokens=TOKENS) as running:
        running.add_file("github", "octo/app", SHA, ".ci/ci.yaml", CI)
        running.add_file("gitlab", "group/sub/app", SHA, ".ci/ci.yaml", CI)
        running.add_repo("gitlab", "group/sub/app", project_id=42)
        running.add_file("gitea", "org/app", SHA, ".ci/ci.yaml", CI)
        yield running
        assert running.violations == []  # a test that provokes one clears it after checking


def client(fake: ForgeFake, forge: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=fake.api_url(forge), headers=AUTH[forge] | headers, timeout=5)


def take_violations(fake: ForgeFake, count: int = 1) -> list[str]:
    found = list(fake.violations)
    fake.violations.clear()
    assert len(found) == count, found
    return found


# ---------------------------------------------------------------- files at a commit


def test_github_contents_raw_media_types(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        for accept in RAW_MEDIA_TYPES:
            response = gh.get(
                "/repos/octo/app/contents/.ci/ci.yaml",
                params={"ref": SHA},
                headers={"Accept": accept},
            )
            assert response.status_code == 200
            assert response.content == CI
    assert fake.requests[0].headers["accept"] == "application/vnd.github.raw+json"
    assert fake.requests[0].query == {"ref": SHA}


def test_github_contents_json_is_base64_and_matches_the_operation(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        response = gh.get(
            "/repos/Octo/App/contents/.ci/ci.yaml",
            params={"ref": SHA},
            headers={"Accept": "application/vnd.github+json"},
        )
    body = response.json()
    assert response.status_code == 200
    assert body["encoding"] == "base64"
    assert base64.b64decode(body["content"]) == CI
    assert body["content"].endswith("\n")  # wrapped like GitHub's
    schema = response_schema("github", "GET /repos/{owner}/{repo}/contents/{path}", "200")
    jsonschema.validate(body, schema)


def test_github_contents_not_found(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        missing = gh.get("/repos/octo/app/contents/ci.yaml", params={"ref": SHA})
        wrong_ref = gh.get("/repos/octo/app/contents/.ci/ci.yaml", params={"ref": BASE})
        no_repo = gh.get("/repos/octo/other/contents/.ci/ci.yaml", params={"ref": SHA})
    assert missing.status_code == wrong_ref.status_code == no_repo.status_code == 404
    assert missing.json()["message"] == "Not Found"
    assert "documentation_url" in missing.json()


@pytest.mark.parametrize("project", ["42", "group%2Fsub%2Fapp"])
def test_gitlab_raw_file_by_id_or_encoded_path(fake: ForgeFake, project: str) -> None:
    with client(fake, "gitlab") as gl:
        response = gl.get(f"/projects/{project}/repository/files/.ci%2Fci.yaml/raw?ref={SHA}")
    assert response.status_code == 200
    assert response.content == CI
    assert fake.requests[0].path == f"/projects/{project}/repository/files/.ci%2Fci.yaml/raw"


def test_gitlab_raw_file_with_dot_encoded_too(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        response = gl.get(f"/projects/42/repository/files/%2Eci%2Fci%2Eyaml/raw?ref={SHA}")
    assert response.content == CI


def test_gitlab_raw_file_with_a_literal_slash_is_not_a_route(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        response = gl.get(f"/projects/42/repository/files/.ci/ci.yaml/raw?ref={SHA}")
        project = gl.get(f"/projects/group/sub/app/repository/files/.ci%2Fci.yaml/raw?ref={SHA}")
    assert response.status_code == project.status_code == 404
    assert response.json() == {"error": "404 Not Found"}
    assert all("no such operation" in v for v in take_violations(fake, 2))


def test_gitlab_raw_file_not_found(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        missing = gl.get(f"/projects/42/repository/files/ci.yaml/raw?ref={SHA}")
        commit = gl.get(f"/projects/42/repository/files/.ci%2Fci.yaml/raw?ref={BASE}")
        project = gl.get(f"/projects/7/repository/files/.ci%2Fci.yaml/raw?ref={SHA}")
    assert (missing.status_code, missing.json()) == (404, {"message": "404 File Not Found"})
    assert commit.json() == {"message": "404 Commit Not Found"}
    assert project.json() == {"message": "404 Project Not Found"}


def test_gitea_raw_file(fake: ForgeFake) -> None:
    with client(fake, "gitea") as gt:
        by_query = gt.get("/repos/org/app/raw/.ci/ci.yaml", params={"ref": SHA})
        by_path = gt.get(f"/repos/org/app/raw/{SHA}/.ci/ci.yaml")
        missing = gt.get("/repos/org/app/raw/ci.yaml", params={"ref": SHA})
    assert by_query.content == by_path.content == CI
    assert missing.status_code == 404
    assert "message" in missing.json()


# ---------------------------------------------------------------- changed files


def test_github_compare(fake: ForgeFake) -> None:
    fake.set_compare("github", "octo/app", BASE, SHA, ["a.py", Change("b.py", "added")])
    with client(fake, "github") as gh:
        body = gh.get(f"/repos/octo/app/compare/{BASE}...{SHA}").json()
        assert gh.get(f"/repos/octo/app/compare/{SHA}...{BASE}").status_code == 404
    assert [(f["filename"], f["status"]) for f in body["files"]] == [
        ("a.py", "modified"),
        ("b.py", "added"),
    ]
    assert body["total_commits"] == 1


def test_gitlab_compare(fake: ForgeFake) -> None:
    renamed = Change("new.py", "renamed", previous="old.py")
    fake.set_compare("gitlab", "group/sub/app", BASE, SHA, [renamed])
    with client(fake, "gitlab") as gl:
        body = gl.get("/projects/42/repository/compare", params={"from": BASE, "to": SHA}).json()
        unknown = gl.get("/projects/42/repository/compare", params={"from": SHA, "to": BASE})
        missing = gl.get("/projects/42/repository/compare", params={"from": BASE})
    assert body["diffs"][0]["old_path"] == "old.py"
    assert body["diffs"][0]["new_path"] == "new.py"
    assert body["diffs"][0]["renamed_file"] is True
    assert unknown.status_code == 404
    assert (missing.status_code, missing.json()) == (400, {"error": "to is missing"})
    take_violations(fake)


def test_gitea_compare_lists_files_on_its_commits(fake: ForgeFake) -> None:
    fake.set_compare("gitea", "org/app", BASE, SHA, ["a.py", Change("gone.py", "removed")])
    with client(fake, "gitea") as gt:
        body = gt.get(f"/repos/org/app/compare/{BASE}...{SHA}").json()
        assert gt.get(f"/repos/org/app/compare/{BASE}..{SHA}").json() == body
        assert gt.get(f"/repos/org/app/compare/{SHA}...{BASE}").status_code == 404
    assert "files" not in body  # Gitea's Compare is {total_commits, commits}
    assert body["commits"][0]["files"] == [
        {"filename": "a.py", "status": "modified"},
        {"filename": "gone.py", "status": "removed"},
    ]


MID, SIDE = "c" * 40, "d" * 40


def history(fake: ForgeFake, forge: str, repo: str) -> None:
    """BASE ← MID ← SHA, and SIDE, another child of BASE."""
    fake.add_commit(forge, repo, BASE)
    fake.add_commit(forge, repo, MID, parents=[BASE])
    fake.add_commit(forge, repo, SHA, parents=[MID])
    fake.add_commit(forge, repo, SIDE, parents=[BASE])


def test_github_compare_follows_the_history(fake: ForgeFake) -> None:
    history(fake, "github", "octo/app")
    answers = {}
    with client(fake, "github") as gh:
        for base, head in [(BASE, SHA), (SHA, BASE), (SHA, SHA), (SIDE, SHA)]:
            body = gh.get(f"/repos/octo/app/compare/{base}...{head}").json()
            answers[(base, head)] = (body["status"], body["ahead_by"], body["behind_by"])
            assert body["total_commits"] == len(body["commits"]) == body["ahead_by"]
        assert gh.get(f"/repos/octo/app/compare/{BASE}...{'e' * 40}").status_code == 404
    assert answers == {
        (BASE, SHA): ("ahead", 2, 0),
        (SHA, BASE): ("behind", 0, 2),
        (SHA, SHA): ("identical", 0, 0),
        (SIDE, SHA): ("diverged", 2, 1),
    }


def test_gitlab_and_gitea_compares_follow_the_history(fake: ForgeFake) -> None:
    history(fake, "gitlab", "group/sub/app")
    history(fake, "gitea", "org/app")
    with client(fake, "gitlab") as gl, client(fake, "gitea") as gt:
        for base, head, count in [(BASE, SHA, 2), (SHA, BASE, 0), (SIDE, SHA, 2)]:
            listed = gl.get("/projects/42/repository/compare", params={"from": base, "to": head})
            assert len(listed.json()["commits"]) == count
            total = gt.get(f"/repos/org/app/compare/{base}...{head}").json()["total_commits"]
            assert total == count


def test_compare_queries_follow_the_descriptions(fake: ForgeFake) -> None:
    history(fake, "github", "octo/app")
    history(fake, "gitlab", "group/sub/app")
    with client(fake, "github") as gh, client(fake, "gitlab") as gl:
        assert gh.get(f"/repos/octo/app/compare/{BASE}...{SHA}?per_page=1").status_code == 200
        gh.get(f"/repos/octo/app/compare/{BASE}...{SHA}?per_page=all&straight=true")
        query = {"from": BASE, "to": SHA, "straight": "yes"}
        gl.get("/projects/42/repository/compare", params=query)
    found = take_violations(fake, 3)
    assert any("per_page='all'" in v for v in found)
    assert any("'straight' is not one of https://docs.github.com" in v for v in found)
    assert any("straight='yes' is not a boolean" in v for v in found)


def test_github_pull_files_paginate_with_link(fake: ForgeFake) -> None:
    fake.set_pr_files("github", "octo/app", 7, [f"f{i}.py" for i in range(5)])
    names: list[str] = []
    with client(fake, "github") as gh:
        url: str | None = "/repos/octo/app/pulls/7/files?per_page=2"
        while url:
            response = gh.get(url)
            names += [f["filename"] for f in response.json()]
            url = response.links.get("next", {}).get("url")
        assert gh.get("/repos/octo/app/pulls/8/files").status_code == 404
    assert names == [f"f{i}.py" for i in range(5)]
    assert len(fake.requests) == 4


def test_gitlab_merge_request_diffs_paginate_with_next_page(fake: ForgeFake) -> None:
    fake.set_pr_files("gitlab", "group/sub/app", 3, [f"f{i}.py" for i in range(3)])
    with client(fake, "gitlab") as gl:
        first = gl.get("/projects/42/merge_requests/3/diffs", params={"per_page": 2})
        second = gl.get("/projects/42/merge_requests/3/diffs", params={"per_page": 2, "page": 2})
        missing = gl.get("/projects/42/merge_requests/4/diffs")
    assert [d["new_path"] for d in first.json() + second.json()] == ["f0.py", "f1.py", "f2.py"]
    assert (first.headers["x-next-page"], second.headers["x-next-page"]) == ("2", "")
    assert first.headers["x-total"] == "3"
    assert missing.json() == {"message": "404 Merge Request Not Found"}


def test_gitea_pull_files_paginate_with_has_more(fake: ForgeFake) -> None:
    fake.set_pr_files("gitea", "org/app", 2, [f"f{i}.py" for i in range(3)])
    with client(fake, "gitea") as gt:
        first = gt.get("/repos/org/app/pulls/2/files", params={"limit": 2})
        second = gt.get(first.links["next"]["url"])
        assert gt.get("/repos/org/app/pulls/9/files").status_code == 404
    assert [f["filename"] for f in first.json() + second.json()] == ["f0.py", "f1.py", "f2.py"]
    assert (first.headers["x-hasmore"], second.headers["x-hasmore"]) == ("true", "false")
    assert first.json()[0]["status"] == "changed"


OPERATIONS = [
    ("github", "GET", "/repos/{repo}"),
    ("gitlab", "GET", "/projects/{repo}"),
    ("gitea", "GET", "/repos/{repo}"),
    ("github", "GET", f"/repos/{{repo}}/contents/.ci/ci.yaml?ref={SHA}"),
    ("github", "GET", f"/repos/{{repo}}/compare/{BASE}...{SHA}"),
    ("github", "GET", "/repos/{repo}/pulls/1/files"),
    ("github", "POST", f"/repos/{{repo}}/statuses/{SHA}"),
    ("github", "GET", f"/repos/{{repo}}/commits/{SHA}/statuses"),
    ("gitlab", "GET", f"/projects/{{repo}}/repository/files/ci.yaml/raw?ref={SHA}"),
    ("gitlab", "GET", f"/projects/{{repo}}/repository/compare?from={BASE}&to={SHA}"),
    ("gitlab", "GET", "/projects/{repo}/merge_requests/1/diffs"),
    ("gitlab", "POST", f"/projects/{{repo}}/statuses/{SHA}"),
    ("gitlab", "GET", f"/projects/{{repo}}/repository/commits/{SHA}/statuses"),
    ("gitea", "GET", f"/repos/{{repo}}/raw/ci.yaml?ref={SHA}"),
    ("gitea", "GET", f"/repos/{{repo}}/compare/{BASE}...{SHA}"),
    ("gitea", "GET", "/repos/{repo}/pulls/1/files"),
    ("gitea", "POST", f"/repos/{{repo}}/statuses/{SHA}"),
    ("gitea", "GET", f"/repos/{{repo}}/statuses/{SHA}"),
    ("gitea", "GET", f"/repos/{{repo}}/commits/{SHA}/statuses"),
]


@pytest.mark.parametrize(("forge", "method", "path"), OPERATIONS)
def test_every_operation_answers_404_for_an_unknown_repository(
    fake: ForgeFake, forge: str, method: str, path: str
) -> None:
    repo = "group%2Fnothing" if forge == "gitlab" else "nobody/nothing"
    with client(fake, forge) as http:
        response = http.request(method, path.format(repo=repo), json={"state": "success"})
    assert response.status_code == 404
    assert "message" in response.json()


@pytest.mark.parametrize(("forge", "method", "path"), OPERATIONS)
def test_a_private_repository_the_token_cannot_see_is_404_everywhere(
    fake: ForgeFake, forge: str, method: str, path: str
) -> None:
    repo = {"github": "octo/app", "gitlab": "group%2Fsub%2Fapp", "gitea": "org/app"}[forge]
    fake.add_repo(forge, repo.replace("%2F", "/"), private=True, visible=False)
    with client(fake, forge) as http:
        response = http.request(method, path.format(repo=repo), json={"state": "success"})
    assert response.status_code == 404


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_reading_a_repository(fake: ForgeFake, forge: str) -> None:
    path = {"github": "/repos/octo/app", "gitlab": "/projects/42", "gitea": "/repos/org/app"}
    with client(fake, forge) as http:
        found = http.get(path[forge])
    assert found.status_code == 200
    assert found.json()["default_branch"] == "main"


def test_github_contents_over_one_megabyte_only_raw(fake: ForgeFake) -> None:
    big = b"x" * (1024 * 1024 + 1)
    fake.add_file("github", "octo/app", SHA, "big.txt", big)
    with client(fake, "github") as gh:
        as_json = gh.get(f"/repos/octo/app/contents/big.txt?ref={SHA}")
        raw = gh.get(
            f"/repos/octo/app/contents/big.txt?ref={SHA}",
            headers={"Accept": "application/vnd.github.raw+json"},
        )
    assert as_json.status_code == 403
    assert as_json.json()["errors"][0]["code"] == "too_large"
    assert raw.content == big


def test_gitlab_status_on_an_unknown_commit(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        response = gl.post(f"/projects/42/statuses/{BASE}", json={"state": "success"})
    assert (response.status_code, response.json()) == (404, {"message": "404 Commit Not Found"})


# ---------------------------------------------------------------- statuses: GitHub


def test_github_status_created_and_listed_newest_first(fake: ForgeFake) -> None:
    key = "POST /repos/{owner}/{repo}/statuses/{sha}"
    with client(fake, "github") as gh:
        for state in ("pending", "success"):
            response = gh.post(
                f"/repos/octo/app/statuses/{SHA}", json={"state": state, "context": "knargo/build"}
            )
            assert response.status_code == 201
            jsonschema.validate(response.json(), response_schema("github", key, "201"))
        assert response.headers["location"].endswith(f"/statuses/{SHA}")
        listed = gh.get(f"/repos/octo/app/commits/{SHA}/statuses", params={"per_page": 1})
    assert [s["state"] for s in listed.json()] == ["success"]
    assert 'rel="next"' in listed.headers["link"]
    assert [s.state for s in fake.statuses("github", "octo/app", SHA)] == ["pending", "success"]
    assert fake.statuses("github", "octo/app", SHA)[0].context == "knargo/build"


def test_github_status_with_a_gitlab_state_is_a_violation(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        response = gh.post(f"/repos/octo/app/statuses/{SHA}", json={"state": "running"})
    assert response.status_code == 422
    assert "running" in response.json()["message"]
    assert "state" in take_violations(fake)[0]
    assert fake.statuses("github", "octo/app", SHA) == []


def test_github_status_without_a_body_is_a_violation(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        assert gh.post(f"/repos/octo/app/statuses/{SHA}").status_code == 422
        assert gh.post(f"/repos/octo/app/statuses/{SHA}", content=b"{").status_code == 400
    take_violations(fake, 2)


def test_github_status_description_is_limited_to_140(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        ok = gh.post(
            f"/repos/octo/app/statuses/{SHA}",
            json={"state": "error", "description": "x" * 140, "target_url": None},
        )
        long = gh.post(
            f"/repos/octo/app/statuses/{SHA}", json={"state": "error", "description": "x" * 141}
        )
    assert ok.status_code == 201
    assert long.status_code == 422
    assert long.json()["errors"][0]["message"] == (
        "description is too long (maximum is 140 characters)"
    )
    take_violations(fake)


def test_github_status_on_an_unknown_commit(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        response = gh.post(f"/repos/octo/app/statuses/{BASE}", json={"state": "success"})
    assert response.status_code == 422
    assert response.json()["message"] == f"No commit found for SHA: {BASE}"


def test_github_list_statuses_rejects_a_non_integer_page(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        response = gh.get(f"/repos/octo/app/commits/{SHA}/statuses", params={"page": "two"})
    assert response.status_code == 422
    take_violations(fake)


# ---------------------------------------------------------------- statuses: GitLab


def gitlab_post(gl: httpx.Client, **body: object) -> httpx.Response:
    """A status post; `ref` is "main" unless given (None: left out)."""
    body = {"ref": "main"} | body
    sent = {k: v for k, v in body.items() if v is not None}
    return gl.post(f"/projects/group%2Fsub%2Fapp/statuses/{SHA}", json=sent)


def test_gitlab_status_lifecycle(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        for state in ("pending", "running", "success"):
            response = gitlab_post(gl, state=state, name="build", ref="main")
            assert response.status_code == 201, response.text
        assert response.json()["status"] == "success"
        assert gitlab_post(gl, state="running", context="build").status_code == 201
        latest = gl.get(f"/projects/42/repository/commits/{SHA}/statuses").json()
        every = gl.get(f"/projects/42/repository/commits/{SHA}/statuses?all=true").json()
        assert gl.get(f"/projects/42/repository/commits/{BASE}/statuses").status_code == 404
    assert [s["status"] for s in latest] == ["running"]
    assert [s["status"] for s in every] == ["success", "running"]
    posted = fake.statuses("gitlab", "group/sub/app", SHA)
    assert [(s.state, s.context) for s in posted] == [
        ("pending", "build"),
        ("running", "build"),
        ("success", "build"),
        ("running", "build"),
    ]


@pytest.mark.parametrize(("state", "event"), [("running", "run"), ("pending", "enqueue")])
def test_gitlab_reposting_a_running_or_pending_state_is_400(
    fake: ForgeFake, state: str, event: str
) -> None:
    with client(fake, "gitlab") as gl:
        assert gitlab_post(gl, state=state, name="build").status_code == 201
        again = gitlab_post(gl, state=state, name="build")
        other_name = gitlab_post(gl, state=state, name="test")
    assert again.status_code == 400
    assert again.json()["message"].startswith(
        f"Cannot transition status via :{event} from :{state}"
    )
    assert other_name.status_code == 201
    assert len(fake.statuses("gitlab", "group/sub/app", SHA)) == 2


def test_gitlab_running_to_pending_is_400(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        gitlab_post(gl, state="running")
        response = gitlab_post(gl, state="pending")
    assert response.json()["message"].startswith(
        "Cannot transition status via :enqueue from :running"
    )


def test_gitlab_status_with_a_github_state_is_a_violation(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        response = gitlab_post(gl, state="error")
        missing = gitlab_post(gl, name="build")
    assert (response.status_code, response.json()) == (
        400,
        {"error": "state does not have a valid value"},
    )
    assert missing.json() == {"error": "state is missing"}
    take_violations(fake, 2)


def test_gitlab_text_fields_are_limited_to_255(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        ok = gitlab_post(gl, state="success", description="x" * 255)
        long = gitlab_post(gl, state="success", description="x" * 256)
        url = gitlab_post(gl, state="success", target_url="https://argo/" + "x" * 250)
    assert ok.status_code == 201
    assert long.status_code == url.status_code == 400
    assert "too long" in long.json()["message"]["description"][0]
    take_violations(fake, 2)


def test_gitlab_status_accepts_a_form_body(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        response = gl.post(
            f"/projects/42/statuses/{SHA}", data={"state": "failed", "name": "b", "ref": "main"}
        )
    assert response.status_code == 201
    assert fake.statuses("gitlab", "group/sub/app", SHA)[0].state == "failed"


def test_gitlab_status_without_ref_is_a_violation_and_guessed(fake: ForgeFake) -> None:
    """GitLab takes the first branch holding the commit, or 404s when no branch does."""
    with client(fake, "gitlab") as gl:
        guessed = gitlab_post(gl, state="pending", name="build", ref=None)
        fake.add_commit("gitlab", "group/sub/app", SHA, on_branch=False)
        lost = gitlab_post(gl, state="pending", name="test", ref=None)
        named = gitlab_post(gl, state="pending", name="test", ref="refs/merge-requests/3/head")
    assert (guessed.status_code, guessed.json()["ref"]) == (201, fake.gitlab_default_ref)
    assert (lost.status_code, lost.json()) == (
        404,
        {"message": "404 References for commit Not Found"},
    )
    assert (named.status_code, named.json()["ref"]) == (201, "refs/merge-requests/3/head")
    assert all("no ref" in v for v in take_violations(fake, 2))


def test_gitlab_status_parameters_follow_the_description(fake: ForgeFake) -> None:
    with client(fake, "gitlab") as gl:
        pipeline = gitlab_post(gl, state="pending", name="a", pipeline_id=5000)
        bad_pipeline = gitlab_post(gl, state="pending", name="b", pipeline_id="first")
        long_ref = gitlab_post(gl, state="pending", name="c", ref="x" * 256)
        unknown = gitlab_post(gl, state="pending", name="d", colour="red")
    assert pipeline.status_code == unknown.status_code == 201
    assert bad_pipeline.json() == {"error": "pipeline_id is invalid"}
    assert "too long" in long_ref.json()["message"]["ref"][0]
    found = take_violations(fake, 3)
    assert any("colour is not a parameter" in v for v in found)


# ---------------------------------------------------------------- statuses: Gitea


def test_gitea_status_created_and_listed(fake: ForgeFake) -> None:
    key = "POST /repos/{owner}/{repo}/statuses/{sha}"
    with client(fake, "gitea") as gt:
        for state in ("pending", "warning", "success"):
            response = gt.post(
                f"/repos/org/app/statuses/{SHA}", json={"state": state, "context": "knargo/build"}
            )
            assert response.status_code == 201
            jsonschema.validate(response.json(), response_schema("gitea", key, "201"))
        by_sha = gt.get(f"/repos/org/app/statuses/{SHA}").json()
        by_ref = gt.get(f"/repos/org/app/commits/{SHA}/statuses", params={"sort": "oldest"}).json()
        failures = gt.get(f"/repos/org/app/statuses/{SHA}", params={"state": "warning"}).json()
    assert [s["status"] for s in by_sha] == ["success", "warning", "pending"]
    assert [s["status"] for s in by_ref] == ["pending", "warning", "success"]
    assert [s["status"] for s in failures] == ["warning"]
    assert fake.statuses("gitea", "org/app", SHA)[-1].raw["status"] == "success"


def test_gitea_status_validation(fake: ForgeFake) -> None:
    with client(fake, "gitea") as gt:
        running = gt.post(f"/repos/org/app/statuses/{SHA}", json={"state": "running"})
        form = gt.post(f"/repos/org/app/statuses/{SHA}", data={"state": "success"})
        sort = gt.get(f"/repos/org/app/statuses/{SHA}", params={"sort": "newest"})
    assert running.status_code == form.status_code == sort.status_code == 400
    assert {"message", "url"} <= running.json().keys()
    take_violations(fake, 3)


def test_gitea_status_on_an_unknown_commit_is_a_server_error(fake: ForgeFake) -> None:
    with client(fake, "gitea") as gt:
        response = gt.post(f"/repos/org/app/statuses/{BASE}", json={"state": "success"})
    assert response.status_code == 500


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("forge", "headers", "status"),
    [
        ("github", {"Authorization": "token gh-secret"}, 200),
        ("github", {"Authorization": "Bearer wrong"}, 401),
        ("github", {}, 401),
        ("gitlab", {"Authorization": "Bearer gl-secret"}, 200),
        ("gitlab", {"PRIVATE-TOKEN": "wrong"}, 401),
        ("gitlab", {}, 401),
        ("gitea", {"Authorization": "bearer gt-secret"}, 200),
        ("gitea", {"Authorization": "Token gt-secret"}, 401),  # "token" is case-sensitive
        ("gitea", {}, 401),
    ],
)
def test_auth(fake: ForgeFake, forge: str, headers: dict[str, str], status: int) -> None:
    paths = {
        "github": f"/repos/octo/app/contents/.ci/ci.yaml?ref={SHA}",
        "gitlab": f"/projects/42/repository/files/.ci%2Fci.yaml/raw?ref={SHA}",
        "gitea": f"/repos/org/app/raw/.ci/ci.yaml?ref={SHA}",
    }
    response = httpx.get(fake.api_url(forge) + paths[forge], headers=headers)
    assert response.status_code == status
    if status == 401:
        assert "message" in response.json()
    if status == 401 and forge == "gitlab":
        assert response.json() == {"message": "401 Unauthorized"}


def test_github_error_texts_for_bad_and_missing_credentials(fake: ForgeFake) -> None:
    url = fake.api_url("github") + f"/repos/octo/app/statuses/{SHA}"
    bad = httpx.post(url, json={"state": "success"}, headers={"Authorization": "token nope"})
    missing = httpx.post(url, json={"state": "success"})
    assert bad.json()["message"] == "Bad credentials"
    assert missing.json()["message"] == "Requires authentication"


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_private_repository_without_auth_is_not_found(fake: ForgeFake, forge: str) -> None:
    repo = {"github": "octo/secret", "gitlab": "group/secret", "gitea": "org/secret"}[forge]
    fake.add_repo(forge, repo, private=True)
    fake.add_commit(forge, repo, SHA)
    path = {
        "github": f"/repos/{repo}/commits/{SHA}/statuses",
        "gitlab": f"/projects/group%2Fsecret/repository/commits/{SHA}/statuses",
        "gitea": f"/repos/{repo}/statuses/{SHA}",
    }[forge]
    assert httpx.get(fake.api_url(forge) + path).status_code == 404
    assert httpx.get(fake.api_url(forge) + path, headers=AUTH[forge]).status_code == 200


# ---------------------------------------------------------------- failures, limits, plumbing


def test_injected_429_with_retry_after_then_success(fake: ForgeFake) -> None:
    fake.fail_next(429, forge="gitlab", headers={"Retry-After": "0"})
    with client(fake, "gitlab") as gl:
        first = gitlab_post(gl, state="success")
        second = gitlab_post(gl, state="success")
    assert (first.status_code, first.headers["retry-after"], first.text) == (
        429,
        "0",
        "Retry later\n",
    )
    assert second.status_code == 201
    assert len(fake.statuses("gitlab", "group/sub/app", SHA)) == 1
    assert [r.status for r in fake.requests] == [429, 201]


def test_injected_5xx_match_forge_and_path(fake: ForgeFake) -> None:
    fake.fail_next(503, 2, path_contains="/statuses/")
    with client(fake, "gitea") as gt:
        raw = gt.get(f"/repos/org/app/raw/.ci/ci.yaml?ref={SHA}")
        codes = [
            gt.post(f"/repos/org/app/statuses/{SHA}", json={"state": "success"}).status_code
            for _ in range(3)
        ]
    assert raw.status_code == 200
    assert codes == [503, 503, 201]


def test_github_secondary_rate_limit(fake: ForgeFake) -> None:
    fake.github_secondary_rate_limit(retry_after=7)
    fake.github_secondary_rate_limit(retry_after=None, reset_in=30)
    with client(fake, "github") as gh:
        first = gh.post(f"/repos/octo/app/statuses/{SHA}", json={"state": "success"})
        second = gh.post(f"/repos/octo/app/statuses/{SHA}", json={"state": "success"})
    assert (first.status_code, first.headers["retry-after"]) == (403, "7")
    assert "secondary rate limit" in first.json()["message"]
    assert second.status_code == 403
    assert "retry-after" not in second.headers
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert int(second.headers["x-ratelimit-reset"]) >= time.time() + 25


def test_github_primary_rate_limit_and_headers(fake: ForgeFake) -> None:
    fake.github_primary_rate_limit(reset_in=60)
    with client(fake, "github") as gh:
        limited = gh.get(f"/repos/octo/app/commits/{SHA}/statuses")
        ok = gh.get(f"/repos/octo/app/commits/{SHA}/statuses")
    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in limited.json()["message"]
    assert ok.headers["x-ratelimit-limit"] == "5000"
    assert int(ok.headers["x-ratelimit-remaining"]) < 5000


def test_latency_and_keep_alive(fake: ForgeFake) -> None:
    fake.latency = 0.05
    started = time.monotonic()
    with client(fake, "github") as gh:
        for _ in range(3):
            gh.get(f"/repos/octo/app/commits/{SHA}/statuses")
    assert time.monotonic() - started >= 0.15
    assert len({r.client_port for r in fake.requests}) == 1  # one connection, kept alive


def test_concurrent_posts_are_all_recorded(fake: ForgeFake) -> None:
    codes: list[int] = []

    def post(gt: httpx.Client, index: int) -> None:
        body = {"state": "success", "context": f"job-{index}"}
        codes.append(gt.post(f"/repos/org/app/statuses/{SHA}", json=body).status_code)

    with client(fake, "gitea") as gt:
        threads = [threading.Thread(target=post, args=(gt, i)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
    assert codes == [201] * 16
    posted = fake.statuses("gitea", "org/app", SHA)
    assert sorted(s.context for s in posted) == sorted(f"job-{i}" for i in range(16))
    assert len({s.raw["id"] for s in posted}) == 16


def test_unknown_operations_are_violations(fake: ForgeFake) -> None:
    with client(fake, "github") as gh:
        assert gh.get(f"/repos/octo/app/commits/{SHA}/check-suites").status_code == 404
        assert gh.delete(f"/repos/octo/app/statuses/{SHA}").status_code == 404
    assert httpx.get(fake.url + "/bitbucket/repos").status_code == 404
    take_violations(fake, 3)


def test_requests_are_recorded(fake: ForgeFake) -> None:
    with client(fake, "gitlab", **{"User-Agent": "knargo-test"}) as gl:
        gitlab_post(gl, state="pending", name="build")
    request = fake.requests[0]
    assert (request.method, request.forge) == ("POST", "gitlab")
    assert request.path == f"/projects/group%2Fsub%2Fapp/statuses/{SHA}"
    assert request.headers["private-token"] == "gl-secret"
    assert request.headers["user-agent"] == "knargo-test"
    assert request.body == {"ref": "main", "state": "pending", "name": "build"}
    assert request.status == 201
