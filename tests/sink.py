"""A CloudEvents sink on loopback standing in for the Knative broker's ingress.

It accepts binary-mode CloudEvents (as the broker does), records each one it accepted, and
can be told to fail the next requests with given statuses or to answer slowly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
            self.end_headers()

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
def running_sink() -> Iterator[Sink]:
    sink = Sink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    sink.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
