"""Block-style YAML for manifests, written directly from JSON-like data.

PyYAML's representer is pure Python and dominates the time of rendering a large pipeline
(about 80 % at 1,000 jobs). Manifests are only mappings, lists, strings, integers, booleans and
null, so this module writes them itself: strings stay plain when no YAML reader (1.1 or 1.2)
could take them for anything else, multi-line text becomes a literal block, and every other
string is written as a JSON string, which is a valid YAML double-quoted scalar. Tests read the
output back with PyYAML and compare it with the input.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

import yaml

from knargo.formats import positions

__all__ = ["dump_all"]

_PLAIN = re.compile(r"[A-Za-z0-9/_.=-][A-Za-z0-9_./@+:=-]*")
_STR = "tag:yaml.org,2002:str"
# Characters YAML does not allow unescaped (or reads as line breaks) in a quoted scalar.
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]"
)
_BLOCK_UNSAFE = re.compile(r"[ \t]\n|[ \t]\Z|\r|\t")
_INDENT = "  "
_RESOLVER = yaml.resolver.Resolver()


def dump_all(documents: Iterable[Any]) -> str:
    """Documents (dicts, lists and scalars), each starting with `---`."""
    parts: list[str] = []
    for document in documents:
        parts.append("---\n")
        _node(document, 0, parts, in_list=False)
    return "".join(parts)


def _node(value: Any, depth: int, out: list[str], *, in_list: bool) -> None:
    """Write a value that starts a new line (a document, or after `key:`)."""
    if isinstance(value, dict) and value:
        _mapping(value, depth, out, first_prefix="")
    elif isinstance(value, list) and value:
        _sequence(value, depth, out)
    else:
        out.append(_scalar(value, depth) + "\n")


def _mapping(value: dict[str, Any], depth: int, out: list[str], first_prefix: str) -> None:
    pad = _INDENT * depth
    for i, (key, item) in enumerate(value.items()):
        out.append((first_prefix if i == 0 else pad) + _key(key) + ":")
        if isinstance(item, dict) and item:
            out.append("\n")
            _mapping(item, depth + 1, out, first_prefix=_INDENT * (depth + 1))
        elif isinstance(item, list) and item:
            out.append("\n")
            _sequence(item, depth, out)
        else:
            out.append(" " + _scalar(item, depth + 1) + "\n")


def _sequence(value: list[Any], depth: int, out: list[str]) -> None:
    """Items at the parent's indentation (`- ` counts as indentation), as PyYAML writes them."""
    pad = _INDENT * depth
    for item in value:
        if isinstance(item, dict) and item:
            _mapping(item, depth + 1, out, first_prefix=pad + "- ")
        elif isinstance(item, list) and item:
            out.append(pad + "-\n")
            _sequence(item, depth + 1, out)
        else:
            out.append(pad + "- " + _scalar(item, depth + 1) + "\n")


def _key(key: object) -> str:
    text = str(key)
    return text if _plain(text) else _quoted(text)


def _scalar(value: Any, depth: int) -> str:
    if isinstance(value, str):
        return _string(value, depth)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _string(str(value), depth)


def _string(text: str, depth: int) -> str:
    if _plain(text):
        return text
    if "\n" in text and _block_safe(text):
        return _literal(text, depth)
    return _quoted(text)


@functools.lru_cache(maxsize=4096)
def _plain(text: str) -> bool:
    """Whether YAML 1.1 (PyYAML, go-yaml) and YAML 1.2 readers both read `text` as this string."""
    if not _PLAIN.fullmatch(text) or text.endswith(":") or text == "-":
        return False
    if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != _STR:  # type: ignore[no-untyped-call]
        return False  # a YAML 1.1 bool, number, timestamp, null, merge or value key
    return isinstance(positions.core_schema(text), str)  # YAML 1.2, as knargo reads it


def _quoted(text: str) -> str:
    """Single quotes when that is enough (only `'` is doubled), else a JSON string."""
    if not _UNPRINTABLE.search(text) and not any(c in text for c in "\n\r\ufeff"):
        return "'" + text.replace("'", "''") + "'"
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _block_safe(text: str) -> bool:
    body = text[:-1] if text.endswith("\n") else text
    return (
        not body.endswith("\n")
        and not text.startswith((" ", "\n"))
        and not _BLOCK_UNSAFE.search(body)
        and not _UNPRINTABLE.search(text)
        and "\ufeff" not in text
        and "\x85" not in text
    )


def _literal(text: str, depth: int) -> str:
    chomp = "" if text.endswith("\n") else "-"
    pad = _INDENT * max(depth, 1)
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    return f"|{chomp}\n" + "\n".join(pad + line if line else "" for line in lines)
