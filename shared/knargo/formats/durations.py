"""Durations as users write them: `45s`, `30m`, `1h30m`, `2d`."""

from __future__ import annotations

import re

__all__ = ["DurationError", "format_seconds", "parse_duration"]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (86_400, 3_600, 60, 1)


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> int:
    """Seconds in a duration such as `1h30m`; units d, h, m, s, largest first."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise DurationError(
            f'invalid duration "{text}" (expected a number with a unit, largest first: '
            "45s, 30m, 1h30m, 2d)"
        )
    seconds = sum(
        int(part) * unit for part, unit in zip(match.groups(), _UNITS, strict=True) if part
    )
    if seconds <= 0:
        raise DurationError(f'invalid duration "{text}" (must be longer than 0s)')
    return seconds


def format_seconds(seconds: int) -> str:
    """The shortest `1h2m3s` form of a number of seconds (`0s` for zero)."""
    parts = []
    for unit, suffix in zip(_UNITS, "dhms", strict=True):
        count, seconds = divmod(seconds, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts) or "0s"
