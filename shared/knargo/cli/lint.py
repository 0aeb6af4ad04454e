"""`knargo lint`: every problem in one or more ci.yaml files, on stdout.

Text: `file:line:col: severity: message [rule]`, then the source line and a caret under the
column. JSON: a list of `{file, line, col, severity, rule, message}`. Exit 1 when any error
was found; warnings never change the exit code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS
from knargo.cli.inputs import load_catalog, load_settings, parse_repo

if TYPE_CHECKING:
    from knargo.diagnostics import Diagnostic


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "lint",
        help="check ci.yaml files",
        description="Check ci.yaml files; unknown secrets are checked when both --catalog "
        "and --repo are given.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--repo", metavar="[HOST/]OWNER/NAME")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--catalog", metavar="FILE")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from knargo.diagnostics import Diagnostic, Severity, has_errors
    from knargo.lint import check

    settings = load_settings(args.config)
    catalog, catalog_ok = load_catalog(args.catalog)
    if settings is None or not catalog_ok:
        return EXIT_PROBLEMS
    scope = parse_repo(args.repo).scope if args.repo else None
    found: list[Diagnostic] = []
    sources: dict[str, list[str]] = {}
    for file in args.files:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            found.append(Diagnostic(file, 1, 1, Severity.ERROR, f"cannot read: {reason}", "io"))
            continue
        sources[file] = text.splitlines()
        found += check(text, file, settings=settings, catalog=catalog, scope=scope).diagnostics
    if args.format == "json":
        print(json.dumps([d.to_dict() for d in found], indent=2, ensure_ascii=False))
    else:
        for diagnostic in found:
            print(format_text(diagnostic, sources.get(diagnostic.file, [])))
    return EXIT_PROBLEMS if has_errors(found) else EXIT_OK


def format_text(diagnostic: Diagnostic, lines: list[str]) -> str:
    """The diagnostic, the source line it points at, and a caret under its column."""
    out = str(diagnostic)
    if 1 <= diagnostic.line <= len(lines):
        source = lines[diagnostic.line - 1].expandtabs(1)
        caret = " " * min(diagnostic.col - 1, len(source)) + "^"
        out += f"\n{source}\n{caret}"
    return out
