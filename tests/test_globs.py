"""Tests for knargo.language.globs: filter patterns for branches, tags and paths."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knargo.language.globs import GlobError, PatternList, check_patterns, compile_pattern


def matches(pattern: str, value: str) -> bool:
    return compile_pattern(pattern).fullmatch(value) is not None


# --- single patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("main", "main", True),
        ("main", "mainline", False),
        ("main", "xmain", False),
        ("*", "feature", True),
        ("*", "", True),
        ("*", "feature/login", False),
        ("feature/*", "feature/login", True),
        ("feature/*", "feature/login/form", False),
        ("feature/*", "feature/", True),
        ("*.md", "README.md", True),
        ("*.md", "docs/README.md", False),
        ("a*b", "ab", True),
        ("a*b", "a/b", False),
    ],
)
def test_single_star_never_crosses_a_slash(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("**", "", True),
        ("**", "a/b/c.txt", True),
        ("docs/**", "docs/index.md", True),
        ("docs/**", "docs/a/b/c.md", True),
        ("docs/**", "docs", False),
        ("docs/**", "src/docs/x.md", False),
        ("**/x", "x", True),
        ("**/x", "a/x", True),
        ("**/x", "a/b/c/x", True),
        ("**/x", "a/bx", False),
        ("**/*.py", "setup.py", True),
        ("**/*.py", "src/pkg/mod.py", True),
        ("**/*.py", "src/pkg/mod.pyc", False),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/a/b/test_a.py", True),
        ("src/**/test_*.py", "srctest_a.py", False),
        ("a**b", "a/x/b", True),
        ("a**b", "ab", True),
        ("a**/b", "a/b", True),
        ("a**/b", "ab", False),
        ("**.md", "docs/a/README.md", True),
    ],
)
def test_double_star_crosses_slashes(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("v*", "v1.2.3", True),
        ("v*", "v", True),
        ("v*", "release-1", False),
        ("v[0-9]*", "v1.2.3", True),
        ("v[0-9]*", "vnext", False),
        ("v?.*", "v1.2.3", True),
        ("v?.*", "v10.0", False),
        ("release/**", "release/1.x/hotfix", True),
        ("release/*", "release/1.x/hotfix", False),
        ("release/*", "release/1.x", True),
    ],
)
def test_tags_and_branches(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("?", "a", True),
        ("?", "", False),
        ("?", "ab", False),
        ("?", "/", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
    ],
)
def test_question_mark_is_one_character_but_not_a_slash(
    pattern: str, value: str, expected: bool
) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("[abc]", "b", True),
        ("[abc]", "d", False),
        ("[abc]", "ab", False),
        ("[a-z]x", "qx", True),
        ("[a-z]x", "Qx", False),
        ("[!a-z]", "Q", True),
        ("[!a-z]", "q", False),
        ("[!a-z]", "/", False),
        ("[!-0]", "/", False),  # the range !-0 holds "/", yet a class never matches it
        ("[-0]", "/", False),
        ("[/a]", "/", False),
        ("[/a]", "a", True),
        ("[a-]", "-", True),
        ("[-a]", "-", True),
        ("[a\\]]", "]", True),
        ("[\\!a]", "!", True),
        ("[a^]", "^", True),
        ("[0-9][0-9]", "42", True),
    ],
)
def test_character_classes(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("\\*", "*", True),
        ("\\*", "x", False),
        ("a\\?", "a?", True),
        ("a\\?", "ab", False),
        ("\\[abc]", "[abc]", True),
        ("\\[abc]", "a", False),
        ("\\\\", "\\", True),
        ("\\!x", "!x", True),
        ("a\\**", "a*bc", True),
        ("\\a", "a", True),
    ],
)
def test_backslash_escapes_the_next_character(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value"),
    [("a.b", "a.b"), ("(x)", "(x)"), ("a+b", "a+b"), ("^$", "^$"), ("{a,b}", "{a,b}")],
)
def test_regex_characters_are_literal(pattern: str, value: str) -> None:
    assert matches(pattern, value)
    assert not matches("a.b", "axb")


def test_star_matches_newlines_too() -> None:
    assert matches("a*b", "a\nb")
    assert matches("**", "a\n/b")


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "offset", "fragment"),
    [
        ("", 0, "empty pattern"),
        ("!", 0, '"!"'),
        ("[", 0, 'unclosed "["'),
        ("src/[abc", 4, 'unclosed "["'),
        ("a[!", 1, 'unclosed "["'),
        ("[]", 0, "empty character class"),
        ("x[!]", 1, "empty character class"),
        ("abc\\", 3, "trailing backslash"),
        ("***", 0, '"***"'),
        ("docs/****", 5, '"****"'),
        ("[z-a]", 1, "invalid range"),
    ],
)
def test_compile_pattern_errors(pattern: str, offset: int, fragment: str) -> None:
    with pytest.raises(GlobError) as raised:
        compile_pattern(pattern)
    assert raised.value.offset == offset
    assert fragment in raised.value.message
    assert raised.value.index == 0
    assert isinstance(raised.value, ValueError)
    assert f"offset {offset}" in str(raised.value)


def test_check_patterns_reports_every_error_with_its_index() -> None:
    errors = check_patterns(["main", "", "!", "!docs/[x", "ok/**", "a\\", "!***", "[]"])
    found = [(error.index, error.offset, error.message) for error in errors]
    assert found == [
        (1, 0, "empty pattern"),
        (2, 0, '"!" without a pattern to negate'),
        (3, 6, 'unclosed "["'),  # offsets count the "!" of a negation
        (5, 1, "trailing backslash escapes nothing"),
        (6, 1, '"***": use "*" or "**"'),
        (7, 0, "empty character class"),
    ]


def test_check_patterns_accepts_valid_lists() -> None:
    assert check_patterns([]) == []
    assert check_patterns(["main", "release/**", "!release/old", "v[0-9]*", "\\!x"]) == []


def test_negation_of_nothing_is_an_error_in_a_list() -> None:
    assert [(e.index, e.offset) for e in check_patterns(["a", "!"])] == [(1, 0)]


# --- pattern lists -----------------------------------------------------------------------------


def test_later_patterns_override_earlier_ones() -> None:
    paths = PatternList(("src/**", "!src/docs/**", "src/docs/keep.md"))
    assert paths.matches("src/main.py")
    assert paths.matches("src/a/b.py")
    assert not paths.matches("src/docs/index.md")
    assert not paths.matches("src/docs/a/b.md")
    assert paths.matches("src/docs/keep.md")
    assert not paths.matches("README.md")


def test_order_matters() -> None:
    assert not PatternList(("src/docs/keep.md", "!src/docs/**")).matches("src/docs/keep.md")


def test_only_negations_start_from_everything() -> None:
    paths = PatternList(("!docs/**",))
    assert paths.matches("src/main.py")
    assert paths.matches("README.md")
    assert not paths.matches("docs/index.md")
    both = PatternList(("!docs/**", "!*.md"))
    assert both.matches("src/main.py")
    assert not both.matches("README.md")
    assert not both.matches("docs/x.txt")


def test_mixed_list_starts_from_nothing() -> None:
    branches = PatternList(("!main", "release/**"))
    assert not branches.matches("feature")
    assert not branches.matches("main")
    assert branches.matches("release/1.x/hotfix")


def test_empty_list_selects_nothing() -> None:
    assert not PatternList(()).matches("main")
    assert not PatternList(()).matches_any(["a", "b"])


def test_matches_any() -> None:
    paths = PatternList(("src/**", "!src/docs/**"))
    assert paths.matches_any(["README.md", "src/x.py"])
    assert not paths.matches_any(["README.md", "src/docs/x.md"])
    assert not paths.matches_any([])
    assert paths.matches_any(iter(["src/y.py"]))


def test_tags_list() -> None:
    tags = PatternList(("v*", "!v*-rc*"))
    assert tags.matches("v1.2.3")
    assert not tags.matches("v1.2.3-rc1")
    assert not tags.matches("1.2.3")


def test_a_leading_escaped_bang_is_a_literal_positive_pattern() -> None:
    names = PatternList(("\\!important",))
    assert names.matches("!important")
    assert not names.matches("important")


def test_pattern_list_is_a_frozen_hashable_value() -> None:
    first, second = PatternList(("a", "!b")), PatternList(("a", "!b"))
    assert first == second
    assert hash(first) == hash(second)
    assert first.matches("a")  # compiling must not change equality or hash
    assert first == second
    assert hash(first) == hash(second)
    assert repr(first) == "PatternList(patterns=('a', '!b'))"
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.patterns = ()  # type: ignore[misc]


def test_pattern_list_compiles_once() -> None:
    patterns = PatternList(("a/**",))
    assert patterns.matches("a/b")
    compiled = patterns._rules
    assert compiled is not None
    assert patterns.matches("a/c")
    assert patterns._rules is compiled


def test_pattern_list_accepts_a_list_but_not_a_string() -> None:
    assert PatternList(["a"]).patterns == ("a",)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PatternList("main")  # type: ignore[arg-type]


def test_pattern_list_raises_on_first_use_of_an_invalid_pattern() -> None:
    patterns = PatternList(("ok", "!bad["))
    with pytest.raises(GlobError) as raised:
        patterns.matches("ok")
    assert (raised.value.index, raised.value.offset) == (1, 4)


# --- properties --------------------------------------------------------------------------------

SEGMENT = st.text(alphabet="abcxyz0189-_.", max_size=6)
LITERAL_PATHS = st.lists(SEGMENT, min_size=1, max_size=5).map("/".join).filter(bool)


@given(LITERAL_PATHS)
def test_a_literal_pattern_matches_itself(value: str) -> None:
    assert matches(value, value)
    assert PatternList((value,)).matches(value)
    assert not PatternList(("!" + value,)).matches(value)
    assert not matches(value, value + "x")


@given(st.lists(SEGMENT, min_size=1, max_size=5), st.data())
def test_a_segment_replaced_by_star_still_matches(segments: list[str], data: st.DataObject) -> None:
    value = "/".join(segments)
    index = data.draw(st.integers(0, len(segments) - 1))
    starred = "/".join([*segments[:index], "*", *segments[index + 1 :]])
    assert matches(starred, value)
    # ... but the star does not swallow a "/" put into that segment.
    longer = "/".join([*segments[:index], segments[index] + "/q", *segments[index + 1 :]])
    assert not matches(starred, longer)
    # "**" does.
    assert matches(starred.replace("*", "**"), longer)


@given(LITERAL_PATHS, st.data())
def test_a_slice_replaced_by_double_star_still_matches(value: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(value)))
    end = data.draw(st.integers(start, len(value)))
    assert matches(value[:start] + "**" + value[end:], value)
