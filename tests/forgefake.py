"""A loopback fake of the GitHub, GitLab and Gitea/Forgejo REST APIs that knargo calls.

One `ThreadingHTTPServer` (HTTP/1.1, keep-alive) on 127.0.0.1 serves three bases:
``/github`` (as ``https://api.github.com``), ``/gitlab/api/v4`` and ``/gitea/api/v1``.
Operations (route tables ``GITHUB_ROUTES``, ``GITLAB_ROUTES``, ``GITEA_ROUTES``): a file at a
commit, the changed files of a compare and of a pull/merge request, and commit statuses.

Each request is checked against the real operation where ``../shared/fixtures/api/`` has it
(GitHub OpenAPI, Gitea Swagger): method and path template, required and enumerated parameters,
and the JSON body against the operation's schema. GitLab has no fixture; its checks follow
``notes/forges.md`` §2.3 and GitLab's ``lib/api/commit_statuses.rb``. A request that breaks
the contract gets the forge's 4xx *and* lands in ``fake.violations`` (assert it stays empty).
Answers that depend on state (a missing file, GitLab's transition 400) are not violations.

Use::

    with running_forges(tokens={"github": "t1", "gitlab": "t2", "gitea": "t3"}) as fake:
        fake.add_file("gitlab", "group/sub/app", sha, ".ci/ci.yaml", b"...")
        fake.add_repo("gitlab", "group/sub/app", project_id=42, private=True)
        fake.set_compare("github", "octo/app", base, head, ["a.py", Change("b", "removed")])
        fake.set_pr_files("gitea", "org/app", 7, ["a.py"])
        fake.fail_next(429, forge="gitlab", headers={"Retry-After": "1"})
        fake.github_secondary_rate_limit(retry_after=1)
        ... httpx against fake.api_url("github") ...
        fake.statuses("github", "octo/app", sha)  # [Status(state, context, ...)]
        fake.requests, fake.violations, fake.latency = ..., [], 0.0

Facts that come from no source in this repository are marked ``[fake]`` next to the code. The
fake keeps no branches: a ``ref`` is looked up literally (pass the commit SHA, as knargo does);
statuses can only be posted to known commits (``add_commit``, ``add_file``, ``set_compare``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import jsonschema
import jsonschema.exceptions

from reference import reference_path

__all__ = ["BASES", "Change", "ForgeFake", "Request", "Status", "running_forges"]

BASES = {"github": "/github", "gitlab": "/gitlab/api/v4", "gitea": "/gitea/api/v1"}
DEFAULT_TOKENS = {"github": "ghp-fake", "gitlab": "glpat-fake", "gitea": "gitea-fake"}
GITHUB_DOCS = "https://docs.github.com/rest"
GITHUB_DESCRIPTION_MAX = 140  # notes/forges.md §2.1 (not in the OpenAPI text)
GITLAB_TEXT_MAX = 255  # notes/forges.md §2.3
GITLAB_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
GITEA_STATES = ("pending", "success", "error", "failure", "warning")  # notes/forges.md §2.4
RECORDED_HEADERS = ("accept", "authorization", "content-type", "private-token", "user-agent")

Reply = tuple[int, Any, dict[str, str]]
"""Status, body (dict/list: JSON; bytes: raw; str: text/plain) and extra headers."""


@dataclass(frozen=True)
class Change:
    """One changed file; ``status`` is added, modified, removed or renamed (from ``previous``)."""

    path: str
    status: str = "modified"
    previous: str | None = None


@dataclass(frozen=True)
class Status:
    """A status the fake accepted, forge-neutral; ``raw`` is the forge's response object."""

    state: str
    context: str
    description: str | None
    target_url: str | None
    raw: dict[str, Any]


@dataclass
class Request:
    """A request as received: ``path`` is the raw (still encoded) path below the forge's base."""

    method: str
    forge: str | None
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    client_port: int
    status: int = 0


@dataclass
class _Injection:
    status: int
    count: int
    forge: str | None
    path_contains: str | None
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class _Pull:
    sha: str
    ref: str
    base: str
    head_repo: str | None  # None: the base repository itself
    state: str


@dataclass
class _Repo:
    name: str
    private: bool = False
    project_id: int = 0
    visible: bool = True  # to the token: GitHub and the others answer 404 when it is not
    commits: set[str] = field(default_factory=set)
    branchless: set[str] = field(default_factory=set)  # commits no branch contains
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    compares: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    pulls: dict[int, list[Change]] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    posted: dict[str, list[Status]] = field(default_factory=dict)
    heads: dict[int, _Pull] = field(default_factory=dict)
    members: dict[str, tuple[Any, int]] = field(default_factory=dict)  # user: (level, id)
    comments: dict[int, list[str]] = field(default_factory=dict)
    checks: dict[int, dict[str, Any]] = field(default_factory=dict)  # check run id: run


@dataclass
class _Call:
    fake: ForgeFake
    forge: str
    method: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    repo: _Repo = field(default_factory=lambda: _Repo(""))
    authed: bool = False
    installation: int | None = None  # a GitHub App's installation token authenticated it

    @property
    def url(self) -> str:
        return f"{self.fake.url}{BASES[self.forge]}{self.raw_path}"

    def violation(self, message: str) -> None:
        with self.fake.lock:
            self.fake.violations.append(f"{self.forge} {self.method} {self.raw_path}: {message}")


@dataclass(frozen=True)
class _Route:
    method: str
    template: str  # "{name}" is one path segment, "{name+}" one or more
    handler: Callable[[_Call], Reply]

    @property
    def key(self) -> str:
        """The operation's key in the fixture files ("METHOD /path/{param}")."""
        return f"{self.method} {self.template.replace('+}', '}')}"

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        found = _pattern(self.template).fullmatch(raw_path)
        if method != self.method or found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """Match the raw (percent-encoded) path, so that ``%2F`` stays inside one segment."""
    parts = []
    for piece in re.split(r"(\{\w+\+?\})", template):
        if piece.startswith("{"):
            segments = ".+" if piece.endswith("+}") else "[^/]+"
            parts.append(f"(?P<{piece.strip('{+}')}>{segments})")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


# ---------------------------------------------------------------- shared helpers


def _now(millis: bool = False) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    return f"{stamp}.000Z" if millis else f"{stamp}Z"


def _blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _ancestors(repo: _Repo, sha: str) -> set[str]:
    """``sha`` and every commit it descends from (by ``add_commit(parents=...)``)."""
    seen, todo = set(), [sha]
    while todo:
        commit = todo.pop()
        if commit not in seen:
            seen.add(commit)
            todo += repo.parents.get(commit, ())
    return seen


def _ahead(repo: _Repo, base: str, head: str) -> list[str] | None:
    """The commits of ``head`` that ``base`` lacks, newest first (what the forges' compares
    list, from the merge base); None when the two share no known history."""
    into_base = _ancestors(repo, base)
    if not into_base & _ancestors(repo, head):
        return None
    order, todo, seen = [], [head], set()
    while todo:
        commit = todo.pop(0)
        if commit in seen or commit in into_base:
            continue
        seen.add(commit)
        order.append(commit)
        todo += repo.parents.get(commit, ())
    return order


COMPARE_QUERIES: dict[str, tuple[str, dict[str, type]]] = {
    "github": (
        "https://docs.github.com/rest/commits/commits#compare-two-commits",
        {"page": int, "per_page": int},
    ),
    "gitlab": (
        "https://docs.gitlab.com/api/repositories/#compare-branches-tags-or-commits",
        {"from": str, "to": str, "from_project_id": int, "straight": bool, "unidiff": bool},
    ),
    "gitea": ("Gitea's swagger, repoCompareDiff", {}),
}
"""The compare operations are not in the fixtures: their query parameters as each forge
documents them (GitHub's `basehead` is `BASE...HEAD`, Gitea's also `BASE..HEAD`)."""


def _check_compare_query(call: _Call) -> None:
    where, described = COMPARE_QUERIES[call.forge]
    for name, value in call.query.items():
        kind = described.get(name)
        if kind is None:
            call.violation(f"query parameter {name!r} is not one of {where}")
        elif kind is int and not value.isdigit():
            call.violation(f"query parameter {name}={value!r} is not an integer")
        elif kind is bool and value not in ("true", "false"):
            call.violation(f"query parameter {name}={value!r} is not a boolean")


def _compared(call: _Call, base: str, head: str) -> tuple[list[Change], list[str]] | None:
    """The changed files and the commits of a compare: those ``set_compare`` gave (one commit
    when no history says otherwise), or no files and the commits of the known history."""
    changes = call.repo.compares.get((base, head))
    ahead = _ahead(call.repo, base, head)
    if changes is not None:
        return changes, [head] if ahead is None else ahead
    return None if ahead is None else ([], ahead)


def _error(call: _Call, status: int, message: Any, **extra: Any) -> Reply:
    """The forge's JSON error shape."""
    if call.forge == "github":
        body = {"message": message, "documentation_url": GITHUB_DOCS, "status": str(status)}
    elif call.forge == "gitea":
        body = {"message": message, "url": f"{call.fake.url}/gitea/api/swagger"}
    else:
        body = {"message": message}
    return status, {**body, **extra}, {}


