"""A CloudEvents sink on loopback standing in for the Knative broker's ingress.

It accepts binary-mode CloudEvents (as the broker does), records each one it accepted, and
can be told to fail the next requests with given statuses or to answer slowly. It speaks
HTTP/1.1 with keep-alive, as the broker's ingress does, counts the connections it accepted,
and can close each connection after its answer without saying so (as a server does when an
idle keep-alive connection times out), or set a cookie. `running_sink(tls=...)` serves
HTTPS with the given certificate chain and key files.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from knargo.contract.cloudevent import InvalidCloudEvent, decode
from knargo.contract.events import Envelope

__all__ = ["Sink", "running_sink"]


@dataclass
class Sink:
    url: str = ""
    events: list[Envelope] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: int = 0
    connections: int = 0
    drop_idle: bool = False
    set_cookie: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with sink.lock:
                sink.connections += 1

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with sink.lock:
                sink.requests += 1
                status = sink.fail_next.pop(0) if sink.fail_next else 0
            if sink.delay:
                time.sleep(sink.delay)
            if not status:
                status = self._accept(body)
            self.send_response(status)
            self.send_header("content-length", "0")
            if sink.set_cookie:
                self.send_header("set-cookie", "session=abc; Path=/")
            self.end_headers()
            if sink.drop_idle:
                self.close_connection = True  # no "Connection: close": the client cannot know

        def _accept(self, body: bytes) -> int:
            headers = {k.lower(): v for k, v in self.headers.items()}
            if "ce-id" not in headers or headers.get("content-type") != "application/json":
                return 400  # not a binary-mode CloudEvent with JSON data
            try:
                event = decode(headers, body)
            except InvalidCloudEvent:
                return 400
            with sink.lock:
                sink.events.append(event)
                sink.headers.append(headers)
            return 202

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@contextmanager
def running_sink(tls: tuple[Path, Path] | None = None) -> Iterator[Sink]:
    sink = Sink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    sink.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
