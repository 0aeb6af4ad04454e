"""Cron schedules with the semantics of robfig/cron v3 ``ParseStandard``.

Argo CronWorkflows and Kubernetes CronJobs parse schedules with robfig/cron v3, so this
module ports its grammar and its ``Schedule.Next`` search to pure Python:

* `parse_standard` accepts what ``cron.ParseStandard`` accepts: five fields, descriptors,
  ``@every <Go duration>`` and an optional ``CRON_TZ=``/``TZ=`` prefix. Anything else raises
  `CronError` with a readable message and the offset of the offending field.
* `CronSchedule.next` follows robfig's field-wrapping search, including its handling of
  daylight-saving changes and its five-year limit.
* `check_argo_pattern` applies the stricter pattern of the CronWorkflow CRD; `normalize`
  collapses whitespace so that an expression can pass it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronError", "CronSchedule", "check_argo_pattern", "normalize", "parse_standard"]

# Go's unicode.IsSpace, which strings.Fields and strings.TrimSpace use.
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_FIELD = re.compile(f"[^{_SPACE}]+")
_TRIMMED = re.compile(f"[{_SPACE}]*(.*?)[{_SPACE}]*", re.DOTALL)
_INT = re.compile(r"[+-]?[0-9]+")
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_SECOND = 10**9
_UNITS = (("ns", 1), ("us", 1000), ("µs", 1000), ("μs", 1000), ("ms", 10**6), ("s", _SECOND))
_UNITS_LONG = (("m", 60 * _SECOND), ("h", 3600 * _SECOND))
_MAX_NANOS = 1 << 63
# The CRD pattern of CronWorkflow spec.schedules items, in RE2 terms (\s is ASCII, no \v).
_RE2_SPACE = r"[\t\n\f\r ]"
_ARGO_PATTERN = re.compile(
    r"@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    rf"|@every{_RE2_SPACE}+([0-9]+(ns|us|µs|ms|s|m|h))+"
    rf"|([A-Za-z0-9*,/?-]+{_RE2_SPACE}+){{4}}[A-Za-z0-9*,/?-]+"
)
_UNSUPPORTED = "is not supported by Argo/Kubernetes cron"
_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_DESCRIPTORS = (  # robfig's descriptors as the five fields they stand for
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
)


class CronError(ValueError):
    """A rejected cron expression: a readable message and the 0-based offset of the bad field."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Invalid(Exception):
    """A problem inside one field, before the field's name and offset are known."""


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: str = ""  # the names of values low, low + 1, ... separated by spaces


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
    _Field("day-of-week", 0, 6, "sun mon tue wed thu fri sat"),
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed expression; `interval` is set for ``@every``, the field sets otherwise."""

    expression: str
    location: tzinfo
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    days_and: bool  # day-of-month or day-of-week was * or ?: both must match
    interval: timedelta | None = None

    def next(self, after: datetime) -> datetime | None:
        """The first fire time after `after` (aware), in `location`; None beyond five years."""
        if after.utcoffset() is None:
            raise ValueError("after must be timezone-aware")
        start = after.astimezone(UTC).replace(microsecond=0)
        try:
            if self.interval is not None:
                return (start + self.interval).astimezone(self.location)
            return _Search(self, start + timedelta(seconds=1)).run()
        except OverflowError:
            return None


def parse_standard(
    expression: str, *, timezone: str | None = None, allow_tz_prefix: bool = True
) -> CronSchedule:
    """Parse like robfig's ParseStandard; `timezone` applies when there is no TZ prefix."""
    location = UTC if timezone is None else _zone(timezone, 0)
    if not expression:
        raise CronError("the cron expression is empty")
    body, start = expression, 0
    if expression.startswith(("TZ=", "CRON_TZ=")):
        location, start = _prefix(expression, allow_tz_prefix)
        trimmed = _TRIMMED.fullmatch(expression, start)
        assert trimmed is not None
        body, start = trimmed.group(1), trimmed.start(1)
    if body.startswith("@every "):
        # The field sets of an @every schedule are never read.
        return _schedule(expression, location, "0 * * * *", _every(body[7:], start + 7))
    if body.startswith("@"):
        return _schedule(expression, location, _descriptor(body, start))
    return _schedule(expression, location, body, None, start)


