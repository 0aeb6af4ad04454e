"""Real git servers on loopback for tests: `git http-backend` behind a CGI handler, `git daemon`.

`GitHttpServer` serves every repository under a directory the way a forge's HTTPS clone URL
does (`http://127.0.0.1:<port>/<name>.git`), with the smart HTTP protocol of git's own
`http-backend`. Modes:

* default: the client's `Git-Protocol` header is passed on, so protocol v2 is used and, as
  on GitHub, GitLab and Gitea, any commit the server has can be fetched by id;
* `refuse_fetch_by_id`: the header is dropped (protocol v0) and the upload-pack options that
  allow unadvertised wants are off, so fetching a commit that is not a ref's tip fails;
* `credentials`: every request needs HTTP basic authentication with that (user, password);
  with `private`, only requests for those repositories do (the others are public), as on a
  forge that hosts both.

Every fetch's request (the pkt-lines a client sends to `git-upload-pack`: `want`, `deepen`,
`shallow`, `include-tag`, `ref-prefix` ...) is kept in `uploads`, gzip undone, so a test can
check what a checkout asked for, not only what it got: `git http-backend` answers `deepen`,
`shallow` and tag requests as GitHub, GitLab and Gitea do (they run git's own upload-pack).

`GitDaemon` serves the same directory over `git://`. Both are context managers that stop
their threads and processes on exit; every wait is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self
from urllib.parse import urlsplit

__all__ = ["GitDaemon", "GitHttpServer", "Upload", "author_env", "git_env", "missing_git"]

TIMEOUT = 30.0
"""Upper bound, in seconds, for any single request or process wait."""

_REFUSE_BY_ID = (
    "uploadpack.allowAnySHA1InWant=false",
    "uploadpack.allowReachableSHA1InWant=false",
    "uploadpack.allowTipSHA1InWant=false",
)


def git_env(home: Path) -> dict[str, str]:
    """A minimal environment for git that ignores the user's and the system's configuration."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    }


def author_env(home: Path) -> dict[str, str]:
    """`git_env` with a fixed author, committer and date, so commits have the same ids on
    every run."""
    return git_env(home) | {
        "GIT_AUTHOR_NAME": "Upstream",
        "GIT_AUTHOR_EMAIL": "upstream@example.invalid",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_NAME": "Upstream",
        "GIT_COMMITTER_EMAIL": "upstream@example.invalid",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }


