"""The YAML writer: whatever it writes, YAML 1.1 and 1.2 readers read back unchanged."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from knargo.formats import positions
from knargo.formats.yamltext import dump_all

TRICKY = [
    "",
    " ",
    "-",
    "- x",
    "-c",
    "true",
    "No",
    "on",
    "~",
    "null",
    "1",
    "1.10",
    "0x1f",
    "1e3",
    "2001-12-14",
    ".inf",
    "=",
    "<<",
    "a: b",
    "a:",
    "# c",
    "x #c",
    "'",
    '"',
    "\\",
    "*a",
    "&a",
    "!tag",
    "%",
    "@",
    "`",
    "{}",
    "[]",
    "a\nb",
    "a\n",
    "a\n\n",
    "\na",
    " a\nb",
    "a \nb",
    "tab\there",
    "cr\r\n",
    "ünï ✓",
    "\x85",
    "\u2028",
    "\ufeff",
    "\x7f",
    "\x00",
    "12:30",
    "1_000",
    "0o17",
    "+1",
    "-.5",
    "9f2c1e0",
    "deadbeef",
    "v1.0.0",
    "|",
    ">",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.sampled_from(TRICKY),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
keys = st.one_of(st.sampled_from(TRICKY), st.text(max_size=8).filter(lambda k: "\x00" not in k))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.lists(st.dictionaries(keys, values, max_size=5), min_size=1, max_size=3))
def test_round_trip_through_pyyaml(documents: list[dict[str, Any]]) -> None:
    assert list(yaml.safe_load_all(dump_all(documents))) == documents


@settings(max_examples=200)
@given(st.dictionaries(keys, values, max_size=5))
def test_round_trip_through_yaml_1_2(document: dict[str, Any]) -> None:
    text = dump_all([document]).removeprefix("---\n")
    doc, problems = positions.load(text, "x.yaml")
    assert problems == [] and doc is not None
    assert (doc.data or {}) == document


def test_reads_like_pyyaml_block_style() -> None:
    document = {
        "a": {"b": [1, "x", {"c": None, "d": []}], "e": {}},
        "script": "one\ntwo\n",
        "sha": "9f2c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807",
        "flag": "true",
    }
    assert dump_all([document]) == (
        "---\n"
        "a:\n"
        "  b:\n"
        "  - 1\n"
        "  - x\n"
        "  - c: null\n"
        "    d: []\n"
        "  e: {}\n"
        "script: |\n"
        "  one\n"
        "  two\n"
        "sha: 9f2c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807\n"
        "flag: 'true'\n"
    )
