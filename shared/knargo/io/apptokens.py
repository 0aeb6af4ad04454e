"""GitHub App installation tokens: made on first use, cached per installation until shortly
before they expire, made again when the forge refuses one (401).

One cache per `ForgeClient`, so the reader, status and conversation clients of a function
share it. The installation of a repository is the event's (`installation.id` of the delivery),
else asked once (`GET /repos/{owner}/{repo}/installation`) and remembered. Token values live
only here and in the `Authorization` header of a request: never in an operation's words, an
error, a log line or an event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from knargo.config.credentials import Secret
from knargo.config.settings import Forge
from knargo.contract.errors import ForgeError
from knargo.forges import githubapp
from knargo.forges.payload import ApiRequest, PayloadError

__all__ = ["REFRESH_BEFORE", "AppTokens"]

REFRESH_BEFORE = 300.0
"""Seconds before its expiry a cached token is replaced: a request started with it must not
arrive after it expired."""


@dataclass(frozen=True)
class _Issued:
    forge: Forge
    key: Secret
    installation: int
    expires: float


class AppTokens:
    """Installation tokens of GitHub Apps; `send(request, kind)` answers a request's JSON,
    `clock` says when a cached token is due (a JWT is always signed at the real time)."""

    def __init__(
        self,
        send: Callable[[ApiRequest, str], Any],
        clock: Callable[[], float] = time.time,
        refresh_before: float = REFRESH_BEFORE,
    ) -> None:
        self._send, self._clock, self._margin = send, clock, refresh_before
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, int], tuple[str, _Issued]] = {}
        self._installations: dict[tuple[str, str], int] = {}
        self._issued: dict[str, _Issued] = {}

    def token(self, forge: Forge, key: Secret, repository: str, installation: int | None) -> str:
        """A valid token of the installation that holds `repository`."""
        if installation is None:
            installation = self._installation(forge, key, repository)
        with self._lock:
            cached = self._tokens.get((forge.name, installation))
        if cached is not None and cached[1].expires - self._margin > self._clock():
            return cached[0]
        return self._create(forge, key, installation)

    def renew(self, stale: str) -> str | None:
        """A new token in place of `stale`, which the forge refused; None when `stale` is no
        installation token of this cache (then the refusal stands)."""
        with self._lock:
            issued = self._issued.get(stale)
        if issued is None:
            return None
        with self._lock:
            cached = self._tokens.get((issued.forge.name, issued.installation))
        if cached is not None and cached[0] != stale:
            return cached[0]  # another request renewed it meanwhile
        return self._create(issued.forge, issued.key, issued.installation)

    def _jwt(self, forge: Forge, key: Secret) -> str:
        assert forge.app_id is not None
        return githubapp.app_jwt(forge.app_id, key.reveal(), time.time())

    def _installation(self, forge: Forge, key: Secret, repository: str) -> int:
        where = (forge.name, repository.lower())
        with self._lock:
            known = self._installations.get(where)
        if known is not None:
            return known
        request = githubapp.repository_installation(forge, self._jwt(forge, key), repository)
        try:
            found = githubapp.installation_id(self._send(request, "installation"))
        except PayloadError as exc:
            raise ForgeError(f"{request.operation}: {exc}") from None
        with self._lock:
            self._installations[where] = found
        return found

    def _create(self, forge: Forge, key: Secret, installation: int) -> str:
        request = githubapp.access_token(forge, self._jwt(forge, key), installation)
        try:
            token, expires = githubapp.expires_at(self._send(request, "access_token"))
        except PayloadError as exc:
            raise ForgeError(f"{request.operation}: {exc}") from None
        issued = _Issued(forge, key, installation, expires)
        with self._lock:
            self._tokens[(forge.name, installation)] = (token, issued)
            self._issued[token] = issued
        return token
