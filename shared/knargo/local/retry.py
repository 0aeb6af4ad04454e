"""Argo's `retryStrategy` for the local executor: which outcomes are retried, and how long
to wait before the next attempt (scaled down: a local run should not wait 10 s)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from knargo.formats.durations import DurationError, parse_duration

__all__ = ["attempts", "backoff", "retried"]

_RETRIED = {
    "Always": frozenset({"Failed", "Error"}),
    "OnFailure": frozenset({"Failed"}),
    "OnError": frozenset({"Error"}),
    # Locally only a failed checkout is an error, and that is what may be transient.
    "OnTransientError": frozenset({"Error"}),
}


def attempts(strategy: Mapping[str, Any]) -> int:
    """`limit` counts retries: limit + 1 attempts."""
    return int(strategy.get("limit", "0")) + 1


def retried(strategy: Mapping[str, Any], phase: str) -> bool:
    return phase in _RETRIED[strategy.get("retryPolicy", "OnFailure")]


def backoff(strategy: Mapping[str, Any], attempt: int, scale: float, cap: float) -> float:
    """Seconds before attempt `attempt + 1`: duration * factor**attempt * scale, at most cap."""
    settings = strategy.get("backoff") or {}
    try:
        seconds = parse_duration(str(settings.get("duration", "0s")))
    except DurationError:
        seconds = 0
    factor = float(settings.get("factor", "1") or 1)
    return float(min(seconds * factor**attempt * scale, cap))
