"""Field docstrings as JSON Schema descriptions, read only when a schema is generated.

pydantic's `use_attribute_docstrings` reads and compiles the source of every model when the
model is defined, that is at every start of every process that imports it. The docstrings
are only needed by `knargo schema`, so `DocumentedSchema` reads them there: for each model it
parses the class's source once and gives every field without an explicit description its
docstring (cleaned like pydantic cleans it), so the schema is the same as with the option.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["DocumentedSchema", "field_docstrings"]


def field_docstrings(cls: type[Any]) -> dict[str, str]:
    """`{attribute: docstring}` for the attributes the class body itself annotates."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


class DocumentedSchema(GenerateJsonSchema):
    """pydantic's JSON Schema generator, with field docstrings as descriptions."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        generated = super().model_schema(schema)
        cls = schema["cls"]
        properties = generated.get("properties", {})
        for klass in reversed(cls.__mro__):
            if "__pydantic_fields__" not in vars(klass):
                continue
            for name, doc in field_docstrings(klass).items():
                field = cls.__pydantic_fields__.get(name)
                if field is None or field.description is not None:
                    continue
                key = field.alias if field.alias and self.by_alias else name
                if key in properties:
                    properties[key].setdefault("description", doc)
        return generated
