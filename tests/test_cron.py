"""knargo.language.cron against robfig/cron v3: the reference table, edge cases and a property."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knargo.language.cron import CronError, check_argo_pattern, normalize, parse_standard
from reference import reference_dir, reference_path

TABLE = ("fixtures", "cron", "robfig-v3-standard.tsv")
START = datetime(2025, 3, 29, 22, 17, tzinfo=UTC)
NEW_YORK = "TZ=America/New_York"


def _table_rows() -> list[object]:
    path = reference_dir().joinpath(*TABLE)
    if not path.is_file():  # one placeholder, which skips or fails in the test
        return [pytest.param("", "", "", id="reference-missing")]
    rows: list[object] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            kind, expression, result = line.split("\t")
            rows.append(pytest.param(kind, expression, result, id=f"{kind} {expression}"))
    return rows


def _fire_times(
    expression: str, after: datetime, count: int, timezone: str | None = None
) -> list[datetime]:
    schedule = parse_standard(expression, timezone=timezone)
    times = []
    for _ in range(count):
        fired = schedule.next(after)
        assert fired is not None
        times.append(fired.astimezone(UTC))
        after = fired
    return times


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(("kind", "expression", "result"), _table_rows())
def test_matches_robfig_reference_table(kind: str, expression: str, result: str) -> None:
    reference_path(*TABLE)
    if kind == "ERR":
        with pytest.raises(CronError):
            parse_standard(expression, allow_tz_prefix=True)
        return
    assert kind == "OK"
    expected = [_utc(text) for text in result.split()]
    assert _fire_times(expression, START, len(expected)) == expected
    assert len(expected) == 3


# robfig's own expectations around the 2012 New York DST changes (spec_test.go), as 5 fields.
@pytest.mark.parametrize(
    ("after", "expression", "expected"),
    [
        ("2012-03-11T01:00:00-05:00", f"{NEW_YORK} 0 * * * ?", "2012-03-11T03:00:00-04:00"),
        ("2012-03-11T00:00:00-05:00", f"{NEW_YORK} 0 2 * * ?", "2012-03-12T02:00:00-04:00"),
        ("2012-03-11T00:00:00-05:00", f"{NEW_YORK} 30 2 11 Mar ?", "2013-03-11T02:30:00-04:00"),
        ("2012-11-04T01:45:00-04:00", f"{NEW_YORK} 30 1 04 Nov ?", "2012-11-04T01:30:00-05:00"),
        ("2012-11-04T01:00:00-04:00", f"{NEW_YORK} 0 1 * * ?", "2012-11-04T01:00:00-05:00"),
        ("2012-11-04T01:00:00-05:00", f"{NEW_YORK} 0 1 * * ?", "2012-11-05T01:00:00-05:00"),
        ("2012-11-04T00:00:00-04:00", f"{NEW_YORK} 0 2 * * ?", "2012-11-04T02:00:00-05:00"),
        ("2018-10-17T05:00:00-04:00", "TZ=America/Sao_Paulo 0 9 10 * ?", "2018-11-10T06:00-05:00"),
    ],
)
def test_daylight_saving_changes_like_robfig(after: str, expression: str, expected: str) -> None:
    assert _fire_times(expression, _utc(after), 1) == [_utc(expected)]


def test_question_mark_is_a_star_in_any_field() -> None:
    assert _fire_times("? ? ? ? ?", START, 2) == _fire_times("* * * * *", START, 2)
    assert _fire_times("0 12 ? * MON", START, 3) == _fire_times("0 12 * * 1", START, 3)


def test_names_are_case_insensitive() -> None:
    schedule = parse_standard("0 0 * jan-Mar mon,Wed,FRI")
    assert schedule.months == frozenset({1, 2, 3})
    assert schedule.days_of_week == frozenset({1, 3, 5})


def test_a_step_without_range_runs_to_the_maximum() -> None:
    assert parse_standard("5/15 * * * *").minutes == frozenset({5, 20, 35, 50})
    assert parse_standard("* 20/2 * * *").hours == frozenset({20, 22})


def test_days_match_either_field_when_neither_is_a_star() -> None:
    fired = _fire_times("0 0 13 * 5", START, 3)
    assert [t.date() for t in fired] == [date(2025, 4, 4), date(2025, 4, 11), date(2025, 4, 13)]
    assert _fire_times("0 0 */2 * 1", START, 2)[1].date() == date(2025, 4, 1)  # a Tuesday


def test_days_must_both_match_when_one_field_is_a_star() -> None:
    assert all(t.weekday() == 4 for t in _fire_times("0 0 ? * 5", START, 5))
    # robfig keeps the star for a step of 1: */1 behaves as *, unlike */2.
    assert all(t.weekday() == 0 for t in _fire_times("0 0 */1 * 1", START, 5))


def test_impossible_dates_never_fire() -> None:
    assert parse_standard("0 0 30 2 *").next(START) is None
    assert parse_standard("0 0 31 4,6,9,11 *").next(START) is None


def test_empty_list_items_are_skipped_like_robfig() -> None:
    assert parse_standard("0 ,1,,2, * * *").hours == frozenset({1, 2})
    for expression in (", * * * *", "* , * * *", "* * , * *", "* * * , *", "* * * * ,"):
        assert parse_standard(expression).next(START) is None


def test_every_truncates_to_seconds_and_needs_at_least_one() -> None:
    after = START + timedelta(seconds=7, microseconds=900)
    assert parse_standard("@every 1.5h").next(after) == after.replace(microsecond=0) + timedelta(
        hours=1.5
    )
    assert parse_standard("@every 2.9s").interval == timedelta(seconds=2)
    assert parse_standard("@every 300ms").interval == timedelta(seconds=1)
    assert parse_standard("@every 1h0.5m10µs").interval == timedelta(seconds=3630)
    assert parse_standard("@every -5m").interval == timedelta(seconds=1)


@pytest.mark.parametrize("duration", ["", "1h 30m", "90", "1d", ".h", "1.5.5h", "h1"])
def test_every_rejects_what_go_rejects(duration: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_standard(f"@every {duration}")
    assert caught.value.offset == len("@every ")


def test_every_with_a_fraction_passes_robfig_but_not_argo() -> None:
    parse_standard("@every 1.5h")
    with pytest.raises(CronError, match="@every 1h30m"):
        check_argo_pattern("@every 1.5h")


@pytest.mark.parametrize(
    "expression",
    ["*/5 * * * *", "0 12 ? * MON", "@daily", "@every 90m", "@every 1h30m", "0 0 1-31/10 * *"],
)
def test_argo_pattern_accepts(expression: str) -> None:
    check_argo_pattern(expression)


@pytest.mark.parametrize(
    ("expression", "hint"),
    [
        ("@every 1.5h", "@every 1h30m"),
        (" 0 9 * * *", '"0 9 * * *"'),
        ("0 9 * * *\n", '"0 9 * * *"'),
        ("CRON_TZ=UTC 0 9 * * *", "`timezone:` key"),
        ("@reboot", "does not match"),
        ("* * * *", "does not match"),
    ],
)
def test_argo_pattern_rejects(expression: str, hint: str) -> None:
    with pytest.raises(CronError) as caught:
        check_argo_pattern(expression)
    assert hint in caught.value.message


def test_normalize_collapses_whitespace() -> None:
    assert normalize("  0\t9  * *\n *  ") == "0 9 * * *"
    check_argo_pattern(normalize("  0\t9  * *\n *  "))


def test_tz_prefix_can_be_refused_with_a_hint() -> None:
    with pytest.raises(CronError, match="`timezone:` key") as caught:
        parse_standard("CRON_TZ=Europe/Berlin 0 9 * * *", allow_tz_prefix=False)
    assert "Europe/Berlin" in caught.value.message
    assert caught.value.offset == 0


@pytest.mark.parametrize(
    ("expression", "offset", "fragment"),
    [
        ("0 0 * * 7", 8, "day-of-week 7 is above the maximum 6 (use 0 for Sunday)"),
        ("0 0 * * 1-7", 8, 'day-of-week 7 in "1-7" is above the maximum 6'),
        ("60 * * * *", 0, "minute 60 is above the maximum 59"),
        ("0  24 * * *", 3, "hour 24 is above the maximum 23"),
        ("0 0 0 * *", 4, "day-of-month 0 is below the minimum 1"),
        ("0 0 * 13 *", 6, "month 13 is above the maximum 12"),
        ("0 0 * FOO *", 6, 'month "FOO" is not a number or a name (JAN-DEC)'),
        ("0 0 L * *", 4, "'L' (last day or weekday) is not supported by Argo/Kubernetes cron"),
        ("0 0 15W * *", 4, "'W' (nearest weekday) is not supported by Argo/Kubernetes cron"),
        ("0 0 * * 1#2", 8, "'#' (nth weekday of the month) is not supported"),
        ("0 0 * * 5L", 8, "'L'"),
        ("H 0 * * *", 0, "'H' (hashed"),
        ("0 0 0 * * *", 0, "found 6; 6 fields: seconds and years are not supported"),
        ("0 9 * * * 2025", 0, "expected exactly 5 fields, found 6"),
        ("* * * *", 0, "expected exactly 5 fields, found 4"),
        ("*/0 * * * *", 0, "step must be a positive number"),
        ("0 5-1 * * *", 2, 'range "5-1" is reversed'),
        ("0 1-2-3 * * *", 2, 'more than one "-"'),
        ("0 */2/3 * * *", 2, 'more than one "/"'),
        ("@reboot", 0, '"@reboot" (@reboot is not supported'),
        ("@fortnightly", 0, "unrecognized descriptor"),
        ("CRON_TZ=Europe/Berlin 0 0 L * *", 26, "day-of-month"),
        ("CRON_TZ=Not/AZone 0 9 * * *", 8, 'unknown time zone "Not/AZone"'),
        ("TZ=UTC", 0, "must be followed by a schedule"),
        ("", 0, "empty"),
    ],
)
def test_errors_name_the_field_and_point_at_it(expression: str, offset: int, fragment: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_standard(expression)
    assert fragment in caught.value.message
    assert caught.value.offset == offset
    assert str(caught.value) == caught.value.message


def test_timezone_argument_sets_the_location() -> None:
    schedule = parse_standard("0 9 * * *", timezone="Europe/Berlin")
    before_dst = schedule.next(datetime(2025, 3, 28, tzinfo=UTC))
    assert before_dst == datetime(2025, 3, 28, 8, tzinfo=UTC)
    after_dst = schedule.next(START)
    assert after_dst is not None
    assert after_dst.tzinfo == ZoneInfo("Europe/Berlin")
    assert (after_dst.hour, after_dst.astimezone(UTC).hour) == (9, 7)


def test_prefix_wins_over_timezone_argument() -> None:
    expression = "TZ=America/New_York 30 1 * * *"
    assert _fire_times(expression, START, 1, timezone="Europe/Berlin") == [
        datetime(2025, 3, 30, 5, 30, tzinfo=UTC)
    ]


def test_default_location_is_utc() -> None:
    assert parse_standard("0 9 * * *").next(START) == datetime(2025, 3, 30, 9, tzinfo=UTC)


def test_unknown_timezone_argument() -> None:
    with pytest.raises(CronError, match='unknown time zone "Mars/Olympus"'):
        parse_standard("0 9 * * *", timezone="Mars/Olympus")


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_standard("* * * * *").next(datetime(2025, 1, 1))


@dataclass(frozen=True)
class _Field:
    """A generated field with the values and the star bit it must have."""

    text: str
    values: frozenset[int]
    star: bool


@st.composite
def _items(draw: st.DrawFn, low: int, high: int) -> _Field:
    a = draw(st.integers(low, high))
    b = draw(st.integers(a, high))
    n = draw(st.integers(1, high - low + 1))
    everything = frozenset(range(low, high + 1))
    return draw(
        st.sampled_from(
            [
                _Field(draw(st.sampled_from("*?")), everything, True),
                _Field(f"*/{n}", frozenset(range(low, high + 1, n)), n == 1),
                _Field(str(a), frozenset({a}), False),
                _Field(f"{a}-{b}", frozenset(range(a, b + 1)), False),
                _Field(f"{a}-{b}/{n}", frozenset(range(a, b + 1, n)), False),
                _Field(f"{a}/{n}", frozenset(range(a, high + 1, n)), False),
            ]
        )
    )


def _fields(low: int, high: int, often_star: bool = False) -> st.SearchStrategy[_Field]:
    lists = st.lists(_items(low, high), min_size=1, max_size=3).map(
        lambda items: _Field(
            ",".join(item.text for item in items),
            frozenset().union(*(item.values for item in items)),
            any(item.star for item in items),
        )
    )
    star = _Field("*", frozenset(range(low, high + 1)), True)
    return st.one_of(st.just(star), lists) if often_star else lists


def _day_matches(fields: tuple[_Field, ...], day: date) -> bool:
    _, _, dom, month, dow = fields
    dom_ok, dow_ok = day.day in dom.values, day.isoweekday() % 7 in dow.values
    both = dom_ok and dow_ok if dom.star or dow.star else dom_ok or dow_ok
    return day.month in month.values and both


def _matches(fields: tuple[_Field, ...], t: datetime) -> bool:
    minute, hour = fields[0], fields[1]
    clock = t.minute in minute.values and t.hour in hour.values
    return clock and t.second == 0 and _day_matches(fields, t.date())


@settings(max_examples=100, deadline=None, database=None)
@given(
    fields=st.tuples(
        _fields(0, 59),
        _fields(0, 23),
        _fields(1, 31, often_star=True),
        _fields(1, 12, often_star=True),
        _fields(0, 6, often_star=True),
    ),
    after=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)),
)
def test_next_is_the_first_matching_minute(fields: tuple[_Field, ...], after: datetime) -> None:
    fired = parse_standard(" ".join(field.text for field in fields)).next(after)
    if fired is None:  # then no day in the next five years matches at all
        days = (after.date() + timedelta(days=n) for n in range(5 * 365))
        assert not any(_day_matches(fields, day) for day in days)
        return
    assert fired > after
    assert _matches(fields, fired)
    minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < min(fired, after + timedelta(days=2)):
        assert not _matches(fields, minute), minute
        minute += timedelta(minutes=1)