def check_argo_pattern(expression: str) -> None:
    """Raise CronError unless `expression` matches the CronWorkflow CRD's schedule pattern."""
    if _ARGO_PATTERN.fullmatch(expression):
        return
    message = f'"{expression}" does not match the schedule pattern of Argo\'s CronWorkflow CRD'
    every = re.fullmatch(f"@every{_RE2_SPACE}+(.*)", expression, re.DOTALL)
    if expression.startswith(("TZ=", "CRON_TZ=")):
        message += "; put the zone in the separate `timezone:` key instead of a prefix"
    elif _ARGO_PATTERN.fullmatch(normalize(expression)):
        message += f'; remove leading, trailing or unusual blanks: "{normalize(expression)}"'
    elif every:
        raise CronError(_every_hint(message, every.group(1)), every.start(1))
    raise CronError(message)


def normalize(expression: str) -> str:
    """Collapse runs of whitespace to single spaces and strip the ends."""
    return " ".join(expression.split())


def _prefix(expression: str, allowed: bool) -> tuple[tzinfo, int]:
    space = expression.find(" ")
    prefix = expression if space < 0 else expression[:space]
    zone = prefix.partition("=")[2]
    if not allowed:
        where = f"put the zone in the separate `timezone:` key instead (timezone: {zone})"
        raise CronError(f'the time zone prefix "{prefix}" is not allowed here; {where}')
    if space < 0:
        raise CronError(f'the time zone prefix "{prefix}" must be followed by a schedule')
    return _zone(zone, prefix.index("=") + 1), space


def _zone(name: str, offset: int) -> tzinfo:
    if name in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        message = f'unknown time zone "{name}" (use an IANA name such as "Europe/Berlin")'
        raise CronError(message, offset) from None


def _descriptor(body: str, start: int) -> str:
    fields = dict(_DESCRIPTORS).get(body)
    if fields is None:
        hint = f" ({body} {_UNSUPPORTED})" if body == "@reboot" else ""
        known = ", ".join(name for name, _ in _DESCRIPTORS)
        message = f'unrecognized descriptor "{body}"{hint}; use {known} or @every <duration>'
        raise CronError(message, start)
    return fields


