"""YAML with positions: YAML 1.2 scalars, duplicate keys, aliases, and where things stand."""

from __future__ import annotations

import pytest

from knargo.formats import positions
from knargo.formats.positions import Mark


def load(text: str) -> positions.Document:
    doc, problems = positions.load(text, "f.yaml")
    assert doc is not None and problems == []
    return doc


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", "on"),
        ("yes", "yes"),
        ("No", "No"),
        ("true", True),
        ("FALSE", False),
        ("1", 1),
        ("-3", -3),
        ("0o17", 15),
        ("0x1f", 31),
        ("1.10", 1.1),
        ("1e3", 1000.0),
        ("~", None),
        ("null", None),
        ("", None),
        ("2001-12-14", "2001-12-14"),
        ("'1'", "1"),
        ('"true"', "true"),
        ("!!str 1", "1"),
        ("1_000", "1_000"),
    ],
)
def test_scalars_follow_yaml_1_2_core_schema(text: str, value: object) -> None:
    assert load(f"k: {text}\n").data == {"k": value}


def test_keys_are_text_and_raw_text_is_kept() -> None:
    doc = load("on: 1\n1.10: x\nv: 1.10\n")
    assert list(doc.data) == ["on", "1.10", "v"]
    assert doc.raw[("v",)] == "1.10"


def test_positions_of_keys_and_values() -> None:
    doc = load("a:\n  b: [x, 'y']\n")
    assert doc.key_mark(("a", "b")) == Mark(2, 3)
    assert doc.value_mark(("a", "b", 1)) == Mark(2, 10)
    assert doc.styles[("a", "b", 1)] == "'"
    assert doc.value_mark(("a", "b", 7)) == Mark(2, 6)  # nearest known ancestor


def test_list_items_are_found_by_value() -> None:
    doc = load("s: [A, B]\n")
    assert doc.value_mark(("s", "B")) == Mark(1, 8)


def test_duplicate_keys_are_errors_at_the_second_occurrence() -> None:
    doc, problems = positions.load("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert doc is not None and doc.data == {"a": 1, "b": 2}
    assert [str(p) for p in problems] == [
        'f.yaml:3:1: error: duplicate key "a" (first defined at line 1) [duplicate-key]'
    ]


def test_aliases_and_merge_keys() -> None:
    doc = load("base: &b {image: alpine, run: x}\njob:\n  <<: *b\n  run: y\n")
    assert doc.data["job"] == {"run": "y", "image": "alpine"}


def test_syntax_errors_have_positions() -> None:
    doc, problems = positions.load("a: [1,\n", "f.yaml")
    assert doc is None
    assert problems[0].rule == "syntax" and problems[0].line == 2


def laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_limit() -> None:
    doc, problems = positions.load(laughs(9), "f.yaml")
    assert doc is None
    # a1-a3 expand to 12,330 values, each alias of a3 to 11,111: the second in a4 crosses
    assert [str(p) for p in problems] == [
        "f.yaml:5:15: error: aliases expand to more than 25,000 values: the document is "
        "refused (write the values out or anchor smaller parts) [alias]"
    ]


def test_six_level_alias_bomb_inside_needs_is_refused() -> None:
    levels = [f"&l0 [{', '.join(['b'] * 10)}]"]
    levels += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7)]
    text = "jobs:\n  b: {run: x}\n  a:\n    run: x\n    needs: [" + ", ".join(levels) + "]\n"
    doc, problems = positions.load(text, "ci.yaml")
    assert doc is None and [(p.line, p.rule) for p in problems] == [(5, "alias")]
    assert text.splitlines()[4][problems[0].col - 1] == "*"


def test_aliases_within_the_limit_are_expanded() -> None:
    doc = load(laughs(3))  # 10^4 values through aliases
    assert doc.data["a3"][9][9][9] == ["x"] * 10 and doc.data["a3"][0] == doc.data["a2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "jobs:\n\tb: 1\n",
            "f.yaml:2:1: error: YAML forbids tabs for indentation: indent with spaces",
        ),
        (
            "a:\n  b: 1\n\t\n",
            "f.yaml:3:1: error: YAML forbids tabs for indentation: indent with spaces",
        ),
        ("a: 1\nb: x\x00y\n", "f.yaml:2:5: error: control character U+0000 is not allowed in YAML"),
        ("\x00", "f.yaml:1:1: error: control character U+0000 is not allowed in YAML"),
        (
            "a: @x\n",
            "f.yaml:1:4: error: YAML syntax: '@' cannot start a plain value: quote the value",
        ),
    ],
)
def test_tabs_and_control_characters_get_our_own_words(text: str, expected: str) -> None:
    doc, problems = positions.load(text, "f.yaml")
    assert doc is None and [str(p) for p in problems] == [expected + " [syntax]"]
    assert "unicode string" not in problems[0].message and "token" not in problems[0].message


