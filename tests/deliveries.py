"""Signed forge deliveries for tests, and the webhook function app they are sent to."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from sink import Sink

__all__ = ["FORGES", "secret", "signed", "webhook_client"]

ROOT = Path(__file__).resolve().parent.parent
FORGES = {  # name: (kind, web host)
    "github": ("github", "github.com"),
    "gitlab": ("gitlab", "gitlab.com"),
    "gitlab-docs": ("gitlab", "example.com"),
    "gitea": ("gitea", "try.gitea.io"),
    "forgejo-local": ("gitea", "localhost:3000"),
}


def secret(forge: str) -> bytes:
    return f"s3cret-{forge}".encode()


def webhook_client(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The webhook function's test client, configured for FORGES and publishing to `sink`."""
    forges = [
        {"name": name, "kind": kind, "api_url": f"https://{host}/api", "web_url": f"https://{host}"}
        for name, (kind, host) in FORGES.items()
    ]
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"forges": forges}))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in FORGES:
        (credentials / f"{name}.webhook-secret").write_bytes(secret(name) + b"\n")
    (credentials / "github.webhook-secret.previous").write_bytes(b"old-secret\n")
    monkeypatch.setenv("KNARGO_CONFIG", str(config))
    monkeypatch.setenv("KNARGO_CREDENTIALS_DIR", str(credentials))
    monkeypatch.setenv("K_SINK", sink.url)
    app = create_app("handle", str(ROOT / "functions" / "webhook" / "main.py"))
    return app.test_client()


def signed(
    kind: str, forge: str, event: str, body: bytes, delivery: str | None = None
) -> dict[str, str]:
    """The headers the forge sends, with a valid signature or token."""
    delivery = delivery or str(uuid.uuid4())
    digest = hmac.new(secret(forge), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if kind == "github":
        headers |= {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "42",
            "X-Hub-Signature-256": f"sha256={digest}",
        }
    elif kind == "gitlab":
        headers |= {
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": secret(forge).decode(),
            "Idempotency-Key": delivery,
        }
    else:  # Gitea sends GitHub's headers too, with the same values
        headers |= {
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": digest,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={digest}",
        }
    return headers
