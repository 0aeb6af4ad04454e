"""The `knargo` command line: render, lint, schema, secrets, runners, version.

Exit codes (named like actionlint's): 0 done or clean, 1 problems found or invalid input,
2 usage error, 3 internal error. Heavy imports happen inside the subcommands. knargo's own
errors (a refused value, a cluster that says no) are printed as `knargo COMMAND: error: ...`
with exit code 1: their messages never contain a secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from knargo import __version__

if TYPE_CHECKING:
    from knargo.io.kube import Cluster

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
CONFIG_NAMESPACE = "knargo"  # where knative/ deploys knargo-config and knargo-secret-catalog


class UsageError(Exception):
    """Bad flags or arguments: printed as `knargo: error: ...` with exit code 2."""


# Each subcommand's module, in the order of `knargo --help`; only the one named is imported.
COMMANDS = ("render", "lint", "schema", "secrets", "runners", "approve", "run", "dev")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or, given a subcommand's name, one with that subcommand only (start-up
    imports nothing the command does not use)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="knargo", description="GitOps CI/CD on Kubernetes: ci.yaml to Argo Workflows."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if command in (None, name):
            importlib.import_module(f"knargo.cli.{name}").add_parser(commands)
    if command in (None, "version"):
        version = commands.add_parser("version", help="print the version")
        version.set_defaults(run=lambda _args: print(f"knargo {__version__}") or EXIT_OK)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    named = words[0] if words and words[0] in (*COMMANDS, "version") else None
    parser = build_parser(named)
    args = parser.parse_args(words)
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
        from knargo.contract.errors import KnargoError

        if isinstance(exc, KnargoError):
            print(f"knargo {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
        print(
            f"knargo {args.command}: internal error: {type(exc).__name__} "
            "(set KNARGO_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return code


def add_connection_options(parser: argparse.ArgumentParser, *, pipeline: bool = True) -> None:
    """`--kubeconfig`, `--context`, `--config-namespace` and, for commands that touch pipeline
    Secrets, `--namespace`: accepted after the subcommand."""
    group = parser.add_argument_group("cluster connection")
    group.add_argument("--kubeconfig", metavar="FILE", help="default: $KUBECONFIG, ~/.kube/config")
    group.add_argument("--context", help="kubeconfig context (default: the current context)")
    if pipeline:
        group.add_argument(
            "--namespace",
            help="the pipeline namespace, where the Secrets live (default: the configuration's "
            "namespace, else the context's)",
        )
    group.add_argument(
        "--config-namespace",
        metavar="NAMESPACE",
        help="where the knargo-config and knargo-secret-catalog ConfigMaps live "
        f"(default: {CONFIG_NAMESPACE})",
    )


def connect(args: argparse.Namespace) -> Cluster:
    """The cluster the connection options name (close it when done)."""
    from knargo.io.kube import Cluster

    return Cluster.from_kubeconfig(args.kubeconfig, args.context, os.environ)


def config_namespace(args: argparse.Namespace) -> str:
    return str(args.config_namespace or CONFIG_NAMESPACE)