def missing_git() -> str | None:
    """Why the servers cannot run here, or None when git and its http-backend are installed."""
    git = shutil.which("git")
    if git is None:
        return "git is not installed"
    try:
        exec_path = subprocess.run(
            [git, "--exec-path"], capture_output=True, text=True, check=True, timeout=TIMEOUT
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"git --exec-path failed: {exc}"
    if not os.access(Path(exec_path) / "git-http-backend", os.X_OK):
        return f"git http-backend is not available in {exec_path}"
    return None


class GitHttpServer:
    """`git http-backend` for every repository under `root`, on 127.0.0.1 and a free port."""

    def __init__(
        self,
        root: Path,
        *,
        refuse_fetch_by_id: bool = False,
        credentials: tuple[str, str] | None = None,
        private: frozenset[str] | None = None,
    ) -> None:
        self.root = root
        self.refuse_fetch_by_id = refuse_fetch_by_id
        self.credentials = credentials
        self.private = private
        self.requests: list[str] = []
        """`METHOD path status` of each request, in order."""
        self.uploads: list[Upload] = []
        """What each request to `git-upload-pack` asked for, in order."""
        self.protocols: list[str] = []
        """The `GIT_PROTOCOL` each backend run got (`""`: none, protocol v0)."""
        self.log = root.parent / f"http-backend-{id(self)}.log"
        self._home = root.parent / f"http-backend-home-{id(self)}"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, name: str) -> str:
        assert self._server is not None, "the server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def __enter__(self) -> Self:
        self._home.mkdir(exist_ok=True)
        handler = type("Handler", (_CgiHandler,), {"git": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = False  # server_close() waits for requests in flight
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT)
            assert not self._thread.is_alive(), "the HTTP server thread did not stop"
        self._server = self._thread = None

    def backend_command(self) -> list[str]:
        options = [arg for pair in _REFUSE_BY_ID for arg in ("-c", pair)]
        return ["git", *(options if self.refuse_fetch_by_id else []), "http-backend"]

    def backend_env(self, handler: BaseHTTPRequestHandler, path: str, query: str) -> dict[str, str]:
        env = git_env(self._home) | {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": handler.command,
            "REMOTE_ADDR": handler.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.0",
        }
        headers = handler.headers
        for header, variable in (
            ("Content-Type", "CONTENT_TYPE"),
            ("Content-Length", "CONTENT_LENGTH"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ):
            if headers.get(header) is not None:
                env[variable] = headers[header]
        protocol = headers.get("Git-Protocol")
        if protocol is not None and not self.refuse_fetch_by_id:
            env["GIT_PROTOCOL"] = protocol
        if self.credentials is not None:
            env["REMOTE_USER"] = self.credentials[0]
        return env

    def authorized(self, path: str, header: str | None) -> bool:
        if self.credentials is None:
            return True
        if self.private is not None and path.lstrip("/").split("/", 1)[0] not in self.private:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return header == f"Basic {expected}"


class _CgiHandler(BaseHTTPRequestHandler):
    """Runs `git http-backend` as a CGI program for each request; HTTP/1.0, one per connection."""

    git: GitHttpServer
    timeout = TIMEOUT
    server_version = "knargo-test-git/1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        split = urlsplit(self.path)
        if not self.git.authorized(split.path, self.headers.get("Authorization")):
            self._discard_body()
            self.git.requests.append(f"{self.command} {split.path} 401")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="knargo-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = self.git.backend_env(self, split.path, split.query)
        self.git.protocols.append(env.get("GIT_PROTOCOL", ""))
        with self.git.log.open("ab") as log:
            process = subprocess.Popen(
                self.git.backend_command(),
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert process.stdin is not None and process.stdout is not None
        body: list[bytes] = []
        feeder = threading.Thread(target=self._feed, args=(process.stdin, body), daemon=True)
        feeder.start()
        try:
            status, reason, headers = _cgi_headers(process.stdout)
            self.git.requests.append(f"{self.command} {split.path} {status}")
            self.send_response(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            shutil.copyfileobj(process.stdout, self.wfile)
        finally:
            process.stdout.close()
            feeder.join(timeout=TIMEOUT)
            if split.path.endswith("/git-upload-pack"):
                encoding = self.headers.get("Content-Encoding", "")
                self.git.uploads.append(Upload.parse(split.path, b"".join(body), encoding))
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=TIMEOUT)

    def _feed(self, stdin: BinaryIO, kept: list[bytes]) -> None:
        """Stream the request body (de-chunked if need be) into the backend, keeping a copy,
        then close it."""
        try:
            for block in self._body():
                kept.append(block)
                stdin.write(block)
        except (BrokenPipeError, ConnectionError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def _body(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the chunk
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            block = self.rfile.read(min(left, 65536))
            if not block:
                return
            left -= len(block)
            yield block

    def _discard_body(self) -> None:
        for _ in self._body():
            pass


@dataclass(frozen=True)
class Upload:
    """One request to `git-upload-pack`: the repository's path and the client's lines."""

    path: str
    lines: tuple[str, ...]

    @classmethod
    def parse(cls, path: str, body: bytes, encoding: str) -> Upload:
        if encoding.strip().lower() in ("gzip", "x-gzip"):
            body = gzip.decompress(body)
        return cls(path, tuple(_pkt_lines(body)))

    def values(self, keyword: str) -> list[str]:
        """The arguments of every line starting with `keyword` (`want`, `deepen` ...)."""
        return [line[len(keyword) + 1 :] for line in self.lines if line.startswith(keyword + " ")]


def _pkt_lines(body: bytes) -> Iterator[str]:
    """The text of each data pkt-line (flush, delimiter and end packets are skipped)."""
    at = 0
    while at + 4 <= len(body):
        size = int(body[at : at + 4], 16)
        if size < 4:  # 0000 flush, 0001 delimiter, 0002 response end
            at += 4
            continue
        yield body[at + 4 : at + size].decode("utf-8", "replace").rstrip("\n")
        at += size


def _cgi_headers(stdout: BinaryIO) -> tuple[int, str, list[tuple[str, str]]]:
    """The CGI response's status and headers (RFC 3875 §6): `Status:` sets the status."""
    status, reason, headers = 200, "OK", []
    while True:
        line = stdout.readline()
        if line in (b"\r\n", b"\n", b""):
            return status, reason, headers
        name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
        if name.strip().lower() == "status":
            code, _, text = value.strip().partition(" ")
            status, reason = int(code), text or reason
        else:
            headers.append((name.strip(), value.strip()))


class GitDaemon:
    """`git daemon` exporting every repository under `root`, on 127.0.0.1 and a free port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.log = root.parent / f"git-daemon-{id(self)}.log"
        self._home = root.parent / f"git-daemon-home-{id(self)}"
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> Self:
        self._home.mkdir(exist_ok=True)
        for _attempt in range(3):  # the free port may be taken between probing and listening
            self.port = _free_port()
            with self.log.open("ab") as log:
                self._process = subprocess.Popen(
                    [
                        "git",
                        "daemon",
                        "--reuseaddr",
                        "--listen=127.0.0.1",
                        f"--port={self.port}",
                        f"--base-path={self.root}",
                        "--export-all",
                        "--informative-errors",
                        f"--timeout={int(TIMEOUT)}",
                        str(self.root),
                    ],
                    env=git_env(self._home),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            if self._wait_listening():
                return self
            self._stop()
        raise RuntimeError(f"git daemon did not start: {self.log.read_text(errors='replace')}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _wait_listening(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def _stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=TIMEOUT)
        self._process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
