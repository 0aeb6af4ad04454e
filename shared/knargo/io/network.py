"""The one module that sends HTTP requests: to the broker and to forge APIs.

`Publisher` hands CloudEvents to the broker (`K_SINK`): connection errors, timeouts, 5xx and
429 are retried with exponential backoff within a fixed budget, because forges give up on a
delivery after 5-10 s; then it raises `BrokerUnavailable`, which the webhook answers with 503
so the forge shows a failed delivery that can be redelivered. It speaks HTTP/1.1 through the
standard library's `http.client` over keep-alive connections it reuses: functions-framework
has loaded `http.client` already, while importing httpx and httpcore would add about a tenth
to the webhook's start, and a broker needs none of httpx's client features. Only a proxy
set in the environment is left to httpx, which honours `NO_PROXY` as users expect.

`ForgeClient` sends the forge modules' request values through httpx, imported when the first
client is built. It follows redirects within the API's origin (GitHub moves renamed
repositories that way) and strips every credential header from a redirect to another origin.
For a GitHub App it holds the installation tokens (`knargo.io.apptokens`): a request refused
with 401 is sent once more with a new token.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from knargo.config.credentials import Credentials
from knargo.config.settings import Forge, Settings
from knargo.contract.errors import (
    BrokerUnavailable,
    ForgeError,
    ForgeUnavailable,
    NotFound,
    PermanentError,
    TooLarge,
    Unauthorized,
    forge_error,
)
from knargo.contract.events import CommentEvent, GitEvent
from knargo.forges import (
    CONVERSATIONS,
    FILES,
    STATUSES,
    ApiRequest,
    ConversationApi,
    FileApi,
    PayloadError,
    PullHead,
    StatusApi,
)
from knargo.forges.github import CHECKS, GitHubChecks
from knargo.io.apptokens import AppTokens
from knargo.observability.metrics import Metrics

if TYPE_CHECKING:  # the webhook, which posts no statuses, does not import them
    import httpx

    from knargo.functions.status import Current, Update
    from knargo.io.checkruns import CheckRuns

__all__ = [
    "ApiResponse",
    "ArchivedLogs",
    "ConversationClient",
    "ForgeClient",
    "ForgeReader",
    "Publisher",
    "RetryPolicy",
    "StatusClient",
]

_RETRIED = frozenset({408, 429, 500, 502, 503, 504})
_PROXY_VARIABLES = tuple(
    name
    for scheme in ("http", "https", "all")
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
)


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between attempts, in seconds: len(delays) + 1 attempts in all."""

    delays: Sequence[float] = (0.1, 0.3, 0.9)
    timeout: float = 1.0


