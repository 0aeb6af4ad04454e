"""The exceptions knargo raises, in one tree.

    KnargoError
    ├── StartupError             configuration or credential files missing or invalid
    ├── ForgeError               a forge API answered with an error
    │   ├── Unauthorized         401/403: the token is wrong or lacks a permission
    │   ├── NotFound             404: repository, commit or file gone
    │   ├── RateLimited          429, or GitHub's 403 with a rate-limit header (retry_after)
    │   ├── TooLarge             a file over the size knargo reads
    │   └── ForgeUnavailable     5xx, timeouts, connection errors
    └── DeliveryError            handing an event on failed
        ├── ClusterForbidden     knargo's service account lacks a permission (answered 500)
        ├── PermanentError       retrying cannot help (answered 2xx or 4xx)
        └── TemporaryError       retrying may help (answered 5xx or 429, retry_after)
            └── BrokerUnavailable  the broker did not take a published event

Messages never contain a secret, a token or a request body.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Mapping

__all__ = [
    "BrokerUnavailable",
    "ClusterForbidden",
    "DeliveryError",
    "ForgeError",
    "ForgeUnavailable",
    "KnargoError",
    "NotFound",
    "PermanentError",
    "RateLimited",
    "StartupError",
    "TemporaryError",
    "TooLarge",
    "Unauthorized",
    "forge_error",
]


class KnargoError(Exception):
    """The root of knargo's exceptions."""


class StartupError(KnargoError):
    """A function cannot start: the message names the file and key."""


class ForgeError(KnargoError):
    """A forge API answered with an error (`status`, and the start of its answer in `detail`)."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class Unauthorized(ForgeError):
    pass


class NotFound(ForgeError):
    pass


class RateLimited(ForgeError):
    def __init__(self, message: str, retry_after: float, status: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class ForgeUnavailable(ForgeError):
    pass


class TooLarge(ForgeError):
    def __init__(self, operation: str, limit: int) -> None:
        super().__init__(f"{operation}: larger than {limit:,} bytes")
        self.limit = limit


class DeliveryError(KnargoError):
    """Handing an event on failed."""


class ClusterForbidden(DeliveryError):
    """Kubernetes refused knargo (RBAC): the message names the verb and resource."""


class PermanentError(DeliveryError):
    pass


class TemporaryError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BrokerUnavailable(TemporaryError):
    pass


def forge_error(
    operation: str, status: int, headers: Mapping[str, str], now: float | None = None
) -> ForgeError | None:
    """The one place where a forge's HTTP answer becomes an exception (None for 2xx/3xx).

    GitHub signals its secondary rate limits with 403 plus `retry-after` or
    `x-ratelimit-remaining: 0`; any other 403 is a permission problem.
    """
    if status < 400:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    limited = status == 429 or (
        status == 403 and ("retry-after" in lower or lower.get("x-ratelimit-remaining") == "0")
    )
    if limited:
        wait = _retry_after(lower, time.time() if now is None else now)
        return RateLimited(
            f"{operation}: rate limited (HTTP {status}), retry in {wait:.0f}s", wait, status
        )
    if status in (401, 403):
        return Unauthorized(f"{operation}: the forge refused the token (HTTP {status})", status)
    if status == 404:
        return NotFound(f"{operation}: not found (HTTP 404)", status)
    if status >= 500:
        return ForgeUnavailable(f"{operation}: the forge failed (HTTP {status})", status)
    return ForgeError(f"{operation}: HTTP {status}", status)


def _retry_after(headers: Mapping[str, str], now: float) -> float:
    """Seconds to wait: `retry-after` (seconds or a date), else `x-ratelimit-reset`, else 60."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return max(1.0, float(value))
    if value:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            return max(1.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return max(1.0, float(reset) - now)
    return 60.0
