"""Credentials mounted from a Secret (`KNARGO_CREDENTIALS_DIR`): one file per value.

`<forge>.webhook-secret` (and `<forge>.webhook-secret.previous` during a rotation) and
`<forge>.token`, or for a GitHub App (`app_id`) its private key `<forge>.app-key` (PEM).
Trailing newlines are not part of a value. Values are held in `Secret`
objects whose repr never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from knargo.config.settings import Settings
from knargo.contract.errors import StartupError

__all__ = ["Credentials", "Secret", "load_credentials"]

DEFAULT_DIR = "/etc/knargo/credentials"


class Secret:
    """A credential value; printing or logging it shows `Secret('***')`."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Credentials:
    """The credentials of every configured forge."""

    webhook_secrets: dict[str, tuple[Secret, ...]] = field(default_factory=dict)
    tokens: dict[str, Secret] = field(default_factory=dict)
    app_keys: dict[str, Secret] = field(default_factory=dict)
    """A GitHub App's private key (PEM) per forge with an `app_id`."""
    argo_token: Secret | None = None
    """`argo.token`: the bearer token report sends to Argo Server for archived logs."""

    def secrets_for(self, forge_name: str) -> tuple[Secret, ...]:
        """The current secret, then the previous one during a rotation."""
        return self.webhook_secrets.get(forge_name, ())


def _read(path: Path) -> Secret | None:
    try:
        value = path.read_bytes().rstrip(b"\r\n")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StartupError(f"{path}: cannot read: {exc.strerror}") from None
    return Secret(value)


def load_credentials(
    directory: str | Path,
    settings: Settings,
    *,
    webhook_secrets: bool = False,
    tokens: bool = False,
) -> Credentials:
    """Read the credentials of every configured forge; `webhook_secrets`/`tokens` say which
    are required. A missing or empty required file stops start-up, naming the file."""
    root = Path(directory)
    secrets: dict[str, tuple[Secret, ...]] = {}
    found_tokens: dict[str, Secret] = {}
    app_keys: dict[str, Secret] = {}
    for forge in settings.forges:
        current = _read(root / f"{forge.name}.webhook-secret")
        previous = _read(root / f"{forge.name}.webhook-secret.previous")
        if webhook_secrets:
            _require(current, root / f"{forge.name}.webhook-secret", forge.name)
        secrets[forge.name] = tuple(s for s in (current, previous) if s and s.reveal())
        if forge.app_id is not None:
            key = _read(root / f"{forge.name}.app-key")
            if tokens:
                _require(key, root / f"{forge.name}.app-key", forge.name)
            if key is not None and key.reveal():
                app_keys[forge.name] = key
            continue
        token = _read(root / f"{forge.name}.token")
        if tokens:
            _require(token, root / f"{forge.name}.token", forge.name)
        if token is not None and token.reveal():
            found_tokens[forge.name] = token
    argo = _read(root / "argo.token")
    return Credentials(secrets, found_tokens, app_keys, argo if argo and argo.reveal() else None)


def _require(secret: Secret | None, path: Path, forge: str) -> None:
    if secret is None:
        raise StartupError(f'{path}: missing; forge "{forge}" is configured and needs it')
    if not secret.reveal():
        raise StartupError(f'{path}: empty; forge "{forge}" needs a non-empty value')