class Publisher:
    """Sends CloudEvent messages to one sink.

    Connections are kept open and reused, one per request in flight (the webhook handles up
    to THREADS requests at once). A reused connection the sink has closed in the meantime
    (an idle timeout) fails on its first write or read: the request is sent again at once
    on a new connection, without counting as an attempt."""

    IDLE = 16
    """Idle connections kept for reuse; more are closed."""

    def __init__(
        self,
        sink: str,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sink = sink
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        url = urllib.parse.urlsplit(sink)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f'the sink "{sink}" is not an http:// or https:// URL')
        self._https = url.scheme == "https"
        self._address = (url.hostname, url.port)
        self._target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: Any = None
        self._proxied: httpx.Client | None = None
        if any(os.environ.get(name) for name in _PROXY_VARIABLES):
            import httpx

            self._proxied = httpx.Client(
                timeout=httpx.Timeout(self.policy.timeout),
                headers={"user-agent": "knargo"},
                verify=self._https,
            )

    def publish(self, headers: dict[str, str], body: bytes) -> int:
        """Send one event; returns the number of attempts it took."""
        problem = ""
        for attempt, delay in enumerate([*self.policy.delays, None], start=1):
            try:
                status = self._post(headers, body)
            except _Failed as exc:
                problem = str(exc)
            else:
                if 200 <= status < 300:
                    return attempt
                if status not in _RETRIED:
                    raise PermanentError(f"the broker refused the event: {status}")
                problem = f"HTTP {status}"
            if delay is not None:
                self._sleep(delay)
        raise BrokerUnavailable(f"the broker did not take the event: {problem}")

    def _post(self, headers: dict[str, str], body: bytes) -> int:
        if self._proxied is not None:
            return self._post_proxied(self._proxied, headers, body)
        headers = {**headers, "User-Agent": "knargo"}
        while True:
            connection, reused = self._connection()
            try:
                connection.request("POST", self._target, body, headers)
                response = connection.getresponse()
                response.read()  # the answer is not used; reading it frees the connection
            except ConnectionError as exc:
                connection.close()
                if reused:
                    continue  # the sink closed it while idle: the request never arrived
                raise _Failed(type(exc).__name__) from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise _Failed(type(exc).__name__) from None
            if response.will_close:
                connection.close()
            else:
                self._release(connection)
            return response.status

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection and True, or a new one and False."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        host, port = self._address
        if not self._https:
            return http.client.HTTPConnection(host, port, timeout=self.policy.timeout), False
        if self._tls is None:  # loading the CA bundle costs tens of ms: an http sink never does
            import ssl

            self._tls = ssl.create_default_context()
        return http.client.HTTPSConnection(
            host, port, timeout=self.policy.timeout, context=self._tls
        ), False

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def _post_proxied(self, client: httpx.Client, headers: dict[str, str], body: bytes) -> int:
        import httpx

        try:
            return client.post(self.sink, headers=headers, content=body).status_code
        except httpx.HTTPError as exc:
            raise _Failed(type(exc).__name__) from None

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        if self._proxied is not None:
            self._proxied.close()