def _not_found(call: _Call, what: str = "") -> Reply:
    if call.forge == "gitlab":
        return _error(call, 404, f"404 {what} Not Found" if what else "404 Not Found")
    if call.forge == "gitea":
        return _error(call, 404, "The target couldn't be found.", errors=[])  # [fake] wording
    return _error(call, 404, "Not Found")


def _int_query(call: _Call, name: str, default: int) -> int:
    try:
        return int(call.query.get(name) or default)
    except ValueError:
        call.violation(f"query parameter {name}={call.query[name]!r} is not an integer")
        return default


@dataclass(frozen=True)
class _Page:
    items: list[Any]
    headers: dict[str, str]  # the Link header, when there is another page
    number: int
    last: int
    size: int


def _paginate(call: _Call, items: list[Any], *, size: str, default: int, maximum: int) -> _Page:
    """One page of ``items``: ``page`` and ``size`` from the query, Link as the forges send it."""
    number = max(_int_query(call, "page", 1), 1)
    per = _int_query(call, size, default)
    per = default if per <= 0 else min(per, maximum)
    last = max((len(items) + per - 1) // per, 1)

    def link(page: int, rel: str) -> str:
        return f'<{call.url}?{urlencode({**call.query, "page": page, size: per})}>; rel="{rel}"'

    rels = [(number + 1, "next"), (last, "last")] if number < last else []
    rels += [(1, "first"), (number - 1, "prev")] if number > 1 else []
    headers = {"link": ", ".join(link(n, r) for n, r in rels)} if rels else {}
    return _Page(items[(number - 1) * per : number * per], headers, number, last, per)


def _from_openapi(schema: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` to JSON Schema (``"type": [T, "null"]``)."""
    if isinstance(schema, list):
        return [_from_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _from_openapi(value) for key, value in schema.items()}
    if out.get("nullable") is True and "type" in out:
        del out["nullable"]
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def _fixtures() -> dict[str, dict[str, Any]]:
    api = reference_path("fixtures", "api")
    return {
        "github": json.loads((api / "github-rest-operations.json").read_text()),
        "gitea": json.loads((api / "gitea-swagger-operations.json").read_text()),
    }


def operation(forge: str, key: str) -> dict[str, Any] | None:
    """The fixture's operation for ``key`` ("METHOD /path/{param}"), if it has one."""
    found: dict[str, Any] | None = _fixtures().get(forge, {}).get("operations", {}).get(key)
    return found


def response_schema(forge: str, key: str, status: str) -> dict[str, Any]:
    """The JSON Schema of a fixture operation's response (for tests of the fake itself)."""
    response = (operation(forge, key) or {})["responses"][status]
    schema = response["content"]["application/json"]["schema"] if forge == "github" else None
    found: dict[str, Any] = _from_openapi(schema) if schema else response["schema"]
    return found


@cache
def _validator(forge: str, key: str, where: str) -> jsonschema.protocols.Validator:
    op = operation(forge, key) or {}
    if where == "body" and forge == "github":
        schema = _from_openapi(op["requestBody"]["content"]["application/json"]["schema"])
    elif where == "body":
        schema = next(p["schema"] for p in op["parameters"] if p["in"] == "body")
        # $refs point into the document's `definitions`; keep them resolvable.
        schema = {**schema, "definitions": _fixtures()["gitea"]["definitions"]}
        if key.startswith("POST") and key.endswith("/statuses/{sha}"):
            # [fake] Gitea's schema gives `state` no enum and requires nothing; the states
            # are those of modules/structs/commit_status.go (notes §2.4). Strict on purpose.
            props = schema["properties"]
            schema = {**schema, "required": ["state"]}
            schema["properties"] = {**props, "state": {**props["state"], "enum": GITEA_STATES}}
    else:
        param = next(p for p in op["parameters"] if p["name"] == where)
        schema = _from_openapi(
            param.get("schema") or {k: param[k] for k in ("type", "enum") if k in param}
        )
    return jsonschema.Draft7Validator(schema)


def _problem(validator: jsonschema.protocols.Validator, value: Any) -> str | None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _check_operation(call: _Call, key: str) -> tuple[int, str] | None:
    """Check the call against the fixture operation ``key``: (status, message) when it fails."""
    op = operation(call.forge, key)
    if op is None:
        return None
    bad = 422 if call.forge == "github" else 400
    for param in op.get("parameters", []):
        where, name = param["in"], param["name"]
        if where not in ("path", "query"):
            continue
        value = call.params.get(name) if where == "path" else call.query.get(name)
        if value is None or value == "":
            if param.get("required"):
                return bad, f"missing required {where} parameter {name!r}"
            continue
        kind = (param.get("schema") or param).get("type")
        try:
            typed: Any = int(value) if kind == "integer" else value
        except ValueError:
            return bad, f"{where} parameter {name!r} must be an integer, not {value!r}"
        problem = _problem(_validator(call.forge, key, name), typed)
        if problem:
            return bad, f"{where} parameter {name!r}: {problem}"
    has_body = "requestBody" in op or any(p["in"] == "body" for p in op.get("parameters", []))
    if not has_body:
        return None
    if call.forge == "gitea" and "json" not in call.headers.get("content-type", ""):
        return 400, "body sent without Content-Type: application/json (Gitea binds it as a form)"
    try:
        data = json.loads(call.body or b"null")
    except ValueError:
        return 400, "Problems parsing JSON"
    problem = _problem(_validator(call.forge, key, "body"), data)
    return (bad, f"body {problem}") if problem else None


# ---------------------------------------------------------------- GitHub


def _gh_file(call: _Call, change: Change, head: str) -> dict[str, Any]:
    status = {"removed": "removed", "added": "added", "renamed": "renamed"}.get(change.status)
    blob = f"{call.fake.url}/github-web/{call.repo.name}/blob"
    contents = f"{call.fake.url}/github/repos/{call.repo.name}/contents/{change.path}"
    entry: dict[str, Any] = {"sha": _blob_sha(change.path.encode()), "filename": change.path}
    entry |= {"status": status or "modified", "additions": 1, "deletions": 0, "changes": 1}
    entry |= {"blob_url": f"{blob}/{head}/{change.path}", "contents_url": contents}
    entry |= {"raw_url": f"{blob[:-5]}/raw/{head}/{change.path}", "patch": "@@ -0,0 +1 @@\n+x"}
    return entry | ({"previous_filename": change.previous} if change.previous else {})


def gh_contents(call: _Call) -> Reply:
    ref, path = call.query.get("ref", ""), call.params["path"].strip("/")
    if ref not in call.repo.commits:
        return _error(call, 404, f"No commit found for the ref {ref}")  # [fake] wording
    content = call.repo.files.get((ref, path))
    if content is None:
        docs = f"{GITHUB_DOCS}/repos/contents#get-repository-content"
        return 404, {"message": "Not Found", "documentation_url": docs, "status": "404"}, {}
    if re.search(r"application/vnd\.github(\.v3)?\.raw", call.headers.get("accept", "")):
        return 200, content, {"content-type": "text/plain; charset=utf-8"}  # [fake] type
    if len(content) > 1024 * 1024:  # GHAPI repos/get-content: >1 MB only raw/object
        too_large = {"resource": "Blob", "field": "data", "code": "too_large"}  # [fake] shape
        return _error(call, 403, "This API returns blobs up to 1 MB in size.", errors=[too_large])
    encoded, sha = base64.b64encode(content).decode(), _blob_sha(content)
    url = f"{call.url}?ref={ref}"
    git = f"{call.fake.url}/github/repos/{call.repo.name}/git/blobs/{sha}"
    html = f"{call.fake.url}/github-web/{call.repo.name}/blob/{ref}/{path}"
    # GitHub wraps the base64 text at 60 characters, as in GHAPI's example.
    wrapped = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
    body = {"type": "file", "encoding": "base64", "size": len(content), "content": wrapped}
    body |= {"name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "url": url}
    body |= {"git_url": git, "html_url": html, "download_url": html.replace("/blob/", "/raw/")}
    return 200, body | {"_links": {"self": url, "git": git, "html": html}}, {}


def gh_compare(call: _Call) -> Reply:
    # Not in the fixture: shape of GitHub's documented "Compare two commits" response.
    # status: "diverged", "ahead", "behind" or "identical"; ahead_by (= total_commits) counts
    # the head's commits the base lacks, behind_by the reverse.
    _check_compare_query(call)
    base, sep, head = call.params["basehead"].partition("...")
    compared = _compared(call, base, head) if sep else None
    if compared is None:
        return _not_found(call)  # also GitHub's answer for two commits without a common one
    changes, ahead = compared
    behind = _ahead(call.repo, head, base) or []
    status = ("diverged" if behind else "ahead") if ahead else "behind" if behind else "identical"
    first_page = _int_query(call, "page", 1) <= 1  # files are only on the first page
    commits = [{"sha": c, "commit": {"message": "fake commit"}} for c in reversed(ahead)]
    body = {"url": call.url, "status": status, "ahead_by": len(ahead), "behind_by": len(behind)}
    body |= {"total_commits": len(ahead), "base_commit": {"sha": base}}
    body |= {"merge_base_commit": {"sha": base}, "commits": commits}
    files = [_gh_file(call, c, head) for c in changes[:300]]
    return 200, body | ({"files": files} if first_page else {}), {}


def gh_pull_files(call: _Call) -> Reply:
    # Not in the fixture: GitHub's "List pull requests files" (per_page ≤ 100, ≤ 3000 files).
    number = call.params["pull_number"]
    changes = call.repo.pulls.get(int(number)) if number.isdigit() else None
    if changes is None:
        return _not_found(call)
    files = [_gh_file(call, c, f"pull-{number}") for c in changes[:3000]]
    page = _paginate(call, files, size="per_page", default=30, maximum=100)
    return 200, page.items, page.headers


def gh_create_status(call: _Call) -> Reply:
    sha, body = call.params["sha"], json.loads(call.body)
    if sha not in call.repo.commits:
        return _error(call, 422, f"No commit found for SHA: {sha}")
    description = body.get("description")
    if description is not None and len(description) > GITHUB_DESCRIPTION_MAX:
        message = "description is too long (maximum is 140 characters)"
        call.violation(message)
        error = {"resource": "Status", "code": "custom", "field": "description", "message": message}
        return _error(call, 422, "Validation Failed", errors=[error])
    context = body.get("context", "default")
    records = call.repo.records.setdefault(sha, [])
    if sum(r["context"].casefold() == context.casefold() for r in records) >= 1000:
        full = "This SHA and context has reached the maximum number of statuses."
        error = {"resource": "Status", "code": "custom", "message": full}  # [fake] shape
        return _error(call, 422, "Validation Failed", errors=[error])
    number = call.fake.next_id()
    url = f"{call.fake.url}/github/repos/{call.repo.name}/statuses/{sha}"
    node_id = base64.b64encode(f"04:StatusContext{number}".encode()).decode()
    record = {"url": url, "avatar_url": None, "id": number, "node_id": node_id}
    record |= {"state": body["state"], "description": description, "context": context}
    record |= {"target_url": body.get("target_url"), "created_at": _now(), "updated_at": _now()}
    records.append(record | {"creator": None})
    _posted(call, sha, records[-1], records[-1]["state"], context)
    return 201, records[-1], {"location": url}


def _posted(call: _Call, sha: str, record: dict[str, Any], state: str, context: str) -> None:
    status = Status(state, context, record["description"], record["target_url"], dict(record))
    call.repo.posted.setdefault(sha, []).append(status)


def gh_list_statuses(call: _Call) -> Reply:
    newest_first = list(reversed(call.repo.records.get(call.params["ref"], [])))
    page = _paginate(call, newest_first, size="per_page", default=30, maximum=100)
    return 200, page.items, page.headers


def _latest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each context (contexts compare case-insensitively)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[str(record["context"]).lower()] = record
    return list(latest.values())


def gh_combined_status(call: _Call) -> Reply:
    # GitHub's combined status: the latest status per context and an overall state.
    ref = call.params["ref"]
    statuses = _latest(call.repo.records.get(ref, []))
    states = {s["state"] for s in statuses}
    state = (
        "failure"
        if states & {"error", "failure"}
        else "pending"
        if not statuses or "pending" in states
        else "success"
    )
    page = _paginate(call, statuses, size="per_page", default=30, maximum=100)
    return (
        200,
        {"state": state, "sha": ref, "total_count": len(statuses), "statuses": page.items},
        page.headers,
    )


def repository(call: _Call) -> Reply:
    # Not in the fixtures: a few fields of GitHub's "Get a repository", GitLab's "Get a single
    # project" and Gitea's repoGet. The checks before any handler already answered 404 for a
    # repository the token cannot see.
    name, repo = call.repo.name, call.repo
    if call.forge == "gitlab":
        visibility = "private" if repo.private else "public"
        body = {"id": repo.project_id, "path_with_namespace": name, "visibility": visibility}
        return 200, body | {"default_branch": "main", "web_url": f"{call.fake.url}/{name}"}, {}
    body = {"id": call.fake.next_id(), "full_name": name, "private": repo.private}
    return 200, body | {"name": name.rsplit("/", 1)[-1], "default_branch": "main"}, {}


GITHUB_ROUTES = (
    _Route("GET", "/repos/{owner}/{repo}", repository),
    _Route("GET", "/repos/{owner}/{repo}/commits/{ref+}/status", gh_combined_status),
    _Route("GET", "/repos/{owner}/{repo}/contents/{path+}", gh_contents),
    _Route("GET", "/repos/{owner}/{repo}/compare/{basehead+}", gh_compare),
    _Route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", gh_pull_files),
    _Route("POST", "/repos/{owner}/{repo}/statuses/{sha}", gh_create_status),
    _Route("GET", "/repos/{owner}/{repo}/commits/{ref+}/statuses", gh_list_statuses),
)


# ---------------------------------------------------------------- GitHub App

APP_JWT_MAX_SECONDS = 600
"""A JWT's ``exp`` at most 10 minutes after its ``iat`` ("Generating a JSON Web Token (JWT)
for a GitHub App", https://docs.github.com/apps/creating-github-apps/authenticating-with-a-\
github-app/generating-a-json-web-token-jwt-for-a-github-app)."""
APP_OPERATIONS = {
    "GET /repos/{owner}/{repo}/installation": (
        "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-"
        "authenticated-app: JWT only; 200 with the installation object (id, account, ...), "
        "404 when the App is not installed on the repository"
    ),
}
"""App operations the fixture lacks, with their sources; the access token one is in it."""


@dataclass
class _App:
    app_id: int
    public_key: bytes
    installations: dict[str, int] = field(default_factory=dict)  # repository (lower): id
    tokens: dict[str, tuple[int, float]] = field(default_factory=dict)  # token: (id, expires)
    lifetime: float = 3600.0  # "Installation tokens expire one hour" (the fixture's text)
    issued: list[int] = field(default_factory=list)  # installation of each token made


def _app_jwt(call: _Call, token: str | None) -> Reply | None:
    """None when ``token`` is a valid JWT of the App, else GitHub's 401."""
    import jwt  # PyJWT: verifies the signature with the App's public key

    app = call.fake.app
    if app is None or not token:
        return _error(call, 401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(
            token, app.public_key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
        )
    except jwt.PyJWTError as error:
        call.violation(f"JWT refused: {error}")
        return _error(call, 401, "A JSON web token could not be decoded")
    if str(claims["iss"]) != str(app.app_id):
        call.violation(f"JWT of another App: iss {claims['iss']!r}")
        return _error(call, 401, "Integration not found")  # [fake] wording
    if int(claims["exp"]) - int(claims["iat"]) > APP_JWT_MAX_SECONDS:
        call.violation("JWT valid for more than 10 minutes")
        message = "'Expiration time' claim ('exp') is too far in the future"
        return _error(call, 401, message)
    return None


def gh_access_token(call: _Call) -> Reply:
    app = call.fake.app
    assert app is not None
    installation = int(call.params["installation_id"])
    if installation not in app.installations.values():
        return _not_found(call)
    with call.fake.lock:
        token = f"ghs_{installation}_{call.fake.next_id():08d}"  # [fake] format
        expires = time.time() + app.lifetime
        app.tokens[token] = (installation, expires)
        app.issued.append(installation)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    body = {"token": token, "expires_at": stamp, "permissions": {"checks": "write"}}
    return 201, body | {"repository_selection": "all"}, {}


def gh_repo_installation(call: _Call) -> Reply:
    app = call.fake.app
    installation = app.installations.get(call.repo.name.lower()) if app else None
    if installation is None:
        return _not_found(call)
    owner = call.repo.name.split("/", 1)[0]
    body = {"id": installation, "app_id": app.app_id if app else 0, "target_type": "User"}
    return 200, body | {"account": {"login": owner}}, {}


CHECK_OPERATIONS = {
    "GET /repos/{owner}/{repo}/commits/{ref}/check-runs": (
        "https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference: "
        "query check_name, status, filter (latest|all, default latest: the newest run of each "
        "name), app_id, per_page (max 100), page; 200 {total_count, check_runs}"
    ),
}
"""Check run operations the fixture lacks; create and update are in it."""
CHECK_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped")
CHECK_CONCLUSIONS += ("stale", "timed_out")


def _check_rules(call: _Call, body: dict[str, Any]) -> Reply | None:
    """What GitHub enforces beyond the schema: only an App's installation writes check runs
    (a personal token gets 403), a title with every output, and columns only on one line."""
    if call.installation is None:
        message = "Resource not accessible by personal access token"  # [fake] wording
        call.violation("check runs need a GitHub App's installation token")
        return _error(call, 403, message)
    output = body.get("output") or {}
    if output and not output.get("title"):
        call.violation("output without a title")
        return _error(call, 422, 'Invalid request.\n\n"title" wasn\'t supplied.')
    for note in output.get("annotations") or []:
        if ("start_column" in note or "end_column" in note) and (
            note["start_line"] != note["end_line"]
        ):
            call.violation(f"columns on an annotation of lines {note['start_line']}-...")
            return _error(call, 422, "Validation Failed")
    return None


def _check_record(call: _Call, run: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    for name in ("name", "details_url", "external_id", "started_at", "completed_at"):
        if name in body:
            run[name] = body[name]
    if "conclusion" in body:
        run["status"], run["conclusion"] = "completed", body["conclusion"]
    elif "status" in body:
        run["status"] = body["status"]
        run["conclusion"] = None
    if "output" in body:
        notes = list(body["output"].get("annotations") or [])
        run["annotations"] = run.get("annotations", []) + notes
        kept = {k: v for k, v in body["output"].items() if k != "annotations"}
        run["output"] = {**run.get("output", {}), **kept}
        run["output"]["annotations_count"] = len(run["annotations"])
    state = run["conclusion"] or run["status"]
    output = run.get("output") or {}
    status = Status(state, run["name"], output.get("title"), run.get("details_url"), dict(run))
    call.repo.posted.setdefault(run["head_sha"], []).append(status)
    return {k: v for k, v in run.items() if k != "annotations"}


def gh_create_check(call: _Call) -> Reply:
    body = json.loads(call.body)
    refused = _check_rules(call, body)
    if refused:
        return refused
    if body["head_sha"] not in call.repo.commits:
        return _error(call, 422, f"No commit found for SHA: {body['head_sha']}")
    if body.get("status") == "completed" and "conclusion" not in body:
        call.violation("completed without a conclusion")
        return _error(call, 422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
    ident = call.fake.next_id()
    app = call.fake.app
    run: dict[str, Any] = {"id": ident, "head_sha": body["head_sha"], "status": "queued"}
    run |= {"conclusion": None, "details_url": None, "app": {"id": app.app_id if app else 0}}
    run |= {"url": f"{call.url}/{ident}", "html_url": f"{call.fake.url}/runs/{ident}"}
    with call.fake.lock:
        call.repo.checks[ident] = run
        return 201, _check_record(call, run, body), {}


def gh_update_check(call: _Call) -> Reply:
    body = json.loads(call.body)
    refused = _check_rules(call, body)
    if refused:
        return refused
    ident = call.params["check_run_id"]
    with call.fake.lock:
        run = call.repo.checks.get(int(ident)) if ident.isdigit() else None
        if run is None:
            return _not_found(call)
        return 200, _check_record(call, run, body), {}


def gh_list_checks(call: _Call) -> Reply:
    ref, wanted = call.params["ref"], call.query.get("filter", "latest")
    if wanted not in ("latest", "all") or call.query.get("status", "queued") not in (
        "queued",
        "in_progress",
        "completed",
    ):
        call.violation(f"filter or status not allowed: {call.query}")
        return _error(call, 422, "Validation Failed")
    with call.fake.lock:
        runs = [r for r in call.repo.checks.values() if r["head_sha"] == ref]
    if "app_id" in call.query:
        runs = [r for r in runs if str(r["app"]["id"]) == call.query["app_id"]]
    if wanted == "latest":
        runs = list({r["name"].lower(): r for r in runs}.values())
    runs = [{k: v for k, v in r.items() if k != "annotations"} for r in reversed(runs)]
    page = _paginate(call, runs, size="per_page", default=30, maximum=100)
    return 200, {"total_count": len(runs), "check_runs": page.items}, page.headers


APP_ROUTES = (
    _Route("POST", "/app/installations/{installation_id}/access_tokens", gh_access_token),
    _Route("GET", "/repos/{owner}/{repo}/installation", gh_repo_installation),
)
"""Routes authenticated with the App's JWT, not an installation token."""
CHECK_ROUTES = (
    _Route("POST", "/repos/{owner}/{repo}/check-runs", gh_create_check),
    _Route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", gh_update_check),
    _Route("GET", "/repos/{owner}/{repo}/commits/{ref+}/check-runs", gh_list_checks),
)
JWT_ONLY = frozenset({"POST /app/installations/{installation_id}/access_tokens"})
"""Routes without a repository in the path."""


# ---------------------------------------------------------------- GitLab (no fixture)


def _gl_diff(change: Change) -> dict[str, Any]:
    added, removed = change.status == "added", change.status == "removed"
    diff: dict[str, Any] = {"old_path": change.previous or change.path, "new_path": change.path}
    diff |= {"a_mode": "0" if added else "100644", "b_mode": "0" if removed else "100644"}
    diff |= {"new_file": added, "renamed_file": change.status == "renamed", "deleted_file": removed}
    return diff | {"generated_file": False, "diff": "@@ -0,0 +1 @@\n+x\n"}


def _gl_page_headers(page: _Page, total: int) -> dict[str, str]:
    following = str(page.number + 1) if page.number < page.last else ""
    previous = str(page.number - 1) if page.number > 1 else ""
    headers = {"x-page": str(page.number), "x-per-page": str(page.size), "x-total": str(total)}
    headers |= {"x-total-pages": str(page.last), "x-next-page": following}
    return headers | {"x-prev-page": previous}


def gl_raw_file(call: _Call) -> Reply:
    # GLDOCS repository_files.md; `:file_path` is one segment (slashes must be %2F-encoded).
    ref, path = call.query.get("ref", ""), call.params["file_path"]
    if ref not in call.repo.commits:
        return _not_found(call, "Commit")
    content = call.repo.files.get((ref, path))
    if content is None:
        return _not_found(call, "File")
    headers = {"content-type": "text/plain; charset=utf-8", "x-gitlab-file-path": path}
    return 200, content, headers | {"x-gitlab-ref": ref, "x-gitlab-blob-id": _blob_sha(content)}


def gl_compare(call: _Call) -> Reply:
    # GitLab's documented "Compare branches, tags or commits" response.
    _check_compare_query(call)
    missing = [name for name in ("from", "to") if not call.query.get(name)]
    if missing:
        call.violation(f"missing {', '.join(missing)}")
        return 400, {"error": ", ".join(f"{name} is missing" for name in missing)}, {}
    base, head = call.query["from"], call.query["to"]
    compared = _compared(call, base, head)
    if compared is None:
        return _not_found(call, "Ref")  # [fake] status and wording
    changes, ahead = compared
    commits = [{"id": c, "short_id": c[:8], "title": "fake commit"} for c in reversed(ahead)]
    body: dict[str, Any] = {
        "commit": commits[-1] if commits else None,
        "commits": commits,
        "diffs": [_gl_diff(c) for c in changes],
    }
    body |= {"compare_timeout": False, "compare_same_ref": base == head}
    web = f"{call.fake.url}/gitlab-web/{call.repo.name}/-/compare/{base}...{head}"
    return 200, body | {"web_url": web}, {}


def gl_mr_diffs(call: _Call) -> Reply:
    # GitLab's "List merge request diffs" (per_page default 20, max 100; X-* page headers).
    iid = call.params["merge_request_iid"]
    changes = call.repo.pulls.get(int(iid)) if iid.isdigit() else None
    if changes is None:
        return _not_found(call, "Merge Request")
    diffs = [_gl_diff(c) for c in changes]
    page = _paginate(call, diffs, size="per_page", default=20, maximum=100)
    return 200, page.items, page.headers | _gl_page_headers(page, len(diffs))


# state -> (state-machine event, states the event may leave); GitLab's CommitStatus.
# The "skip" sources are [fake] (from memory of app/models/commit_status.rb).
_GL_EVENTS = {
    "pending": ("enqueue", {"created"}),
    "running": ("run", {"pending"}),
    "success": ("success", {"created", "pending", "running"}),
    "failed": ("drop", {"created", "pending", "running"}),
    "canceled": ("cancel", {"created", "pending", "running"}),
    "skipped": ("skip", {"created", "pending"}),
}


def _gl_params(call: _Call) -> dict[str, Any] | None:
    """Grape merges query, JSON and form parameters; None when the body cannot be read."""
    params: dict[str, Any] = dict(call.query)
    content_type = call.headers.get("content-type", "")
    if not call.body:
        return params
    if "json" in content_type:
        try:
            data = json.loads(call.body)
        except ValueError:
            return None
        return params | data if isinstance(data, dict) else None
    if "x-www-form-urlencoded" in content_type:
        return params | dict(parse_qsl(call.body.decode()))
    return None


GITLAB_STATUS_DOCS = "https://docs.gitlab.com/api/commits/#set-commit-pipeline-status"
GITLAB_STATUS_PARAMS: dict[str, tuple[type, int | None]] = {
    "state": (str, None),  # required, one of GITLAB_STATES
    "ref": (str, GITLAB_TEXT_MAX),  # "The ref (branch or tag) to which the status refers"
    "target_url": (str, GITLAB_TEXT_MAX),
    "description": (str, GITLAB_TEXT_MAX),
    "name": (str, None),
    "context": (str, None),
    "coverage": (float, None),
    "pipeline_id": (int, None),  # "The ID of the pipeline to set status"
}
"""The body of GitLab's "Set commit pipeline status" (GITLAB_STATUS_DOCS; notes/forges.md
§2.3): each parameter's type and longest value. GitLab makes only `state` required; without
`ref` it takes the first branch that contains the commit, or answers 404 "References for
commit" when none does (a fork's commit, a tag's), so the fake counts a missing `ref` as a
violation as well [fake: strict on purpose]."""


def _gl_invalid(call: _Call, params: dict[str, Any]) -> Reply | None:
    if "state" not in params:
        return 400, {"error": "state is missing"}, {}
    if params["state"] not in GITLAB_STATES:
        return 400, {"error": "state does not have a valid value"}, {}
    for name in sorted(set(params) - set(GITLAB_STATUS_PARAMS)):
        call.violation(f"{name} is not a parameter of {GITLAB_STATUS_DOCS}")  # GitLab ignores it
    for name, (kind, limit) in GITLAB_STATUS_PARAMS.items():
        value = params.get(name)
        if value is None:
            continue
        if kind is not str:
            try:
                kind(value)
            except (TypeError, ValueError):
                return 400, {"error": f"{name} is invalid"}, {}
            continue
        if not isinstance(value, str):
            return 400, {"error": f"{name} is invalid"}, {}
        if limit is not None and len(value) > limit:
            message = f"is too long (maximum is {limit} characters)"
            return _error(call, 400, {name: [message]})  # [fake] model-validation shape
    target = params.get("target_url")
    if target and not re.match(r"https?://", target):
        blocked = "is blocked: Only allowed schemes are http, https"  # [fake] wording
        return _error(call, 400, {"target_url": [blocked]})
    return None


def _gl_record(call: _Call, sha: str, ref: str, name: str) -> dict[str, Any]:
    """A new external job (Entities::CommitStatus) in the (sha, ref) pipeline."""
    pipeline = call.fake.gitlab_pipeline(call.repo, sha, ref)
    record = {"id": call.fake.next_id(), "sha": sha, "ref": ref, "name": name, "status": "created"}
    record |= {"created_at": _now(millis=True), "started_at": None, "finished_at": None}
    record |= {"allow_failure": False, "coverage": None, "pipeline_id": pipeline}
    record |= {"target_url": None, "description": None}
    return record | {"author": {"id": 1, "username": "knargo", "state": "active"}}


def gl_create_status(call: _Call) -> Reply:
    params = _gl_params(call)
    if params is None:
        call.violation("body is neither a JSON object nor a form")
        return 400, {"error": "body is invalid"}, {}
    invalid = _gl_invalid(call, params)
    if invalid:
        call.violation(json.dumps(invalid[1]))
        return invalid
    sha = call.params["sha"]
    if sha not in call.repo.commits:
        return _not_found(call, "Commit")
    name = params.get("name") or params.get("context") or "default"
    ref = params.get("ref")
    if not ref:
        call.violation(f"no ref: GitLab guesses the branch ({GITLAB_STATUS_DOCS})")
        if sha in call.repo.branchless:
            return _not_found(call, "References for commit")
        ref = call.fake.gitlab_default_ref  # [fake] GitLab: the first branch with the commit
    records = call.repo.records.setdefault(sha, [])
    found = [r for r in records if (r["name"], r["ref"]) == (name, ref)]
    current = found[-1] if found and found[-1]["status"] in ("pending", "running") else None
    state = params["state"]
    before = current["status"] if current else "created"
    event, sources = _GL_EVENTS[state]
    if state == "running" and before == "created":
        before = "pending"  # the API enqueues silently before `run!`
    if before not in sources:
        message = f"Cannot transition status via :{event} from :{before}"
        return _error(call, 400, f'{message} (Reason(s): Status cannot transition via "{event}")')
    record = current or _gl_record(call, sha, ref, name)
    record["status"] = state
    for key in ("target_url", "description", "coverage"):
        if params.get(key) is not None:
            record[key] = float(params[key]) if key == "coverage" else params[key]
    if state == "running":
        record["started_at"] = _now(millis=True)
    elif state != "pending":
        record["finished_at"] = _now(millis=True)
    if current is None:
        records.append(record)
    _posted(call, sha, record, state, name)
    return 201, record, {}


def gl_list_statuses(call: _Call) -> Reply:
    sha = call.params["sha"]
    if sha not in call.repo.commits:
        return _not_found(call, "Commit")
    records = call.repo.records.get(sha, [])
    if call.query.get("all", "").lower() not in ("true", "1", "yes"):  # only the latest per name
        latest = {(r["name"], r["ref"]): r for r in records}
        records = [r for r in records if latest[(r["name"], r["ref"])] is r]
    for name in ("ref", "name"):
        if call.query.get(name):
            records = [r for r in records if r[name] == call.query[name]]
    page = _paginate(call, records, size="per_page", default=20, maximum=100)
    return 200, page.items, page.headers | _gl_page_headers(page, len(records))


GITLAB_ROUTES = (
    _Route("GET", "/projects/{id}", repository),
    _Route("GET", "/projects/{id}/repository/files/{file_path}/raw", gl_raw_file),
    _Route("GET", "/projects/{id}/repository/compare", gl_compare),
    _Route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/diffs", gl_mr_diffs),
    _Route("POST", "/projects/{id}/statuses/{sha}", gl_create_status),
    _Route("GET", "/projects/{id}/repository/commits/{sha}/statuses", gl_list_statuses),
)


# ---------------------------------------------------------------- Gitea / Forgejo


def gt_raw(call: _Call) -> Reply:
    path, ref = call.params["filepath"], call.query.get("ref")
    if ref is None:  # the older "{ref}/{filepath}" form
        ref, _, path = path.partition("/")
    if ref not in call.repo.commits or (ref, path) not in call.repo.files:
        return _not_found(call)
    return 200, call.repo.files[(ref, path)], {"content-type": "application/octet-stream"}


def gt_compare(call: _Call) -> Reply:
    # Not in the fixture: routers/api/v1/repo/compare.go. Gitea's `Compare` is
    # {total_commits, commits}; the files are on each commit (`files`, CommitAffectedFiles).
    _check_compare_query(call)
    basehead = call.params["basehead"]
    base, sep, head = basehead.partition("...")
    if not sep:
        base, _, head = basehead.partition("..")
    compared = _compared(call, base, head)
    if compared is None:
        return _not_found(call)
    changes, ahead = compared
    files: list[dict[str, str]] = []
    for change in changes:  # [fake] renames as removed + added (git name-status, no renames)
        if change.status == "renamed" and change.previous:
            files.append({"filename": change.previous, "status": "removed"})
        status = change.status if change.status in ("added", "removed") else "modified"
        files.append({"filename": change.path, "status": status})
    commits = []
    for sha in reversed(ahead):  # the files on the newest commit [fake]
        url = f"{call.fake.url}/gitea/api/v1/repos/{call.repo.name}/git/commits/{sha}"
        on = files if sha == head else []
        commit = {"sha": sha, "url": url, "commit": {"message": "fake commit"}, "files": on}
        commits.append(commit | {"stats": {"total": len(on), "deletions": 0}})
    return 200, {"total_commits": len(ahead), "commits": commits}, {}


def gt_pull_files(call: _Call) -> Reply:
    # Not in the fixture: routers/api/v1/repo/pull.go GetPullRequestFiles (page/limit;
    # X-Total-Count, X-Page, X-PerPage, X-PageCount, X-HasMore, Link).
    index = call.params["index"]
    changes = call.repo.pulls.get(int(index)) if index.isdigit() else None
    if changes is None:
        return _not_found(call)
    names = {"removed": "deleted", "added": "added", "renamed": "renamed"}
    counts = {"additions": 1, "deletions": 0, "changes": 1}
    files = [
        {"filename": c.path, "previous_filename": c.previous or "", **counts}
        | {"status": names.get(c.status, "changed")}
        for c in changes
    ]
    page = _paginate(call, files, size="limit", default=30, maximum=50)
    headers: dict[str, Any] = {
        "x-total-count": len(files),
        "x-page": page.number,
        "x-perpage": page.size,
    }
    headers |= {"x-pagecount": page.last, "x-hasmore": str(page.number < page.last).lower()}
    return 200, page.items, page.headers | {k: str(v) for k, v in headers.items()}


def gt_create_status(call: _Call) -> Reply:
    sha, body = call.params["sha"], json.loads(call.body)
    if sha not in call.repo.commits:  # services/repository/commitstatus: GetCommit fails -> 500
        return _error(call, 500, f"GetCommit[{sha}]: object does not exist [id: {sha}]")
    url = f"{call.fake.url}/gitea/api/v1/repos/{call.repo.name}/statuses/{sha}"
    record = {"id": call.fake.next_id(), "status": body["state"], "url": url}
    record |= {key: body.get(key, "") for key in ("target_url", "description", "context")}
    record |= {"creator": {"id": 1, "login": "knargo"}, "created_at": _now(), "updated_at": _now()}
    call.repo.records.setdefault(sha, []).append(record)
    _posted(call, sha, record, record["status"], record["context"])
    return 201, record, {}


def gt_list_statuses(call: _Call) -> Reply:
    # Default order newest first [fake]; "oldest" reverses it. No commit check (as Gitea).
    records = list(call.repo.records.get(call.params.get("sha") or call.params["ref"], []))
    if call.query.get("sort") not in ("oldest", "leastupdate", "leastindex"):
        records.reverse()
    if call.query.get("state"):
        records = [r for r in records if r["status"] == call.query["state"]]
    page = _paginate(call, records, size="limit", default=30, maximum=50)
    return 200, page.items, page.headers | {"x-total-count": str(len(records))}


_GITEA_ORDER = ["error", "failure", "warning", "pending", "success"]


def gt_combined_status(call: _Call) -> Reply:
    # Gitea's combined status: the worst of the latest per context (notes/forges.md §2.4).
    ref = call.params["ref"]
    statuses = _latest(call.repo.records.get(ref, []))
    worst = min(
        (_GITEA_ORDER.index(s["status"]) for s in statuses if s["status"] in _GITEA_ORDER),
        default=_GITEA_ORDER.index("pending"),
    )
    page = _paginate(call, statuses, size="limit", default=30, maximum=50)
    return (
        200,
        {
            "state": _GITEA_ORDER[worst],
            "sha": ref,
            "total_count": len(statuses),
            "statuses": page.items,
        },
        page.headers,
    )


GITEA_ROUTES = (
    _Route("GET", "/repos/{owner}/{repo}", repository),
    _Route("GET", "/repos/{owner}/{repo}/commits/{ref+}/status", gt_combined_status),
    _Route("GET", "/repos/{owner}/{repo}/raw/{filepath+}", gt_raw),
    _Route("GET", "/repos/{owner}/{repo}/compare/{basehead+}", gt_compare),
    _Route("GET", "/repos/{owner}/{repo}/pulls/{index}/files", gt_pull_files),
    _Route("POST", "/repos/{owner}/{repo}/statuses/{sha}", gt_create_status),
    _Route("GET", "/repos/{owner}/{repo}/statuses/{sha}", gt_list_statuses),
    _Route("GET", "/repos/{owner}/{repo}/commits/{ref+}/statuses", gt_list_statuses),
)


# ---------------------------------------------------------------- conversations (no fixture)

CONVERSATION_OPERATIONS: dict[str, dict[str, str]] = {
    "github": {
        "pull": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request",
        "permission": "https://docs.github.com/rest/collaborators/collaborators"
        "#get-repository-permissions-for-a-user",
        "comment": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    },
    "gitlab": {
        "pull": "https://docs.gitlab.com/api/merge_requests/#get-single-mr",
        "permission": "https://docs.gitlab.com/api/members/"
        "#get-a-member-of-a-group-or-project-including-inherited-and-invited-members",
        "comment": "https://docs.gitlab.com/api/notes/#create-new-merge-request-note",
    },
    "gitea": {
        "pull": "Gitea's swagger, repoGetPullRequest",
        "permission": "Gitea's swagger, repoGetRepoPermissions",
        "comment": "Gitea's swagger, issueCreateComment (CreateIssueCommentOption: body required)",
    },
}
"""The operations comment commands call, not in ../shared/fixtures/api/: where each forge
describes them. What the fake checks: the path's ids (GitLab's are integers), a JSON object
body with a non-empty string `body` (GitHub: at most 65,536 characters, "Create an issue
comment"; GitLab: at most 1,000,000, `Note::MAX_NOTE_LENGTH`), a known pull request, and a
known user (GitHub and Gitea answer 404 for a user that does not exist, GitLab for one that
is no member)."""

GITHUB_COMMENT_MAX = 65536
GITLAB_NOTE_MAX = 1_000_000
_LEGACY = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read"}


def _pull_of(call: _Call, name: str) -> _Pull | None:
    number = call.params[name]
    if not number.isdigit():
        call.violation(f"path parameter {name}={number!r} is not an integer")
        return None
    return call.repo.heads.get(int(number))


def _comment_body(call: _Call, limit: int) -> str | Reply:
    """The `body` of a comment request, or the forge's refusal."""
    try:
        data = json.loads(call.body or b"null")
    except ValueError:
        return _error(call, 400, "Problems parsing JSON")
    text = data.get("body") if isinstance(data, dict) else None
    status = {"github": 422, "gitlab": 400, "gitea": 422}[call.forge]
    if not isinstance(text, str) or not text.strip():
        call.violation("a comment needs a non-empty string `body`")
        return _error(
            call, status, "body is missing" if call.forge == "gitlab" else "Validation Failed"
        )
    if len(text) > limit:
        call.violation(f"a comment of {len(text)} characters (at most {limit})")
        return _error(call, status, f"body is too long (maximum is {limit} characters)")
    return text


def _store_comment(call: _Call, number: int, text: str) -> int:
    with call.fake.lock:
        call.repo.comments.setdefault(number, []).append(text)
    return call.fake.next_id()


def gh_pull(call: _Call) -> Reply:
    pull = _pull_of(call, "pull_number")
    if pull is None:
        return _not_found(call)
    head_repo = {"full_name": pull.head_repo or call.repo.name}
    body = {"number": int(call.params["pull_number"]), "state": pull.state}
    body |= {"head": {"ref": pull.ref, "sha": pull.sha, "repo": head_repo}}
    return 200, body | {"base": {"ref": pull.base, "repo": {"full_name": call.repo.name}}}, {}


def gh_permission(call: _Call) -> Reply:
    user = call.params["username"]
    member = call.repo.members.get(user.lower())
    if member is None:
        return _not_found(call)
    role = str(member[0])
    body = {"permission": _LEGACY.get(role, "none" if role == "none" else "read")}
    return 200, body | {"role_name": role, "user": {"login": user}}, {}


def _comment_on(call: _Call, name: str, limit: int) -> Reply:
    """Create a comment on the pull request whose number is the path parameter ``name``."""
    if _pull_of(call, name) is None:
        return _not_found(call, "Not found")
    if call.forge == "gitea" and "json" not in call.headers.get("content-type", ""):
        call.violation("body sent without Content-Type: application/json")
        return 400, {"message": "Bad Request"}, {}
    text = _comment_body(call, limit)
    if not isinstance(text, str):
        return text
    ident = _store_comment(call, int(call.params[name]), text)
    author = {"login": "knargo"} if call.forge != "gitlab" else {"username": "knargo"}
    return (
        201,
        {"id": ident, "body": text, "user" if call.forge != "gitlab" else "author": author},
        {},
    )


LIST_QUERIES: dict[str, dict[str, tuple[str, ...] | None]] = {
    # None: any value of the documented type (checked below); a tuple: the allowed values.
    "github": {"since": None, "per_page": None, "page": None},
    "gitlab": {"sort": ("asc", "desc"), "order_by": ("created_at", "updated_at"),
               "per_page": None, "page": None},
    "gitea": {"since": None, "before": None, "page": None, "limit": None},
}  # fmt: skip
"""The documented query parameters of listing a pull request's comments (same sources as
CONVERSATION_OPERATIONS): anything else is a violation."""


def _list_comments(call: _Call, name: str) -> Reply:
    if _pull_of(call, name) is None:
        return _not_found(call, "Not found")
    for key, value in call.query.items():
        allowed = LIST_QUERIES[call.forge].get(key, ())
        if allowed == ():
            call.violation(f"query parameter {key!r} is not documented for listing comments")
        elif allowed is not None and value not in allowed:
            call.violation(f"query parameter {key}={value!r} is not one of {allowed}")
        elif key in ("per_page", "page", "limit") and not value.isdigit():
            call.violation(f"query parameter {key}={value!r} is not an integer")
        elif key in ("since", "before") and not re.fullmatch(
            r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-][\d:]+)", value
        ):
            call.violation(f"query parameter {key}={value!r} is not an ISO 8601 time")
    with call.fake.lock:
        texts = list(call.repo.comments.get(int(call.params[name]), []))
    entries = [{"id": i + 1, "body": text} for i, text in enumerate(texts)]
    if call.query.get("sort") == "desc":
        entries.reverse()
    return 200, entries, {}


def gh_comments(call: _Call) -> Reply:
    return _list_comments(call, "issue_number")


def gl_notes(call: _Call) -> Reply:
    return _list_comments(call, "merge_request_iid")


def gt_comments(call: _Call) -> Reply:
    return _list_comments(call, "index")


def gh_comment(call: _Call) -> Reply:
    return _comment_on(call, "issue_number", GITHUB_COMMENT_MAX)


def gl_merge_request(call: _Call) -> Reply:
    pull = _pull_of(call, "merge_request_iid")
    if pull is None:
        return _not_found(call, "Not found")
    source = call.fake.project_id(pull.head_repo) if pull.head_repo else call.repo.project_id
    body = {"iid": int(call.params["merge_request_iid"]), "sha": pull.sha, "state": pull.state}
    body |= {"source_branch": pull.ref, "target_branch": pull.base}
    return 200, body | {"source_project_id": source, "target_project_id": call.repo.project_id}, {}


def gl_member(call: _Call) -> Reply:
    user_id = call.params["user_id"]
    if not user_id.isdigit():
        call.violation(f"path parameter user_id={user_id!r} is not an integer")
        return 400, {"error": "user_id is invalid"}, {}
    found = [(u, m) for u, m in call.repo.members.items() if m[1] == int(user_id)]
    if not found:
        return _not_found(call)
    user, (level, ident) = found[0]
    return 200, {"id": ident, "username": user, "access_level": level, "state": "active"}, {}


def gl_note(call: _Call) -> Reply:
    return _comment_on(call, "merge_request_iid", GITLAB_NOTE_MAX)


def gt_pull(call: _Call) -> Reply:
    pull = _pull_of(call, "index")
    if pull is None:
        return _not_found(call)
    base_id = call.repo.project_id or 1
    head_id = base_id if pull.head_repo is None else base_id + 1000
    head = {"ref": pull.ref, "sha": pull.sha, "repo_id": head_id}
    head["repo"] = {"full_name": pull.head_repo or call.repo.name}
    base = {"ref": pull.base, "repo_id": base_id, "repo": {"full_name": call.repo.name}}
    body = {"number": int(call.params["index"]), "state": pull.state}
    return 200, body | {"head": head, "base": base}, {}


def gt_permission(call: _Call) -> Reply:
    user = call.params["collaborator"]
    member = call.repo.members.get(user.lower())
    if member is None:
        return _not_found(call)
    level = str(member[0])
    return 200, {"permission": level, "role_name": level, "user": {"login": user}}, {}


def gt_comment(call: _Call) -> Reply:
    return _comment_on(call, "index", GITLAB_NOTE_MAX)  # [fake] Gitea's TEXT column: no limit


CONVERSATION_ROUTES = {
    "github": (
        _Route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", gh_pull),
        _Route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", gh_permission),
        _Route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", gh_comment),
        _Route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", gh_comments),
    ),
    "gitlab": (
        _Route("GET", "/projects/{id}/merge_requests/{merge_request_iid}", gl_merge_request),
        _Route("GET", "/projects/{id}/members/all/{user_id}", gl_member),
        _Route("POST", "/projects/{id}/merge_requests/{merge_request_iid}/notes", gl_note),
        _Route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/notes", gl_notes),
    ),
    "gitea": (
        _Route("GET", "/repos/{owner}/{repo}/pulls/{index}", gt_pull),
        _Route(
            "GET",
            "/repos/{owner}/{repo}/collaborators/{collaborator}/permission",
            gt_permission,
        ),
        _Route("POST", "/repos/{owner}/{repo}/issues/{index}/comments", gt_comment),
        _Route("GET", "/repos/{owner}/{repo}/issues/{index}/comments", gt_comments),
    ),
}

ROUTES = {
    "github": GITHUB_ROUTES + CONVERSATION_ROUTES["github"] + APP_ROUTES + CHECK_ROUTES,
    "gitlab": GITLAB_ROUTES + CONVERSATION_ROUTES["gitlab"],
    "gitea": GITEA_ROUTES + CONVERSATION_ROUTES["gitea"],
}


# ---------------------------------------------------------------- the fake


def _token(forge: str, headers: dict[str, str]) -> str | None:
    """The token the request carries ("" when it carries an unusable one, None when none)."""
    if forge == "gitlab" and "private-token" in headers:
        return headers["private-token"]
    if "authorization" not in headers:
        return None
    scheme, _, value = headers["authorization"].strip().partition(" ")
    if forge == "gitea":  # services/auth/oauth2.go: "token" (exact case) or any-case "bearer"
        usable = scheme == "token" or scheme.lower() == "bearer"
    elif forge == "gitlab":
        usable = scheme.lower() == "bearer"
    else:
        usable = scheme.lower() in ("token", "bearer")
    return value.strip() if usable else ""


class ForgeFake:
    """State and hooks of the fake; every method is thread-safe."""

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = {**DEFAULT_TOKENS, **(tokens or {})}
        self.url = ""
        self.latency = 0.0
        self.gitlab_default_ref = "main"
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.lock = threading.RLock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._injections: list[_Injection] = []
        self._ids = 0
        self._pipelines: dict[tuple[str, str, str], int] = {}
        self._rate_reset = int(time.time()) + 3600
        self._rate_used = 0
        self.app: _App | None = None

    def api_url(self, forge: str) -> str:
        return self.url + BASES[forge]

    # -- state

    def _repo(self, forge: str, repo: str) -> _Repo:
        if forge not in BASES:
            raise ValueError(f"unknown forge {forge!r}; expected one of {sorted(BASES)}")
        with self.lock:
            return self._repos.setdefault((forge, repo.lower()), _Repo(repo, False, 0))

    def add_repo(
        self,
        forge: str,
        repo: str,
        *,
        private: bool = False,
        project_id: int | None = None,
        visible: bool = True,
    ) -> None:
        """Register a repository: "owner/name", or GitLab's "group/subgroup/project".

        Repositories are also registered by the other ``add_``/``set_`` methods. Names are
        case-insensitive. A GitLab project gets ``project_id`` (or 1000 + a counter). A
        private repository that is not ``visible`` to the token answers every call with 404,
        as if it did not exist (GitHub does not say 403 there).
        """
        with self.lock:
            found = self._repo(forge, repo)
            found.private = private or found.private
            found.project_id = project_id or found.project_id or 1000 + len(self._repos)
            found.visible = visible or not found.private

    def project_id(self, repo: str) -> int:
        """The numeric id of a GitLab project (registering it if needed)."""
        self.add_repo("gitlab", repo)
        return self._repo("gitlab", repo).project_id

    def add_commit(
        self,
        forge: str,
        repo: str,
        sha: str,
        *,
        parents: Iterable[str] = (),
        on_branch: bool = True,
    ) -> None:
        """Make ``sha`` a commit of the repository (statuses may be posted to it), a child of
        ``parents`` (known commits; compares follow them); ``on_branch=False``: no branch
        contains it (a fork's commit, a tag's), which matters to GitLab's statuses."""
        self.add_repo(forge, repo)
        with self.lock:
            found = self._repo(forge, repo)
            found.commits.add(sha)
            if parents:
                found.parents[sha] = tuple(parents)
            if on_branch:
                found.branchless.discard(sha)
            else:
                found.branchless.add(sha)

    def add_file(self, forge: str, repo: str, sha: str, path: str, content: bytes) -> None:
        """Put ``content`` at ``path`` in commit ``sha`` (which becomes a known commit)."""
        self.add_commit(forge, repo, sha)
        with self.lock:
            self._repo(forge, repo).files[(sha, path.strip("/"))] = content

    def set_compare(
        self, forge: str, repo: str, base: str, head: str, paths: Iterable[str | Change]
    ) -> None:
        """The files changed between commits ``base`` and ``head`` (both become known)."""
        changes = [Change(p) if isinstance(p, str) else p for p in paths]
        self.add_commit(forge, repo, base)
        self.add_commit(forge, repo, head)
        with self.lock:
            self._repo(forge, repo).compares[(base, head)] = changes

    def set_pr_files(
        self, forge: str, repo: str, number: int, paths: Iterable[str | Change]
    ) -> None:
        """The files of pull request ``number`` (GitLab: merge request iid; Gitea: index)."""
        changes = [Change(p) if isinstance(p, str) else p for p in paths]
        self.add_repo(forge, repo)
        with self.lock:
            self._repo(forge, repo).pulls[number] = changes

    def set_pull(
        self,
        forge: str,
        repo: str,
        number: int,
        sha: str,
        *,
        ref: str = "feature",
        base: str = "main",
        head_repo: str | None = None,
        state: str | None = None,
    ) -> None:
        """Pull request ``number`` (GitLab: iid) with head commit ``sha`` on branch ``ref``,
        from ``head_repo`` (a fork) or the repository itself; ``state`` as the forge spells
        it (default open: ``open``, GitLab ``opened``)."""
        self.add_commit(forge, repo, sha, on_branch=head_repo is None)
        state = state or ("opened" if forge == "gitlab" else "open")
        with self.lock:
            self._repo(forge, repo).heads[number] = _Pull(sha, ref, base, head_repo, state)

    def set_permission(
        self, forge: str, repo: str, user: str, level: Any, user_id: int | None = None
    ) -> None:
        """What ``user`` may do: GitHub a role name (admin, maintain, write, triage, read,
        none), GitLab an access level (10 to 50) with the user's numeric id, Gitea a
        permission (owner, admin, write, read, none)."""
        with self.lock:
            ident = user_id or 7000 + len(self._repo(forge, repo).members)
            self._repo(forge, repo).members[user.lower()] = (level, ident)

    def comments(self, forge: str, repo: str, number: int) -> list[str]:
        """The comments knargo posted on pull request ``number``, in order."""
        with self.lock:
            return list(self._repo(forge, repo).comments.get(number, []))

    def statuses(self, forge: str, repo: str, sha: str) -> list[Status]:
        """Every status the forge accepted for ``sha``, in the order they were posted."""
        with self.lock:
            return list(self._repo(forge, repo).posted.get(sha, []))

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def gitlab_pipeline(self, repo: _Repo, sha: str, ref: str) -> int:
        with self.lock:
            return self._pipelines.setdefault((repo.name, sha, ref), 5000 + len(self._pipelines))

    def enable_app(self, app_id: int, public_key: bytes, *, lifetime: float = 3600.0) -> None:
        """GitHub answers as for an App ``app_id``: JWTs are verified with ``public_key``
        (PEM), installation tokens live ``lifetime`` seconds; ``install`` repositories."""
        with self.lock:
            self.app = _App(app_id, public_key, lifetime=lifetime)

    def install(self, repo: str, installation: int) -> None:
        """The App is installed on GitHub repository ``repo`` as ``installation``."""
        self.add_repo("github", repo)
        with self.lock:
            assert self.app is not None, "enable_app first"
            self.app.installations[repo.lower()] = installation

    def revoke_app_tokens(self) -> None:
        """Every installation token made so far is refused from now on (401)."""
        with self.lock:
            if self.app is not None:
                self.app.tokens.clear()

    def check_runs(self, repo: str, sha: str) -> list[dict[str, Any]]:
        """The check runs of ``sha`` as they are now, oldest first, with their annotations."""
        with self.lock:
            runs = self._repo("github", repo).checks.values()
            return [json.loads(json.dumps(r)) for r in runs if r["head_sha"] == sha]

    def app_tokens_made(self) -> list[int]:
        """The installation of each token made, in order."""
        with self.lock:
            return list(self.app.issued) if self.app else []

    # -- failures

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        forge: str | None = None,
        path_contains: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` (before auth/routing)."""
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        with self.lock:
            self._injections.append(_Injection(status, count, forge, path_contains, lowered, body))

    def github_secondary_rate_limit(
        self, *, retry_after: int | None = 60, reset_in: int | None = None, count: int = 1
    ) -> None:
        """GHDOCS: 403 with ``retry-after``, or with ``x-ratelimit-remaining: 0`` + reset."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        if reset_in is not None:
            reset = str(int(time.time()) + reset_in)
            headers |= {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you"
            " try again."
        )
        docs = f"{GITHUB_DOCS}/using-the-rest-api/rate-limits-for-the-rest-api"
        body = {"message": message, "documentation_url": docs, "status": "403"}
        self.fail_next(403, count, forge="github", headers=headers, body=body)

    def github_primary_rate_limit(self, *, reset_in: int = 60, status: int = 403) -> None:
        """The primary limit is spent: 403 (or 429), remaining 0 until ``x-ratelimit-reset``."""
        reset = str(int(time.time()) + reset_in)
        headers = {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": reset,
        }
        docs = f"{GITHUB_DOCS}/overview/rate-limits-for-the-rest-api"
        message = "API rate limit exceeded for user ID 1."
        body = {"message": message, "documentation_url": docs, "status": str(status)}
        self.fail_next(status, forge="github", headers=headers, body=body)

    def _injected(self, call: _Call) -> Reply | None:
        with self.lock:
            for injection in self._injections:
                if injection.forge not in (None, call.forge):
                    continue
                if injection.path_contains and injection.path_contains not in call.raw_path:
                    continue
                injection.count -= 1
                if injection.count <= 0:
                    self._injections.remove(injection)
                break
            else:
                return None
        body = injection.body
        if body is None and call.forge == "gitlab" and injection.status == 429:
            body = "Retry later\n"  # notes/forges.md §2.3
        if body is None:
            phrase = HTTPStatus(injection.status).phrase
            message = f"{injection.status} {phrase}" if call.forge == "gitlab" else phrase
            body = _error(call, injection.status, message)[1]
        return injection.status, body, injection.headers

    # -- dispatch

    def _find_repo(self, call: _Call) -> _Repo | None:
        if call.forge != "gitlab":
            name = f"{call.params['owner']}/{call.params['repo']}"
            return self._repos.get((call.forge, name.lower()))
        ident = call.params["id"]
        if not ident.isdigit():
            return self._repos.get(("gitlab", ident.lower()))
        found = [r for (f, _), r in self._repos.items() if f == "gitlab"]
        return next((r for r in found if r.project_id == int(ident)), None)

    def dispatch(self, call: _Call) -> Reply:
        injected = self._injected(call)
        if injected:
            return injected
        for route in ROUTES[call.forge]:
            params = route.match(call.method, call.raw_path)
            if params is not None:
                break
        else:
            call.violation("no such operation")
            return (
                (404, {"error": "404 Not Found"}, {})
                if call.forge == "gitlab"
                else _not_found(call)
            )
        call.params = params
        token = _token(call.forge, call.headers)
        if call.forge == "github" and route in APP_ROUTES:
            refused = _app_jwt(call, token)
            if refused is not None:
                return refused
            if route.key in JWT_ONLY:
                problem = _check_operation(call, route.key)
                if problem:
                    call.violation(problem[1])
                    return _error(call, problem[0], problem[1])
                return route.handler(call)
            token = self.tokens[call.forge]  # the JWT stands for the App on this route
        installation = self._installation_of(call.forge, token)
        if installation is not None:
            if installation < 0:
                return _error(call, 401, "Bad credentials")
            name = f"{params.get('owner')}/{params.get('repo')}".lower()
            if self.app is None or self.app.installations.get(name) != installation:
                return _not_found(call)  # the installation cannot see this repository
            token, call.installation = self.tokens[call.forge], installation
        if token is not None and token != self.tokens[call.forge]:
            texts = {"github": "Bad credentials", "gitlab": "401 Unauthorized"}
            return _error(call, 401, texts.get(call.forge, "invalid token"))  # [fake] Gitea text
        call.authed = token is not None
        with self.lock:
            repo = self._find_repo(call)
            if repo is None or (repo.private and not (call.authed and repo.visible)):
                return _not_found(call, "Project")
            if not call.authed:  # [fake] real forges serve public reads anonymously
                texts = {"github": "Requires authentication", "gitlab": "401 Unauthorized"}
                return _error(call, 401, texts.get(call.forge, "token is required"))
            call.repo = repo
            problem = _check_operation(call, route.key)
            if problem:
                call.violation(problem[1])
                return _error(call, problem[0], problem[1])
            return route.handler(call)

    def _installation_of(self, forge: str, token: str | None) -> int | None:
        """The installation of an App's token (-1: one that expired or was revoked), None
        for any other token."""
        if forge != "github" or self.app is None or not token or not token.startswith("ghs_"):
            return None
        with self.lock:
            installation, expires = self.app.tokens.get(token, (-1, 0.0))
        return installation if expires > time.time() else -1

    def github_headers(self) -> dict[str, str]:
        with self.lock:
            self._rate_used += 1
            used, remaining = str(self._rate_used), str(max(5000 - self._rate_used, 0))
        headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": remaining}
        headers |= {"x-ratelimit-used": used, "x-ratelimit-reset": str(self._rate_reset)}
        return headers | {"x-ratelimit-resource": "core"}


def _handler(fake: ForgeFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            raw_path, _, raw_query = self.path.partition("?")  # still percent-encoded
            forge = next((f for f, b in BASES.items() if raw_path.startswith(b + "/")), None)
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = dict(parse_qsl(raw_query, keep_blank_values=True))
            path = raw_path[len(BASES[forge]) :] if forge else raw_path
            kept = {k: headers[k] for k in RECORDED_HEADERS if k in headers}
            parsed = self._recorded_body(body, headers)
            record = Request(self.command, forge, path, query, kept, parsed, self.client_address[1])
            with fake.lock:
                fake.requests.append(record)
                if forge is None:
                    fake.violations.append(f"{self.command} {raw_path}: no forge under this path")
            if fake.latency:
                time.sleep(fake.latency)
            extra: dict[str, str] = {}
            if forge is None:
                status, payload = 404, {"message": "Not Found"}
            else:
                call = _Call(fake, forge, self.command, record.path, query, headers, body)
                try:
                    status, payload, extra = fake.dispatch(call)
                except Exception as error:  # a bug of the fake: make the test fail
                    call.violation(f"the fake crashed: {error!r}")
                    status, payload, extra = 500, {"message": "fake crashed"}, {}
            record.status = status
            out = {**(fake.github_headers() if forge == "github" else {}), **extra}
            self._send(status, payload, out)

        @staticmethod
        def _recorded_body(body: bytes, headers: dict[str, str]) -> Any:
            if body and "json" in headers.get("content-type", ""):
                try:
                    return json.loads(body)
                except ValueError:
                    return body
            return body or None

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            if isinstance(payload, bytes):
                data, content_type = payload, "application/octet-stream"
            elif isinstance(payload, str):
                data, content_type = payload.encode(), "text/plain; charset=utf-8"
            else:
                data, content_type = json.dumps(payload).encode(), "application/json; charset=utf-8"
            self.send_response(status)
            headers = {"content-type": content_type, **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@contextmanager
def running_forges(tokens: dict[str, str] | None = None) -> Iterator[ForgeFake]:
    """Run the fake on 127.0.0.1; ``tokens`` maps each forge to the token it accepts."""
    _fixtures()  # load (or skip the test) before the server starts
    fake = ForgeFake(tokens)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
