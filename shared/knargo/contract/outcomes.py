"""The one table that maps what went wrong to an HTTP answer for the broker.

Knative redelivers on 404, 408, 409, 429 and 5xx, and on nothing else. The body is generic:
no exception text, no stack trace, no secret; the reason goes to the log line only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knargo.contract.errors import (
    ClusterForbidden,
    ForgeUnavailable,
    PermanentError,
    RateLimited,
    TemporaryError,
)

__all__ = ["Failure", "failure"]


@dataclass(frozen=True)
class Failure:
    status: int
    body: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


def failure(exc: BaseException) -> Failure:
    if isinstance(exc, RateLimited):
        return Failure(
            429,
            {"error": "rate limited; retry later"},
            {"Retry-After": str(max(1, round(exc.retry_after)))},
        )
    if isinstance(exc, ForgeUnavailable | TemporaryError):
        wait = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(max(1, round(wait)))} if wait else {}
        return Failure(503, {"error": "temporarily unavailable; retry later"}, headers)
    if isinstance(exc, PermanentError):  # retrying cannot help: straight to the dead letters
        return Failure(400, {"error": "the event cannot be processed"})
    if isinstance(exc, ClusterForbidden):
        return Failure(500, {"error": "knargo is not allowed to do this; see its log"})
    return Failure(500, {"error": "internal error"})