class _Failed(Exception):
    """A request that got no answer; its text names the error."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ForgeError("the forge answered with malformed JSON") from None


class ForgeClient:
    """Sends forge API requests built by the forge modules; errors come from `forge_error`."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self._transport, self._timeout = transport, timeout
        self._lock = threading.Lock()
        self._built: httpx.Client | None = None
        self.apps = AppTokens(lambda request, kind: self.send(request, kind=kind).json())

    @property
    def _client(self) -> httpx.Client:
        """Built on the first request: loading the CA bundle for TLS takes 20-40 ms, which
        a function's start would otherwise pay before its first answer."""
        import httpx

        with self._lock:
            if self._built is None:
                self._built = httpx.Client(
                    timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)),
                    transport=self._transport,
                    headers={"user-agent": "knargo"},
                )
            return self._built

    def send(
        self, request: ApiRequest, *, limit: int | None = None, forge: str = "", kind: str = ""
    ) -> ApiResponse:
        """Send `request`; a body over `limit` bytes raises `TooLarge` (read no further).

        `forge` and `kind` (e.g. "file", "create_status") label the metrics."""
        started = time.monotonic()
        status = "error"
        try:
            response = self._send(request, limit)
            status = str(response.status)
            return response
        except ForgeError as exc:
            status = str(exc.status or "unavailable")
            raise
        finally:
            if self.metrics is not None:
                self.metrics.forge_calls.inc(forge=forge, operation=kind, status=status)
                self.metrics.forge_latency.observe(
                    time.monotonic() - started, forge=forge, operation=kind
                )

    def _send(self, request: ApiRequest, limit: int | None) -> ApiResponse:
        try:
            return self._send_once(request, limit)
        except Unauthorized as exc:
            scheme, _, stale = request.headers.get("Authorization", "").partition(" ")
            fresh = self.apps.renew(stale) if exc.status == 401 and scheme == "Bearer" else None
            if fresh is None:
                raise
        headers = {**request.headers, "Authorization": f"Bearer {fresh}"}
        return self._send_once(replace(request, headers=headers), limit)

    def _send_once(self, request: ApiRequest, limit: int | None) -> ApiResponse:
        import httpx

        try:
            response = self._follow(request)
            try:
                error = forge_error(request.operation, response.status_code, response.headers)
                if error is not None:
                    error.detail = _detail(response)
                    raise error
                body = _read(response, limit, request.operation)
                return ApiResponse(response.status_code, dict(response.headers), body)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise ForgeUnavailable(
                f"{request.operation}: the forge did not answer in time"
            ) from None
        except httpx.TransportError as exc:
            raise ForgeUnavailable(f"{request.operation}: {type(exc).__name__}") from None

    def _follow(self, request: ApiRequest) -> httpx.Response:
        """The answer, after redirects (GitHub's renamed repositories); a redirect to another
        origin keeps none of the request's own headers but those that say what to answer
        (httpx would drop only `Authorization`, not `PRIVATE-TOKEN` or any other token)."""
        outgoing = self._client.build_request(
            request.method,
            request.url,
            headers=dict(request.headers),
            params=dict(request.params),
            json=request.json,
        )
        origin = _origin(outgoing.url)
        own = {name.lower() for name in request.headers} - _SAFE_ACROSS_ORIGINS
        for _ in range(MAX_REDIRECTS + 1):
            response = self._client.send(outgoing, stream=True)
            following = response.next_request
            if following is None:
                return response
            response.close()
            if _origin(following.url) != origin:
                for name in own:
                    following.headers.pop(name, None)
            outgoing = following
        raise ForgeUnavailable(f"{request.operation}: more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        if self._built is not None:
            self._built.close()


MAX_REDIRECTS = 5
_SAFE_ACROSS_ORIGINS = frozenset({"accept", "x-github-api-version"})


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _detail(response: httpx.Response, limit: int = 1024) -> str:
    """The start of an error answer (forges explain themselves there), never more."""
    import httpx

    try:
        body = _read(response, None, "", until=limit)
    except httpx.HTTPError:
        return ""
    return body[:limit].decode("utf-8", "replace")


def _read(
    response: httpx.Response, limit: int | None, operation: str, until: int | None = None
) -> bytes:
    """The body; over `limit` raises TooLarge, past `until` stops reading."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if limit is not None and size > limit:
            raise TooLarge(operation, limit)
        chunks.append(chunk)
        if until is not None and size >= until:
            break
    return b"".join(chunks)


class ArchivedLogs:
    """A failed job's log as Argo archived it (`archiveLogs`: the node's `main-logs` output
    artifact), read through Argo Server's artifact API, which reads the artifact repository
    with its own credentials: `GET <argo_server_url>/artifact-files/<namespace>/workflows/
    <name>/<node id>/outputs/main-logs`."""

    MOST = 16 * 1024 * 1024
    """Bytes read at most; a longer log's tail is not looked for."""

    def __init__(self, settings: Settings, credentials: Credentials, client: ForgeClient) -> None:
        self.settings, self.credentials, self.client = settings, credentials, client

    def archived_log(
        self, namespace: str, workflow: str, node: str, keep: int
    ) -> tuple[bytes, bool] | None:
        """The last `keep` bytes of the node's archived log, and whether that cut its start;
        None when there is none to read."""
        import httpx

        base = self.settings.argo_server_url
        if not base:
            return None
        path = f"/artifact-files/{namespace}/workflows/{workflow}/{node}/outputs/main-logs"
        token = self.credentials.argo_token
        headers = {"Authorization": f"Bearer {token.reveal().decode()}"} if token else {}
        kept, size = b"", 0
        try:
            with self.client._client.stream("GET", base.rstrip("/") + path, headers=headers) as r:
                if r.status_code != 200:
                    return None
                for chunk in r.iter_bytes():
                    kept, size = (kept + chunk)[-keep:], size + len(chunk)
                    if size > self.MOST:
                        return None
        except httpx.HTTPError:
            return None
        return kept, size > keep


def _token(
    credentials: Credentials, client: ForgeClient, forge: Forge, event: GitEvent | CommentEvent
) -> str | None:
    """The token for the event's repository: its installation's for a GitHub App, else the
    forge's `<forge>.token`, else none."""
    key = credentials.app_keys.get(forge.name)
    if forge.app_id is not None and key is not None:
        return client.apps.token(forge, key, event.repository, event.installation_id)
    token = credentials.tokens.get(forge.name)
    return token.reveal().decode() if token else None


