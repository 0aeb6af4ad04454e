"""What a function reads from the environment and mounted files.

Anything missing or invalid raises `StartupError` with a message naming the file or
variable and the key: at start-up the function refuses to start instead of failing on the
first event; later, when a mounted file changes (`knargo.config.reload`), the function keeps
what it had. `*_files` name what each function watches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from knargo.config.credentials import DEFAULT_DIR, Credentials, load_credentials
from knargo.config.settings import Settings, load_settings
from knargo.contract.errors import StartupError

if TYPE_CHECKING:  # only generate reads the catalog
    from knargo.config.catalog import FileCatalog

__all__ = [
    "GenerateRuntime",
    "ReportRuntime",
    "WebhookRuntime",
    "generate_files",
    "generate_runtime",
    "load_config",
    "report_credentials",
    "report_files",
    "report_runtime",
    "webhook_files",
    "webhook_runtime",
]

DEFAULT_CONFIG = "/etc/knargo/config.yaml"
# Where knative/ mounts the configuration: kubelet updates only files of a mounted directory
# (never one mounted with subPath), so the ConfigMap is a directory and KNARGO_CONFIG names
# the file inside it.
MOUNTED_CONFIG = "/etc/knargo/config/config.yaml"
DEFAULT_CATALOG = "/etc/knargo/catalog/catalog.yaml"


def _config_path(environ: Mapping[str, str]) -> str:
    return environ.get("KNARGO_CONFIG") or DEFAULT_CONFIG


def _credentials_dir(environ: Mapping[str, str]) -> str:
    return environ.get("KNARGO_CREDENTIALS_DIR") or DEFAULT_DIR


def webhook_files(environ: Mapping[str, str]) -> list[str]:
    """The configuration file and the credentials directory."""
    return [_config_path(environ), _credentials_dir(environ)]


report_files = webhook_files


def generate_files(environ: Mapping[str, str]) -> list[str]:
    """The configuration file, the credentials directory and the secret catalog."""
    catalog = environ.get("KNARGO_SECRET_CATALOG") or DEFAULT_CATALOG
    return [*webhook_files(environ), catalog]


def load_config(environ: Mapping[str, str]) -> Settings:
    path = _config_path(environ)
    settings, problems = load_settings(path)
    if settings is None:
        raise StartupError(
            "invalid configuration (KNARGO_CONFIG):\n" + "\n".join(str(p) for p in problems)
        )
    return settings


@dataclass(frozen=True)
class WebhookRuntime:
    settings: Settings
    credentials: Credentials
    sink: str
    extensions: dict[str, str] = field(default_factory=dict)
    max_body: int = 25 * 1024 * 1024


def webhook_runtime(environ: Mapping[str, str]) -> WebhookRuntime:
    settings = load_config(environ)
    credentials = load_credentials(_credentials_dir(environ), settings, webhook_secrets=True)
    sink = environ.get("K_SINK", "")
    if not sink.startswith(("http://", "https://")):
        raise StartupError(
            "K_SINK: missing or not an http(s) URL (a SinkBinding sets it to the broker's address)"
        )
    return WebhookRuntime(settings, credentials, sink, _overrides(environ), _max_body(environ))


def _overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """`K_CE_OVERRIDES`: `{"extensions": {"name": "value"}}`, added to every event sent."""
    text = environ.get("K_CE_OVERRIDES")
    if not text:
        return {}
    try:
        extensions = json.loads(text).get("extensions", {})
    except (ValueError, AttributeError):
        raise StartupError(
            'K_CE_OVERRIDES: expected JSON like {"extensions": {"k": "v"}}'
        ) from None
    if not isinstance(extensions, dict):
        raise StartupError("K_CE_OVERRIDES: extensions must be an object")
    return {str(k): str(v) for k, v in extensions.items()}


def _max_body(environ: Mapping[str, str]) -> int:
    text = environ.get("KNARGO_MAX_BODY_BYTES")
    if not text:
        return 25 * 1024 * 1024
    if not text.isdigit() or int(text) <= 0:
        raise StartupError(f"KNARGO_MAX_BODY_BYTES: {text!r} is not a positive number")
    return int(text)


@dataclass(frozen=True)
class GenerateRuntime:
    settings: Settings
    credentials: Credentials
    catalog: FileCatalog


def generate_runtime(environ: Mapping[str, str]) -> GenerateRuntime:
    settings = load_config(environ)
    credentials = load_credentials(_credentials_dir(environ), settings)
    from knargo.config.catalog import load_catalog

    path = environ.get("KNARGO_SECRET_CATALOG") or DEFAULT_CATALOG
    catalog, problems = load_catalog(path)
    if catalog is None:
        raise StartupError(
            "invalid secret catalog (KNARGO_SECRET_CATALOG):\n"
            + "\n".join(str(p) for p in problems)
        )
    return GenerateRuntime(settings, credentials, catalog)


def report_credentials(environ: Mapping[str, str], settings: Settings) -> Credentials:
    """report posts statuses: every configured forge needs its token."""
    return load_credentials(_credentials_dir(environ), settings, tokens=True)


@dataclass(frozen=True)
class ReportRuntime:
    settings: Settings
    credentials: Credentials


def report_runtime(environ: Mapping[str, str]) -> ReportRuntime:
    settings = load_config(environ)
    return ReportRuntime(settings, report_credentials(environ, settings))