def test_complex_keys_are_errors() -> None:
    _doc, problems = positions.load("? [a, b]\n: 1\n", "f.yaml")
    assert problems and problems[0].message == "a mapping key must be a plain value"


def test_empty_document() -> None:
    doc, problems = positions.load("# only a comment\n", "f.yaml")
    assert doc is not None and doc.data is None and problems == []


def test_merged_keys_come_after_the_mappings_own_with_their_positions() -> None:
    doc = load("d: &d {image: alpine, run: x}\njob:\n  <<: [*d, {shell: bash}]\n  run: y\n")
    assert doc.data["job"] == {"run": "y", "image": "alpine", "shell": "bash"}
    assert doc.value_mark(("job", "run")) == Mark(4, 8)  # the job's own, not the anchor's
    assert doc.value_mark(("job", "image")) == Mark(1, 15)  # where the merged value stands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [1, *a]\n", "f.yaml:1:11: error: recursive alias [syntax]"),
        ("a: *nope\n", 'f.yaml:1:4: error: undefined alias "*nope" [syntax]'),
        (
            "a: &a 1\n<<: *a\n",
            "f.yaml:2:5: error: a merge key (<<) must refer to a mapping [syntax]",
        ),
        (
            "? [a, b]\n: 1\nc: 2\n",
            "f.yaml:1:3: error: a mapping key must be a plain value [syntax]",
        ),
    ],
)
def test_alias_and_key_problems_are_diagnostics(text: str, expected: str) -> None:
    doc, problems = positions.load(text, "f.yaml")
    assert [str(p) for p in problems] == [expected]
    assert doc is not None


def test_deep_nesting_is_read_without_recursion_up_to_libyamls_limit() -> None:
    doc = load("a: " + "[" * 990 + "]" * 990 + "\n")
    value = doc.data["a"]
    for _ in range(989):
        value = value[0]
    assert value == []
    doc, problems = positions.load("a: " + "[" * 5000 + "]" * 5000 + "\n", "f.yaml")
    assert doc is None and [str(p) for p in problems] == [
        "f.yaml:1:1003: error: values nested more than 1,000 levels deep [syntax]"
    ]


def test_documents_with_too_many_values_are_refused_where_they_cross() -> None:
    text = "a: [" + ", ".join(["x"] * 200_000) + "]\n"
    doc, problems = positions.load(text, "f.yaml")
    assert doc is None and [(p.line, p.rule) for p in problems] == [(1, "size")]
    assert problems[0].message.startswith("more than 100,000 values: the document is refused")
    assert (
        text[problems[0].col - 1] == "x" and problems[0].col == 5 + 3 * 99_997
    )  # the root, "a" and the list count too


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  b: 1\n c: 2\n", "3:2: this line is not a key of the mapping above it"),
        ("a: b: c\n", '1:5: a ": " cannot start a mapping here'),
        ("a: [1,\n", "2:1: a value is missing here"),
        ("- a\nb: 1\n", '2:1: expected a list item ("- ...") at this indentation'),
        ('a: "abc\nb: 1\n', "1:4: this quoted value is never closed"),
        ('a: "\\q"\n', "1:5: unknown escape in a double-quoted value"),
        ("a: &\n", "1:5: an anchor (&) or alias (*) needs a name"),
        ("a: [1, 2\nb: 3\n", '1:4: expected "," or "]" in this [...] list'),
        ("a: {b: 1\nc: 2\n", '1:4: expected "," or "}" in this {...} mapping'),
        ("a: 1\n---\nb: 2\n", '2:1: a ci.yaml holds one YAML document: remove the "---" here'),
    ],
)
def test_syntax_errors_are_said_in_our_words_where_they_begin(text: str, expected: str) -> None:
    doc, problems = positions.load(text, "f.yaml")
    assert doc is None and len(problems) == 1
    where, message = expected.split(": ", 1)
    assert f"{problems[0].line}:{problems[0].col}" == where
    assert problems[0].message.startswith("YAML syntax: " + message)
    assert "while " not in problems[0].message and "did not find" not in problems[0].message
