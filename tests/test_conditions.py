"""Tests for knargo.language.conditions: the `if:` condition language."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knargo.language.conditions import VARIABLES, Condition, ConditionError, parse

PUSH: dict[str, str | bool] = {
    "event": "push",
    "ref": "refs/heads/main",
    "branch": "main",
    "tag": "",
    "base_branch": "",
    "default_branch": "main",
    "sha": "0123abcd",
    "repository": "acme/app",
    "forge": "github",
    "fork": False,
    "is_default_branch": True,
    "schedule": "",
}
TAG: dict[str, str | bool] = {
    **PUSH,
    "event": "tag",
    "ref": "refs/tags/v1.2.3",
    "branch": "",
    "tag": "v1.2.3",
    "is_default_branch": False,
}
PULL_REQUEST: dict[str, str | bool] = {
    **PUSH,
    "event": "pull_request",
    "ref": "refs/pull/7/head",
    "branch": "release/1.x/hotfix",
    "base_branch": "release/1.x",
    "forge": "gitea",
    "fork": True,
    "is_default_branch": False,
}


def run(source: str, variables: dict[str, str | bool] | None = None) -> bool:
    return parse(source).evaluate(PUSH if variables is None else variables)


def error(source: str) -> ConditionError:
    with pytest.raises(ConditionError) as raised:
        parse(source)
    return raised.value


# --- variables ---------------------------------------------------------------------------------


def test_variables_are_fixed_and_read_only() -> None:
    assert dict(VARIABLES) == {
        "event": str,
        "ref": str,
        "branch": str,
        "tag": str,
        "base_branch": str,
        "default_branch": str,
        "sha": str,
        "repository": str,
        "forge": str,
        "schedule": str,
        "fork": bool,
        "is_default_branch": bool,
    }
    with pytest.raises(TypeError):
        VARIABLES["x"] = str  # type: ignore[index]


def test_the_test_mappings_are_complete() -> None:
    for variables in (PUSH, TAG, PULL_REQUEST):
        assert variables.keys() == VARIABLES.keys()
        assert all(isinstance(variables[name], kind) for name, kind in VARIABLES.items())


@pytest.mark.parametrize(
    ("source", "push", "tag", "pull_request"),
    [
        ("event == 'push'", True, False, False),
        ("event != 'push'", False, True, True),
        ("ref == 'refs/tags/v1.2.3'", False, True, False),
        ("branch == ''", False, True, False),
        ("tag == 'v1.2.3'", False, True, False),
        ("base_branch == 'release/1.x'", False, False, True),
        ("default_branch == 'main'", True, True, True),
        ("sha == '0123abcd'", True, True, True),
        ("repository == 'acme/app'", True, True, True),
        ("forge == 'gitea'", False, False, True),
        ("fork", False, False, True),
        ("is_default_branch", True, False, False),
        ("branch == default_branch", True, False, False),
        ("is_default_branch == true", True, False, False),
        ("fork != false", False, False, True),
        ("event == 'tag' && startsWith(tag, 'v')", False, True, False),
        ("event == 'pull_request' && !fork", False, False, False),
        ("is_default_branch || event == 'tag'", True, True, False),
        ("matches(branch, 'release/**') || matches(tag, 'v*')", False, True, True),
    ],
)
def test_evaluation_over_full_mappings(
    source: str, push: bool, tag: bool, pull_request: bool
) -> None:
    condition = parse(source)
    assert condition.evaluate(PUSH) is push
    assert condition.evaluate(TAG) is tag
    assert condition.evaluate(PULL_REQUEST) is pull_request


def test_a_missing_variable_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="branch"):
        parse("branch == 'main'").evaluate({"event": "push"})


def test_a_variable_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="fork"):
        parse("fork").evaluate({**PUSH, "fork": "false"})
    with pytest.raises(TypeError, match="event"):
        parse("event == 'push'").evaluate({**PUSH, "event": True})


def test_and_and_or_short_circuit() -> None:
    assert parse("false && event == 'push'").evaluate({}) is False
    assert parse("true || event == 'push'").evaluate({}) is True


# --- syntax ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("!true && false || true", True),  # ((!true) && false) || true
        ("true || false && false", True),  # true || (false && false)
        ("false && true || true", True),
        ("!false && false", False),  # (!false) && false, not !(false && false)
        ("!true || true", True),
        ("!!true", True),
        ("!fork && is_default_branch || false", True),
        ("!is_default_branch && fork || event == 'tag'", False),
        ("!event == 'tag'", True),  # "!" applies to the whole comparison
        ("!event != 'push'", True),
    ],
)
def test_precedence(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("!(true && false)", True),
        ("(true || false) && false", False),
        ("true || (false && false)", True),
        ("((fork))", False),
        ("!(event == 'push')", False),
        ("(event) == ('push')", True),
        ("(!fork) && (is_default_branch)", True),
        ("startsWith((branch), ('ma'))", True),
    ],
)
def test_parentheses(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'it''s' == \"it's\"", True),
        ("'' == \"\"", True),
        ("'''' == \"'\"", True),
        ('"a\\"b" == \'a"b\'', True),
        ("\"a\\\\b\" == 'a\\b'", True),  # single quotes keep a backslash as it is
        ('\'say "hi"\' == "say \\"hi\\""', True),
        ("'main' == branch", True),
        ('"main" != branch', False),
        ("'a && b' == 'a && b'", True),
        ("'Main' == branch", False),
    ],
)
def test_strings(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_whitespace_is_allowed_between_tokens() -> None:
    assert run("event=='push'&&!fork")
    assert run("  startsWith ( branch , 'ma' )\n&&\tis_default_branch  ")
    assert run("!\nfork")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("startsWith(branch, 'ma')", True),
        ("startsWith(branch, 'ain')", False),
        ("startsWith(branch, '')", True),
        ("endsWith(repository, '/app')", True),
        ("endsWith(repository, 'acme')", False),
        ("contains(ref, 'heads')", True),
        ("contains(ref, 'tags')", False),
        ("contains('heads', ref)", False),  # contains(haystack, needle)
        ("matches(branch, 'ma*')", True),
        ("matches(ref, 'refs/heads/*')", True),
        ("matches(ref, 'refs/*')", False),
        ("matches(ref, 'refs/**')", True),
        ("matches(branch, 'release/**')", False),
        ("matches(branch, default_branch)", True),  # a pattern computed at run time
        ("matches(branch, tag)", False),  # ... which is invalid (empty) here: no match
        ("!matches(branch, 'main')", False),
    ],
)
def test_functions(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_matches_uses_glob_semantics() -> None:
    condition = parse("matches(branch, 'release/**') && !matches(branch, '*/*/hotfix')")
    assert not condition.evaluate(PULL_REQUEST)
    assert condition.evaluate({**PULL_REQUEST, "branch": "release/1.x/fix"})


@pytest.mark.parametrize(
    "source",
    [
        "${{ event == 'push' }}",
        "${{event == 'push'}}",
        "  ${{ event == 'push' }}  ",
        "${{\n  event == 'push'\n}}",
    ],
)
def test_github_style_wrapper_is_stripped(source: str) -> None:
    condition = parse(source)
    assert condition.source == source
    assert condition.evaluate(PUSH)
    assert not condition.evaluate(TAG)


def test_condition_is_a_frozen_value() -> None:
    first, second = parse("fork"), Condition("fork")
    assert first == second
    assert hash(first) == hash(second)
    assert first != parse("!fork")
    assert repr(first) == "Condition(source='fork')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.source = "true"  # type: ignore[misc]


def test_constructing_a_condition_checks_it() -> None:
    with pytest.raises(ConditionError):
        Condition("fork &&")


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "fragment"),
    [
        # syntax
        ("", 0, "unexpected end of condition"),
        ("   ", 3, "unexpected end of condition"),
        ("event == 'push' &&", 18, "unexpected end of condition"),
        ("fork ==", 7, "unexpected end of condition"),
        ("fork)", 4, 'unexpected ")"'),
        ("fork fork", 5, 'unexpected "fork"'),
        ("fork 'x'", 5, 'unexpected string "x"'),
        ("event == 'a' == 'b'", 13, 'unexpected "=="'),
        ("&& fork", 0, 'unexpected "&&"'),
        ("true(", 4, 'unexpected "("'),
        ("fork == !fork", 8, 'unexpected "!"'),
        ("startsWith(branch 'x')", 18, 'expected ")", found string "x"'),
        ("(fork", 5, 'expected ")", found end of condition'),
        ("((fork) && true", 15, 'expected ")"'),
        ("startsWith(branch, 'x'", 22, 'expected ")"'),
        ("fork = true", 5, 'did you mean "=="?'),
        ("fork & true", 5, 'did you mean "&&"?'),
        ("fork | true", 5, 'did you mean "||"?'),
        ("fork # comment", 5, 'unexpected character "#"'),
        ("'abc", 0, "unterminated string"),
        ('event == "abc', 9, "unterminated string"),
        ("event == 'it''s", 9, "unterminated string"),
        ('event == "a\\nb"', 11, "unknown escape"),
        ("${{ fork", 0, 'without a closing "}}"'),
        ("${{ }}", 4, "unexpected end of condition"),
        ("fork }}", 5, 'unexpected character "}"'),
        # names
        ("evnt == 'x'", 0, 'unknown variable "evnt"; did you mean "event"?'),
        ("fork && github.ref == 'x'", 8, 'did you mean "ref"?'),
        ("zzz", 0, 'unknown variable "zzz" (known: base_branch, branch, default_branch,'),
        ("fork && startswith(branch, 'x')", 8, 'unknown function "startswith"; did you mean'),
        (
            "format('x', 'y')",
            0,
            "(known: always, cancelled, changed, contains, endsWith, failure, matches, "
            "startsWith, success)",
        ),
        # arity
        ("contains(branch)", 0, "contains() takes 2 arguments, got 1"),
        ("fork || startsWith()", 8, "startsWith() takes 2 arguments, got 0"),
        ("endsWith(branch, 'a', 'b')", 0, "takes 2 arguments, got 3"),
        # types
        ("event && true", 0, '"&&" needs a boolean, but variable "event" is a string'),
        ("true && event", 8, 'variable "event" is a string'),
        ("fork || 'x'", 8, '"||" needs a boolean, but the string "x" is a string'),
        ("!event", 1, '"!" needs a boolean'),
        ("event", 0, "a condition needs a boolean"),
        ("'push'", 0, "a condition needs a boolean"),
        ("(branch)", 1, "a condition needs a boolean"),
        ("fork == 'true'", 5, "cannot compare a boolean with a string"),
        ("event != true", 6, "cannot compare a string with a boolean"),
        ("startsWith(fork, 'x')", 11, "argument 1 of startsWith() needs a string"),
        ("endsWith(branch, true)", 17, "argument 2 of endsWith() needs a string"),
        ("contains(branch == 'x', 'y')", 16, "this expression is a boolean"),
        # patterns in matches()
        ("matches(branch, 'a[b')", 18, 'invalid pattern: unclosed "["'),
        ("matches(branch, 'x[]')", 18, "invalid pattern: empty character class"),
        ("matches(branch, '***')", 17, 'invalid pattern: "***"'),
        ("matches(branch, '')", 16, "invalid pattern: empty pattern"),
        ("matches(branch, 'x\\')", 18, "invalid pattern: trailing backslash"),
        ("matches(branch, 'it''s[')", 22, 'unclosed "["'),  # offsets see through ''
        ('matches(branch, "a\\\\b\\\\")', 21, "trailing backslash"),  # and through \\
        ("matches(branch, '!main')", 17, "negate with !matches(...)"),
        ("${{ matches(branch, 'a[') }}", 22, 'unclosed "["'),
        # offsets count the ${{ wrapper
        ("${{ evnt }}", 4, "unknown variable"),
        ("  ${{  fork &&  }}", 16, "unexpected end of condition"),
    ],
)
def test_errors_point_at_the_offending_token(source: str, offset: int, fragment: str) -> None:
    raised = error(source)
    assert fragment in raised.message
    assert raised.offset == offset
    assert isinstance(raised, ValueError)
    assert f"offset {offset}" in str(raised)


def test_unknown_variable_lists_all_variables_sorted() -> None:
    message = error("fork && evnt == 'push'").message
    assert message.endswith(f"(known: {', '.join(sorted(VARIABLES))})")


# --- property: random expressions against a reference computation ------------------------------

EVENTS = ("push", "tag", "pull_request", "schedule")
BRANCHES = ("main", "release/1.x", "release/1.x/hotfix", "feature/login", "")

VARIABLE_VALUES = st.fixed_dictionaries(
    {
        "event": st.sampled_from(EVENTS),
        "branch": st.sampled_from(BRANCHES),
        "tag": st.sampled_from(("", "v1.2.3", "nightly")),
        "fork": st.booleans(),
        "is_default_branch": st.booleans(),
    }
).map(lambda drawn: {**PUSH, **drawn, "ref": f"refs/heads/{drawn['branch']}"})


def leaves(v: dict[str, Any]) -> list[tuple[str, bool]]:
    """Atomic conditions and their values, computed directly in Python."""
    branch = v["branch"]
    atoms = [("true", True), ("false", False), ("fork", v["fork"])]
    atoms.append(("is_default_branch", v["is_default_branch"]))
    atoms.append(("fork == true", v["fork"] is True))
    atoms.append(("is_default_branch != false", v["is_default_branch"] is not False))
    for event in EVENTS:
        atoms.append((f"event == '{event}'", v["event"] == event))
        atoms.append((f'"{event}" != event', v["event"] != event))
    for prefix in ("ma", "release/", ""):
        atoms.append((f"startsWith(branch, '{prefix}')", branch.startswith(prefix)))
    atoms.append(("endsWith(ref, 'hotfix')", v["ref"].endswith("hotfix")))
    atoms.append(("contains(branch, '/')", "/" in branch))
    atoms.append(("tag == ''", v["tag"] == ""))
    atoms.append(("matches(branch, 'release/**')", branch.startswith("release/")))
    one_level = branch.startswith("release/") and "/" not in branch[len("release/") :]
    atoms.append(("matches(branch, 'release/*')", one_level))
    atoms.append(("matches(tag, 'v[0-9]*')", v["tag"][:1] == "v" and v["tag"][1:2].isdigit()))
    return atoms


def trees(atoms: list[tuple[str, bool]]) -> st.SearchStrategy[Any]:
    """Expression trees: ("atom", text, value), ("not", t), ("paren", t), (op, l, r, spaced)."""
    return st.recursive(
        st.sampled_from(atoms).map(lambda atom: ("atom", *atom)),
        lambda kids: st.one_of(
            st.tuples(st.just("not"), kids),
            st.tuples(st.just("paren"), kids),
            st.tuples(st.sampled_from(["&&", "||"]), kids, kids, st.booleans()),
        ),
        max_leaves=12,
    )


PRECEDENCE = {"||": 1, "&&": 2, "not": 3}


def render(tree: Any) -> tuple[str, int]:
    """Source text with only the parentheses precedence needs (plus "paren" nodes)."""
    kind = tree[0]
    if kind == "atom":
        return tree[1], 4
    if kind == "paren":
        return f"({render(tree[1])[0]})", 4
    if kind == "not":
        text, precedence = render(tree[1])
        return "!" + (text if precedence >= 3 else f"({text})"), 3
    parts = []
    for child in tree[1:3]:
        text, precedence = render(child)
        parts.append(text if precedence >= PRECEDENCE[kind] else f"({text})")
    return (f" {kind} " if tree[3] else kind).join(parts), PRECEDENCE[kind]


def value(tree: Any) -> bool:
    kind = tree[0]
    if kind == "atom":
        return bool(tree[2])
    if kind == "paren":
        return value(tree[1])
    if kind == "not":
        return not value(tree[1])
    if kind == "&&":
        return value(tree[1]) and value(tree[2])
    return value(tree[1]) or value(tree[2])


@given(VARIABLE_VALUES, st.booleans(), st.data())
def test_random_expressions_match_a_reference_evaluation(
    variables: dict[str, str | bool], wrapped: bool, data: st.DataObject
) -> None:
    tree = data.draw(trees(leaves(variables)))
    source = render(tree)[0]
    if wrapped:
        source = "${{ " + source + " }}"
    assert parse(source).evaluate(variables) is value(tree), source


def test_rendering_relies_on_precedence() -> None:
    a, b, c = ("atom", "a", True), ("atom", "b", True), ("atom", "c", False)
    assert render(("||", ("&&", ("not", a), b, True), c, True))[0] == "!a && b || c"
    assert render(("not", ("&&", a, ("||", b, c, False), False)))[0] == "!(a&&(b||c))"
    assert value(("||", ("&&", ("not", a), b, True), c, True)) is False
