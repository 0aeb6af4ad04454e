"""Turn pydantic validation errors into positioned diagnostics.

Models validate plain data composed by `knargo.formats.positions`; each pydantic error carries a
location (a path of keys and indices), which the document maps back to a line and column.
Checks of our own raise `user_error(rule, message, offset)` inside validators; the rule name
and the offset into the scalar travel in the error context.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.positions import Document, Mark, Path

__all__ = ["Describe", "diagnostics_from", "quote_list", "suggest", "user_error"]

Describe = Callable[[Path], str]
Hint = Callable[[Path, str], str | None]  # what to write instead of an unknown key
_KEY_ERRORS = {"extra_forbidden", "duplicate_key"}
_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "literal_error": None,
}


def user_error(rule: str, message: str, offset: int | None = None) -> PydanticCustomError:
    """An error for a validator to raise; `offset` points into the offending scalar."""
    return PydanticCustomError(
        "knargo", "{message}", {"rule": rule, "message": message, "offset": offset}
    )


def suggest(value: str, choices: typing.Iterable[str]) -> str:
    """` (did you mean "x"?)` when a choice is close to `value`, else an empty string."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def quote_list(values: typing.Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def diagnostics_from(
    error: ValidationError,
    doc: Document,
    file: str,
    model: type[BaseModel],
    describe: Describe,
    hint: Hint | None = None,
) -> list[Diagnostic]:
    return [
        _one(e, doc, file, model, describe, hint or _no_hint)
        for e in error.errors(include_url=False)
    ]


def _no_hint(_path: Path, _key: str) -> None:
    return None


def _one(
    err: Any, doc: Document, file: str, model: type[BaseModel], describe: Describe, hint: Hint
) -> Diagnostic:
    loc: Path = tuple(p for p in err["loc"] if p != "[key]")
    on_key = err["loc"][-1:] == ("[key]",) or err["type"] in _KEY_ERRORS
    ctx = err.get("ctx") or {}
    in_list = err["type"] == "extra_forbidden" and _written_as_list(doc, loc[:-1])
    rule, message = "schema", _message(err, loc, model, describe, hint, in_list)
    if err["type"] == "knargo":
        rule, message = ctx["rule"], ctx["message"]
    if in_list:  # a list the model reads as a mapping (`on: [push, tag]`): point at the item
        on_key = False
    mark = doc.key_mark(loc) if on_key else _value_mark(doc, loc, err["type"], ctx.get("offset"))
    return Diagnostic(file, mark.line, mark.col, Severity.ERROR, message, rule)


def _value_mark(doc: Document, loc: Path, kind: str, offset: int | None) -> Mark:
    if kind == "missing":
        return doc.key_mark(loc[:-1])
    if offset is None:
        return doc.value_mark(loc)
    return doc.mark_at(loc, offset)


def _written_as_list(doc: Document, path: Path) -> bool:
    node: Any = doc.data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return isinstance(node, list)


def _message(
    err: Any, loc: Path, model: type[BaseModel], describe: Describe, hint: Hint, in_list: bool
) -> str:
    kind = err["type"]
    name = str(loc[-1]) if loc else ""
    where = describe(loc[:-1])
    if len(loc) >= 2 and isinstance(loc[-1], int):  # a list item: `needs[0]`
        name, where = f"{loc[-2]}[{loc[-1]}]", describe(loc[:-2])
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        what = "list item" if in_list else "key"
        advice = hint(loc[:-1], name)
        return f'unknown {what} "{name}"{where} (expected one of: {quote_list(allowed)})' + (
            f"; {advice}" if advice else suggest(name, allowed)
        )
    if kind == "missing":
        return f'missing required key "{name}"{where}'
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace("'", "")
        return f'invalid value {_show(err["input"])} for "{name}"{where} (expected {expected})'
    if kind == "string_too_short":
        return f'"{name}"{where} must not be empty'
    if kind in ("less_than_equal", "greater_than_equal"):
        bound = "at most" if kind == "less_than_equal" else "at least"
        limit = err["ctx"]["le" if kind == "less_than_equal" else "ge"]
        return f'"{name}"{where} must be {bound} {limit}, not {_show(err["input"])}'
    if kind in _TYPE_NAMES:
        return f'"{name}"{where} must be {_TYPE_NAMES[kind]}, not {_show(err["input"])}'
    return f'"{name}"{where}: {err["msg"]}'


def _show(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value} (a number)"


def _allowed_keys(model: type[BaseModel], path: Path) -> list[str]:
    current: Any = model
    for part in path:
        current = _step(current, part)
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, f in annotation.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    args = typing.get_args(annotation)
    return args[-1] if args else None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation
