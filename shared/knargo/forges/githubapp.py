"""A GitHub App: its JWT, installation tokens and installations as request values.

An App authenticates with a JSON Web Token signed RS256 with its private key (`iss` the App's
id, issued 60 s in the past against clock drift, valid at most 10 minutes), and trades it for
an installation token (valid one hour) that acts on the installation's repositories
("Generating a JSON Web Token (JWT) for a GitHub App", "Authenticating as a GitHub App
installation", docs.github.com). GitHub Enterprise Server serves the same paths under its
`api_url`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from knargo.config.settings import Forge
from knargo.forges.payload import ApiRequest, PayloadError, post_json, req_int, req_str

__all__ = [
    "JWT_LIFETIME",
    "access_token",
    "app_jwt",
    "expires_at",
    "installation_id",
    "repository_installation",
]

JWT_LIFETIME = 540
"""Seconds a JWT is valid: GitHub accepts at most 600, less leaves room for clock drift."""
JWT_BACKDATE = 60


def app_jwt(app_id: int, private_key: bytes, now: float) -> str:
    """The App's JWT at `now` (seconds since the epoch)."""
    import jwt  # PyJWT with cryptography: imported only by a process that is an App

    issued = int(now) - JWT_BACKDATE
    claims = {"iat": issued, "exp": int(now) + JWT_LIFETIME, "iss": str(app_id)}
    return jwt.encode(claims, private_key, algorithm="RS256")


def _request(forge: Forge, jwt: str, path: str, operation: str) -> ApiRequest:
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "Authorization": f"Bearer {jwt}",
    }
    return ApiRequest("GET", forge.api_url.rstrip("/") + path, headers, {}, operation)


def access_token(forge: Forge, jwt: str, installation: int) -> ApiRequest:
    """`apps/create-installation-access-token`: a token for every repository the
    installation may access, with the App's permissions."""
    request = _request(
        forge,
        jwt,
        f"/app/installations/{installation}/access_tokens",
        f"create a token of installation {installation}",
    )
    return post_json(request, {})


def repository_installation(forge: Forge, jwt: str, repository: str) -> ApiRequest:
    """`apps/get-repo-installation`: the installation of the App on `repository`."""
    return _request(
        forge, jwt, f"/repos/{repository}/installation", f"find the installation of {repository}"
    )


def installation_id(body: Any) -> int:
    if not isinstance(body, Mapping):
        raise PayloadError("expected an installation object")
    return req_int(body, "id")


def expires_at(body: Any) -> tuple[str, float]:
    """The token and when it expires (seconds since the epoch)."""
    if not isinstance(body, Mapping):
        raise PayloadError("expected an installation token object")
    token, expires = req_str(body, "token"), req_str(body, "expires_at")
    try:
        return token, datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise PayloadError(f"expires_at: not a time: {expires!r}") from None
