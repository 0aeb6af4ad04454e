"""The `knargo` command line: render, lint, schema, version.

Exit codes (named like actionlint's): 0 done or clean, 1 problems found or invalid input,
2 usage error, 3 internal error. Heavy imports happen inside the subcommands.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from knargo import __version__

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad flags or arguments: printed as `knargo: error: ...` with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from knargo.cli import lint, render, schema

    parser = argparse.ArgumentParser(
        prog="knargo", description="GitOps CI/CD on Kubernetes: ci.yaml to Argo Workflows."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    render.add_parser(commands)
    lint.add_parser(commands)
    schema.add_parser(commands)
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(run=lambda _args: print(f"knargo {__version__}") or EXIT_OK)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"knargo {args.command}: error: {exc}\n")
    except BrokenPipeError:
        sys.stderr.close()  # e.g. `knargo render | head`
        return EXIT_OK
    except Exception as exc:  # the edge: no stack trace for users, a named exit code
        if os.environ.get("KNARGO_DEBUG"):
            raise
        print(
            f"knargo {args.command}: internal error: {type(exc).__name__} "
            "(set KNARGO_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return code
