"""`knargo dev`'s HTTP endpoint: the real webhook, on loopback, in front of the local chain.

Every request goes through `knargo.functions.webhook.receive` with the forges' secrets (signature or
token checked on the raw body, the same answers as the webhook function: 202, 200 for a
ping, 400, 401, 405, 413, 415); a delivery it accepts is published into the chain's broker
as the CloudEvent the webhook would send. Only 127.0.0.1 is served (reach it from a forge
through a tunnel).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from knargo import forges
from knargo.config.credentials import Credentials, Secret, load_credentials
from knargo.config.settings import Settings
from knargo.contract.events import CommentEvent
from knargo.forges import Headers
from knargo.functions import webhook
from knargo.functions.report import Statuses
from knargo.local.chain import Chain

__all__ = ["HOST", "DevServer", "banner", "dev_credentials", "forge_statuses"]

HOST = "127.0.0.1"


class DevServer:
    def __init__(
        self,
        chain: Chain,
        settings: Settings,
        credentials: Credentials,
        *,
        port: int = 8080,
        say: Callable[[str], None] = print,
        max_body: int = webhook.MAX_BODY_BYTES,
    ) -> None:
        self.chain, self.settings, self.credentials = chain, settings, credentials
        self.say, self.max_body = say, max_body
        self.httpd = ThreadingHTTPServer((HOST, port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.httpd.server_address[1]}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Serve from a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def answer(self, method: str, headers: Headers, body: bytes | None) -> webhook.Answer:
        """What the webhook function answers to this request (publishing what it accepts)."""
        if body is None:
            return webhook.Answer(413, {"error": "body too large"}, "body too large")
        outcome = webhook.receive(
            webhook.Request(method, headers, body), self._ordered(headers, body), self.credentials
        )
        if isinstance(outcome, webhook.Answer):
            return outcome
        event = outcome.event
        self.chain.publish(event)
        what = "comment" if isinstance(event, CommentEvent) else event.kind.value
        reason = f"published {what} of {event.ref} at {event.sha[:12]}"
        return webhook.Answer(
            202, {"id": event.delivery_id, "type": event.cloud_event_type}, reason, event.forge_name
        )

    def _ordered(self, headers: Headers, body: bytes) -> Settings:
        """The settings with the forges on the delivery's host first: every forge accepts
        the dev secret, and `receive` tries the forges of a kind in order (it still checks
        the signature and that the repository is on the forge whose secret matched)."""
        module = forges.detect(headers)
        try:
            url = module.web_url(json.loads(body)) if module is not None else ""
        except (ValueError, RecursionError, forges.PayloadError):
            return self.settings
        host = url.split("://", 1)[-1].split("/", 1)[0].lower()
        ordered = sorted(self.settings.forges, key=lambda forge: forge.host != host)
        return self.settings.model_copy(update={"forges": ordered})


def _handler(server: DevServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "knargo-dev"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if 0 <= length <= server.max_body else None
            answer = server.answer(self.command, Headers(self.headers.items()), body)
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if body is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
            delivery = (
                self.headers.get("X-GitHub-Delivery")
                or self.headers.get("X-Gitea-Delivery")
                or self.headers.get("X-Gitlab-Event-UUID")
                or "-"
            )
            server.say(f"delivery {delivery}: {answer.status} {answer.reason}")

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per delivery is said above, without headers

    return Handler


def dev_credentials(settings: Settings, secret: bytes, directory: str | None) -> Credentials:
    """The credential files of `directory` (if any), and `secret` accepted for every forge."""
    loaded = load_credentials(directory, settings) if directory else Credentials()
    dev = Secret(secret)
    return Credentials(
        {forge.name: (*loaded.secrets_for(forge.name), dev) for forge in settings.forges},
        dict(loaded.tokens),
        dict(loaded.app_keys),
    )


def forge_statuses(settings: Settings, credentials: Credentials) -> Statuses | None:
    """The real forges' status API for the forges with a token or a GitHub App's key (None
    without any)."""
    if not credentials.tokens and not credentials.app_keys:
        return None
    from knargo.io.network import StatusClient  # httpx: only when statuses go to a forge

    return StatusClient(settings, credentials)


def banner(url: str, secret: str, repository: Path, state: Path, forges: list[str]) -> list[str]:
    posted = f" and posted to: {', '.join(forges)}" if forges else ""
    return [
        f"knargo dev: webhook, generate and report listening on {url}",
        f"  webhook secret: {secret}",
        "    (GitHub, Gitea/Forgejo: the webhook's secret; GitLab: its secret token)",
        f"  repository: {repository} (every delivery runs on its commits, jobs run here)",
        f"  statuses: shown here, in {state / 'statuses.jsonl'}{posted}",
        "  Ctrl-C stops.",
    ]
