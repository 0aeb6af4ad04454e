"""The webhook refuses to start on missing or invalid configuration, naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knargo.config.credentials import load_credentials
from knargo.config.settings import Settings
from knargo.config.startup import webhook_runtime
from knargo.contract.errors import StartupError

ROOT = Path(__file__).resolve().parent.parent
FORGE = {
    "name": "github",
    "kind": "github",
    "api_url": "https://api.github.com",
    "web_url": "https://github.com",
}


def environment(tmp_path: Path, secret: bytes | None = b"s3cret\n", **extra: str) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"forges": [FORGE]}))
    credentials = tmp_path / "credentials"
    credentials.mkdir(exist_ok=True)
    if secret is not None:
        (credentials / "github.webhook-secret").write_bytes(secret)
    return {
        "KNARGO_CONFIG": str(config),
        "KNARGO_CREDENTIALS_DIR": str(credentials),
        "K_SINK": "http://127.0.0.1:9/",
        **extra,
    }


def test_a_valid_environment_starts(tmp_path: Path) -> None:
    runtime = webhook_runtime(environment(tmp_path, K_CE_OVERRIDES='{"extensions": {"a": 1}}'))
    assert runtime.extensions == {"a": "1"}
    assert [s.reveal() for s in runtime.credentials.secrets_for("github")] == [b"s3cret"]
    assert "s3cret" not in repr(runtime)


@pytest.mark.parametrize(
    ("secret", "extra", "message"),
    [
        (None, {}, 'github.webhook-secret: missing; forge "github" is configured'),
        (b"\n", {}, "github.webhook-secret: empty"),
        (b"x", {"K_SINK": ""}, "K_SINK: missing"),
        (b"x", {"K_CE_OVERRIDES": "{"}, "K_CE_OVERRIDES: expected JSON"),
        (b"x", {"KNARGO_MAX_BODY_BYTES": "lots"}, "KNARGO_MAX_BODY_BYTES"),
        (
            b"x",
            {"KNARGO_CONFIG": "/nonexistent/config.yaml"},
            "/nonexistent/config.yaml:1:1: error",
        ),
    ],
)
def test_invalid_environments_name_the_problem(
    tmp_path: Path, secret: bytes | None, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(StartupError, match=message.replace("(", r"\(")):
        webhook_runtime(environment(tmp_path, secret, **extra))


def test_config_without_forges_names_the_key(tmp_path: Path) -> None:
    env = environment(tmp_path)
    Path(env["KNARGO_CONFIG"]).write_text("namespace: ci\n")
    with pytest.raises(StartupError, match='missing required key "forges"'):
        webhook_runtime(env)


def test_previous_secret_and_trailing_newlines(tmp_path: Path) -> None:
    (tmp_path / "github.webhook-secret").write_bytes(b"new\r\n")
    (tmp_path / "github.webhook-secret.previous").write_bytes(b"old\n\n")
    (tmp_path / "github.token").write_bytes(b"ghp_x\n")
    settings = Settings(forges=[FORGE])  # type: ignore[list-item]
    credentials = load_credentials(tmp_path, settings, webhook_secrets=True, tokens=True)
    assert [s.reveal() for s in credentials.secrets_for("github")] == [b"new", b"old"]
    assert credentials.tokens["github"].reveal() == b"ghp_x"
    assert "ghp_x" not in repr(credentials)


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from functions_framework import create_app; "
        "create_app('handle', 'functions/webhook/main.py'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'httpx', "
        "'httpcore') or m in "
        "('knargo.config.catalog', 'knargo.functions.status')))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def test_the_function_refuses_to_start_without_its_secret(tmp_path: Path) -> None:
    result = _start(environment(tmp_path, secret=None))
    assert result.returncode != 0
    assert "knargo webhook cannot start:" in result.stderr
    assert "github.webhook-secret: missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_function_imports_no_kubernetes_client_catalog_or_statuses(tmp_path: Path) -> None:
    """What only generate or report use is not on the webhook's start-up path, nor httpx:
    the webhook publishes with the standard library's http.client."""
    result = _start(environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_generate_needs_its_secret_catalog(tmp_path: Path) -> None:
    from knargo.config.startup import generate_runtime

    env = environment(tmp_path)
    with pytest.raises(StartupError, match=r"catalog\.yaml:1:1: error: cannot read"):
        generate_runtime(env | {"KNARGO_SECRET_CATALOG": str(tmp_path / "catalog.yaml")})
    (tmp_path / "catalog.yaml").write_text("scopes:\n  github.com/acme: [lower]\n")
    with pytest.raises(StartupError, match='invalid secret name "lower"'):
        generate_runtime(env | {"KNARGO_SECRET_CATALOG": str(tmp_path / "catalog.yaml")})
    (tmp_path / "catalog.yaml").write_text("scopes:\n  github.com/acme: [NPM_TOKEN]\n")
    runtime = generate_runtime(env | {"KNARGO_SECRET_CATALOG": str(tmp_path / "catalog.yaml")})
    assert runtime.catalog.names("github.com/acme") == frozenset({"NPM_TOKEN"})


def test_generate_refuses_to_start_without_a_cluster(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text("scopes: {}\n")
    env = environment(
        tmp_path,
        KNARGO_SECRET_CATALOG=str(tmp_path / "catalog.yaml"),
        KUBECONFIG=str(tmp_path / "missing-kubeconfig"),
    )
    code = (
        "from functions_framework import create_app; "
        "create_app('handle', 'functions/generate/main.py')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}, **env},
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "knargo generate cannot start: Kubernetes configuration" in result.stderr
    assert "Traceback" not in result.stderr