# Pull requests list at most this many pages of changed files (3,000 paths).
MAX_PAGES = 30


class ForgeReader:
    """Reads files and changed paths of a repository at a commit through its forge's API."""

    def __init__(
        self, settings: Settings, credentials: Credentials, client: ForgeClient | None = None
    ) -> None:
        self.settings, self.credentials = settings, credentials
        self.client = client or ForgeClient()

    def close(self) -> None:
        self.client.close()

    def _where(self, event: GitEvent) -> tuple[Forge, str | None, FileApi]:
        forge = next(f for f in self.settings.forges if f.name == event.forge_name)
        return forge, _token(self.credentials, self.client, forge, event), FILES[forge.kind]

    def read_file(self, event: GitEvent, path: str, limit: int) -> bytes | None:
        """The file at the event's commit, None if there is none; TooLarge over `limit`.

        Forges answer 404 for a file that is not there and for a private repository the token
        cannot see alike: after a 404 the repository is read, and when that is 404 too this
        raises Unauthorized (status 404), never None."""
        forge, token, api = self._where(event)
        try:
            return self.client.send(
                api.file(forge, token, event.repository, path, event.sha),
                limit=limit,
                forge=forge.name,
                kind="file",
            ).body
        except NotFound:
            pass
        try:
            self.client.send(
                api.repository(forge, token, event.repository), forge=forge.name, kind="repository"
            )
        except NotFound:
            raise Unauthorized(
                f"read {path} of {event.repository}: the forge shows no repository "
                f"{event.repository} to knargo's token (HTTP 404)",
                404,
            ) from None
        return None

    def changed_paths(self, event: GitEvent) -> list[str] | None:
        """Paths the push or pull request changes; None when the forge cannot say (a new
        branch, or more files than it lists)."""
        forge, token, api = self._where(event)
        try:
            if event.pr_number is not None:
                return self._pull_request_paths(forge, token, api, event)
            if not event.before:
                return None
            request = api.compare(forge, token, event.repository, event.before, event.sha)
            response = self.client.send(request, forge=forge.name, kind="compare")
            return api.compare_paths(response.json())
        except (NotFound, Unauthorized):
            return None  # e.g. `before` was force-pushed away: the paths are unknown

    def commits_between(self, event: GitEvent, base: str, head: str) -> int | None:
        """How many commits `head` has that `base` lacks (0: `head` is `base` or one of its
        ancestors); None when the forge cannot say (an unknown or unrelated commit)."""
        forge, token, api = self._where(event)
        request = api.compare(forge, token, event.repository, base, head)
        try:
            response = self.client.send(request, forge=forge.name, kind="compare")
        except (NotFound, Unauthorized):
            return None
        return api.ahead_by(response.json())

    def _pull_request_paths(
        self, forge: Forge, token: str | None, api: FileApi, event: GitEvent
    ) -> list[str] | None:
        assert event.pr_number is not None
        paths: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            request = api.pull_request_files(forge, token, event.repository, event.pr_number, page)
            entries = self.client.send(request, forge=forge.name, kind="pull_request_files").json()
            paths += api.page_paths(entries)
            if not isinstance(entries, list) or len(entries) < api.page_size:
                return list(dict.fromkeys(paths))
        return None


class StatusClient:
    """Reads and posts commit statuses through each forge's API; check runs for a GitHub
    App (`knargo.io.checkruns`)."""

    def __init__(
        self, settings: Settings, credentials: Credentials, client: ForgeClient | None = None
    ) -> None:
        self.settings, self.credentials = settings, credentials
        self.client = client or ForgeClient()
        from knargo.io.checkruns import CheckRuns  # statuses' types: not at the webhook's start

        self.checks: CheckRuns = CheckRuns()

    def close(self) -> None:
        self.client.close()

    def _where(self, event: GitEvent) -> tuple[Forge, str | None, StatusApi]:
        forge = next((f for f in self.settings.forges if f.name == event.forge_name), None)
        if forge is None:
            raise PermanentError(f'no forge "{event.forge_name}" is configured')
        token = _token(self.credentials, self.client, forge, event)
        return forge, token, CHECKS if forge.app_id is not None else STATUSES[forge.kind]

    def api(self, event: GitEvent) -> StatusApi:
        return self._where(event)[2]

    def current(self, event: GitEvent, sha: str) -> list[Current]:
        forge, token, api = self._where(event)
        request = api.list_statuses(forge, token, event, sha)
        body = self.client.send(request, forge=forge.name, kind="list_statuses").json()
        from knargo.functions.status import Current

        if isinstance(api, GitHubChecks):
            self.checks.read(forge, event, sha, api.ids(body))
        return [Current(*entry) for entry in api.current(body)]

    def post(self, event: GitEvent, sha: str, update: Update) -> None:
        forge, token, api = self._where(event)
        if isinstance(api, GitHubChecks):
            self.checks.post(
                api,
                lambda request: self.client.send(
                    request, forge=forge.name, kind="check_run"
                ).json(),
                forge,
                token,
                event,
                sha,
                update,
            )
            return
        request = api.create_status(
            forge,
            token,
            event,
            sha,
            api.states[update.state],
            update.context,
            update.description,
            update.target_url,
        )
        for attempt in (1, 2):
            try:
                self.client.send(request, forge=forge.name, kind="create_status")
                return
            except ForgeError as exc:
                if exc.status == 409 and attempt == 1:  # GitLab: another update in progress
                    continue
                if exc.status == 400 and "cannot transition" in exc.detail.lower():
                    return  # GitLab already shows this state
                raise

    def comment(self, event: GitEvent, text: str) -> None:
        """A comment on the event's pull request (`log_comments`)."""
        forge, token, _ = self._where(event)
        if event.pr_number is None:
            return
        api = CONVERSATIONS[forge.kind]
        request = api.comment(forge, token, event.repository, event.pr_number, text)
        self.client.send(request, forge=forge.name, kind="comment")


class ConversationClient:
    """Pull request heads, permissions and reply comments, for comment commands."""

    def __init__(
        self, settings: Settings, credentials: Credentials, client: ForgeClient | None = None
    ) -> None:
        self.settings, self.credentials = settings, credentials
        self.client = client or ForgeClient()

    def _where(self, comment: CommentEvent) -> tuple[Forge, str | None, ConversationApi]:
        forge = next((f for f in self.settings.forges if f.name == comment.forge_name), None)
        if forge is None:
            raise PermanentError(f'no forge "{comment.forge_name}" is configured')
        token = _token(self.credentials, self.client, forge, comment)
        return forge, token, CONVERSATIONS[forge.kind]

    def can_write(self, comment: CommentEvent) -> bool:
        """Whether the comment's author may write to the repository; a forge that knows no
        such member (404) says no."""
        forge, token, api = self._where(comment)
        request = api.permission(
            forge, token, comment.repository, comment.author, comment.author_id
        )
        try:
            response = self.client.send(request, forge=forge.name, kind="permission")
        except NotFound:
            return False
        return api.can_write(response.json())

    def pull_head(self, comment: CommentEvent) -> PullHead:
        forge, token, api = self._where(comment)
        request = api.pull_request(forge, token, comment.repository, comment.pr_number)
        body = self.client.send(request, forge=forge.name, kind="pull_request").json()
        try:
            return api.pull_head(body)
        except PayloadError as exc:
            raise ForgeError(f"{request.operation}: {exc}") from None

    def replied(self, comment: CommentEvent, marker: str) -> bool:
        """Whether a comment of the pull request since `comment` holds `marker`."""
        forge, token, api = self._where(comment)
        request = api.comments(
            forge, token, comment.repository, comment.pr_number, comment.created_at
        )
        body = self.client.send(request, forge=forge.name, kind="comments").json()
        return any(marker in text for text in api.comment_bodies(body))

    def reply(self, comment: CommentEvent, text: str) -> None:
        forge, token, api = self._where(comment)
        request = api.comment(forge, token, comment.repository, comment.pr_number, text)
        self.client.send(request, forge=forge.name, kind="comment")