def _every(text: str, offset: int) -> timedelta:
    try:
        nanos = _go_duration(text)
    except _Invalid as exc:
        raise CronError(f"@every: {exc}", offset) from None
    return timedelta(seconds=max(nanos, _SECOND) // _SECOND)


def _every_hint(message: str, text: str) -> str:
    try:
        seconds = int(_every(text, 0).total_seconds())
    except CronError:
        return message
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    parts = [f"{n}{unit}" for n, unit in ((hour, "h"), (minute, "m"), (second, "s")) if n]
    return (
        f"{message}: @every takes whole numbers with units there (robfig accepts"
        f' "{text}" but Argo does not); write "@every {"".join(parts)}"'
    )


def _go_duration(text: str) -> int:
    """Nanoseconds of a Go duration, computed as time.ParseDuration does."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0
    if not body:
        raise _Invalid(f'"{text}" is not a duration (e.g. 90m or 1h30m)')
    total, pos = 0, 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        assert part is not None
        total += _duration_part(part, text)
        if total > _MAX_NANOS or (total == _MAX_NANOS and not text.startswith("-")):
            raise _Invalid(f'"{text}" is too long a duration')
        pos = part.end()
    return -total if text.startswith("-") else total


def _duration_part(part: re.Match[str], text: str) -> int:
    whole, fraction, unit = part.group(1), part.group(2), part.group(3)
    if not whole and not fraction:
        raise _Invalid(f'"{text}" is not a duration (e.g. 90m or 1h30m)')
    scale = dict(_UNITS + _UNITS_LONG).get(unit)
    if scale is None:
        what = f'unknown unit "{unit}"' if unit else "missing unit"
        raise _Invalid(f'{what} in duration "{text}" (use ns, us, ms, s, m or h)')
    value = int(whole or "0") * scale
    if fraction:
        digits, divisor = 0, 1.0
        for char in fraction:  # Go keeps the digits that fit in 63 bits, as a float ratio
            if digits > (_MAX_NANOS - 1) // 10 or digits * 10 + int(char) > _MAX_NANOS:
                break
            digits, divisor = digits * 10 + int(char), divisor * 10
        value += int(float(digits) * (float(scale) / divisor))
    return value


def _schedule(
    expression: str, location: tzinfo, body: str, every: timedelta | None = None, start: int = 0
) -> CronSchedule:
    tokens = [(m.group(), start + m.start()) for m in _FIELD.finditer(body)]
    if len(tokens) != 5:
        found = len(tokens)
        hint = f"; {found} fields: seconds and years are not supported" if found in (6, 7) else ""
        message = f"expected exactly 5 fields, found {found}{hint} (use {_FIELD_NAMES})"
        raise CronError(message, tokens[0][1] if tokens else start)
    fields = zip(tokens, _FIELDS, strict=True)
    parsed = [_parse_field(text, offset, spec) for (text, offset), spec in fields]
    (minutes, _), (hours, _), (dom, dom_star), (months, _), (dow, dow_star) = parsed
    return CronSchedule(
        expression, location, minutes, hours, dom, months, dow, dom_star or dow_star, every
    )


def _parse_field(text: str, offset: int, spec: _Field) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in filter(None, text.split(",")):  # robfig skips empty items, even all of them
        try:
            part_values, part_star = _parse_range(part, spec)
        except _Invalid as exc:
            raise CronError(f"{spec.name} {exc}", offset) from None
        values.update(part_values)
        star = star or part_star
    return frozenset(values), star


def _parse_range(part: str, spec: _Field) -> tuple[range, bool]:
    range_text, *steps = part.split("/")
    bounds = range_text.split("-")
    star = bounds[0] in ("*", "?")  # robfig ignores anything after "*-"
    start, end = spec.low, spec.high
    if not star:
        start = _value(bounds[0], part, spec)
        if len(bounds) > 2:
            raise _Invalid(f'"{part}" has more than one "-"')
        end = _value(bounds[-1], part, spec)
    if len(steps) > 1:
        raise _Invalid(f'"{part}" has more than one "/"')
    step = _number(steps[0], part, spec) if steps else 1
    if steps and len(bounds) == 1:
        end = spec.high  # "a/n" runs from a to the maximum
    _check_range(start, end, step, part, spec)
    return range(start, end + 1, step), star and step <= 1


def _value(token: str, part: str, spec: _Field) -> int:
    names = spec.names.split()
    if token.lower() in names:
        return names.index(token.lower()) + spec.low
    return _number(token, part, spec)


def _number(token: str, part: str, spec: _Field) -> int:
    if not _INT.fullmatch(token):
        first, last = spec.names[:3].upper(), spec.names[-3:].upper()
        names = f" or a name ({first}-{last})" if spec.names else ""
        where = f'"{part}": "{token}"' if token != part else f'"{part}"'
        hint = _syntax_hint(token.upper())
        raise _Invalid(f"{where} is not a number{names}" + (f"; {hint}" if hint else ""))
    if int(token) < 0:
        raise _Invalid(f'"{part}": negative numbers are not allowed')
    return int(token)


def _syntax_hint(token: str) -> str:
    if "#" in token:
        return f"'#' (nth weekday of the month) {_UNSUPPORTED}"
    if re.fullmatch("[0-9]*L|LW", token):
        return f"'L' (last day or weekday) {_UNSUPPORTED}"
    if re.fullmatch("[0-9]+W", token):
        return f"'W' (nearest weekday) {_UNSUPPORTED}"
    if token.startswith("H"):
        return f"'H' (hashed, Jenkins syntax) {_UNSUPPORTED}; pick a fixed value"
    return ""


def _check_range(start: int, end: int, step: int, part: str, spec: _Field) -> None:
    for value in (start, end):
        where = f'{value} in "{part}"' if part != str(value) else str(value)
        if value < spec.low:
            raise _Invalid(f"{where} is below the minimum {spec.low}")
        if value > spec.high:
            sunday = " (use 0 for Sunday)" if spec.name == "day-of-week" and value == 7 else ""
            raise _Invalid(f"{where} is above the maximum {spec.high}{sunday}")
    if start > end:
        raise _Invalid(f'range "{part}" is reversed ({start} > {end}); ranges do not wrap around')
    if step == 0:
        raise _Invalid(f'"{part}": the step must be a positive number')


class _Search:
    """robfig's Next: an instant, kept in UTC and read in the schedule's location, that each
    field moves forward in turn; a field that wraps around restarts from the year."""

    def __init__(self, schedule: CronSchedule, instant: datetime) -> None:
        self.s = schedule
        self.instant = instant
        self.added = False  # robfig truncates the lower fields on the first move only

    @property
    def t(self) -> datetime:
        return self.instant.astimezone(self.s.location)

    def run(self) -> datetime | None:
        if not (self.s.minutes and self.s.hours and self.s.months):
            return None  # an empty field ("," alone) never matches: skip the five-year walk
        limit = self.t.year + 5
        while self.t.year <= limit:
            if self.month() and self.day() and self.hour() and self.minute() and self.second():
                return self.t
        return None

    def truncate(self, *fields: int) -> None:
        if not self.added:
            self.added = True
            self.instant = _go_date(self.s.location, *fields)

    def add_date(self, months: int = 0, days: int = 0) -> None:
        t = self.t
        self.instant = _go_date(
            self.s.location, t.year, t.month + months, t.day + days, t.hour, t.minute, t.second
        )

    def month(self) -> bool:
        while self.t.month not in self.s.months:
            self.truncate(self.t.year, self.t.month, 1)
            self.add_date(months=1)
            if self.t.month == 1:
                return False
        return True

    def day(self) -> bool:
        while not self.day_matches(self.t):
            self.truncate(self.t.year, self.t.month, self.t.day)
            self.add_date(days=1)
            hour = self.t.hour  # a DST change moved midnight: robfig steps back onto it
            if hour:
                self.instant += timedelta(hours=24 - hour if hour > 12 else -hour)
            if self.t.day == 1:
                return False
        return True

    def day_matches(self, t: datetime) -> bool:
        dom = t.day in self.s.days_of_month
        dow = t.isoweekday() % 7 in self.s.days_of_week
        return (dom and dow) if self.s.days_and else (dom or dow)

    def hour(self) -> bool:
        while self.t.hour not in self.s.hours:
            self.truncate(self.t.year, self.t.month, self.t.day, self.t.hour)
            self.instant += timedelta(hours=1)
            if self.t.hour == 0:
                return False
        return True

    def minute(self) -> bool:
        while self.t.minute not in self.s.minutes:
            if not self.added:  # robfig truncates the instant here, not the wall time
                self.added = True
                self.instant = self.instant.replace(second=0)
            self.instant += timedelta(minutes=1)
            if self.t.minute == 0:
                return False
        return True

    def second(self) -> bool:
        second = self.t.second  # robfig steps second by second up to :00, then wraps
        if second:
            self.added = True
            self.instant += timedelta(seconds=60 - second)
        return not second


def _go_date(location: tzinfo, year: int, month: int, day: int, *clock: int) -> datetime:
    """Go's time.Date: normalise overflowing fields, then resolve gaps and overlaps like Go."""
    hour, minute, second = (*clock, 0, 0, 0)[:3]  # missing clock fields are zero
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    wall = datetime(year, month, 1, tzinfo=UTC)
    wall += timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)
    offset = _offset(location, wall)  # the offset at the wall time read as UTC ...
    actual = _offset(location, wall - offset)  # ... unless it is not in force then
    return wall - (offset if actual == offset else actual)


def _offset(location: tzinfo, instant: datetime) -> timedelta:
    return instant.astimezone(location).utcoffset() or timedelta(0)
