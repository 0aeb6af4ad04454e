"""`knargo schema`: the JSON Schema of ci.yaml, generated from the models."""

from __future__ import annotations

import argparse
import json
from typing import Any

from knargo.cli import EXIT_OK

SCHEMA_ID = "https://knargo.dev/schemas/ci.schema.json"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("schema", help="print the JSON Schema of ci.yaml")
    parser.set_defaults(run=run)


def ci_schema() -> dict[str, Any]:
    from knargo.language.dialect import CiConfig
    from knargo.language.fielddocs import DocumentedSchema

    generated = CiConfig.model_json_schema(
        by_alias=True, mode="validation", schema_generator=DocumentedSchema
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
    }


def run(_args: argparse.Namespace) -> int:
    print(json.dumps(ci_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK
