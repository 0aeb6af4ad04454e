"""`knargo lint`: every problem in one or more ci.yaml files, on stdout.

Text: `file:line:col: severity: message [rule]`, then the source line and a caret under the
column. JSON: a list of `{file, line, col, severity, rule, message}`. Exit 1 when any error
was found; warnings never change the exit code. `--cluster` checks against what the cluster
runs: the runner aliases of its knargo-config, the secret names of its catalog (with `--repo`),
and warns about jobs whose secrets pull requests from forks do not get.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS, UsageError, add_connection_options
from knargo.cli.inputs import DEFAULT_REPO, load_catalog, load_settings, parse_repo, read_input
from knargo.cli.output import print_report

if TYPE_CHECKING:
    from knargo.config.catalog import FileCatalog
    from knargo.config.settings import Settings
    from knargo.formats.diagnostics import Diagnostic
    from knargo.language.dialect import CiConfig


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "lint",
        help="check ci.yaml files",
        description="Check ci.yaml files; unknown secrets are checked when both --catalog "
        "(or --cluster) and --repo are given.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="ci.yaml files; - reads stdin")
    parser.add_argument("--repo", metavar="[HOST/]OWNER/NAME")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--catalog", metavar="FILE")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="use the cluster's configuration and secret catalog instead of --config/--catalog",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_connection_options(parser, pipeline=False)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from knargo.formats.diagnostics import has_errors, normalize
    from knargo.language.forkcheck import fork_warnings
    from knargo.language.lint import check

    settings, catalog, ok = from_cluster(args) if args.cluster else from_files(args)
    if settings is None or not ok:
        return EXIT_PROBLEMS
    scope = parse_repo(args.repo).scope if args.repo else None
    found: list[Diagnostic] = []
    sources: dict[str, list[str]] = {}
    for file in args.files:
        text, problems = read_input(file)
        if text is None:
            found += problems
            continue
        sources[file] = text.splitlines()
        checked = check(text, file, settings=settings, catalog=catalog, scope=scope)
        warnings = fork_warnings(text, file, settings) if args.cluster else []
        if checked.config is not None:
            warnings += size_problems(checked.config, settings, args.repo, text, file)
        found += normalize(checked.diagnostics + warnings) if warnings else checked.diagnostics
    print_report(found, sources, args.format)
    return EXIT_PROBLEMS if has_errors(found) else EXIT_OK


def size_problems(
    config: CiConfig, settings: Settings, repo: str | None, text: str, file: str
) -> list[Diagnostic]:
    """What render and generate would refuse as too large for Kubernetes: the file is planned
    for a push to the default branch (with its schedules), a pull request and a tag, with the
    same function that refuses it there."""
    import argparse

    from knargo.cli.render import event_from_flags
    from knargo.formats.diagnostics import Diagnostic, Severity
    from knargo.translation.plan import plan

    for kind in ("push", "pull_request", "tag"):
        flags = argparse.Namespace(
            event=kind, ref=None, sha=None, default_branch="main", changed_paths=None, fork=False
        )
        try:
            event = event_from_flags(flags, parse_repo(repo or DEFAULT_REPO), settings, text)
        except UsageError:
            return []  # no forge configured for the host: render would refuse the flags
        rejected = plan(config, event, settings).rejected
        if rejected:
            message = f"{rejected} (a {kind.replace('_', ' ')} event)"
            return [Diagnostic(file, 1, 1, Severity.ERROR, message, "size")]
    return []


def from_files(args: argparse.Namespace) -> tuple[Settings | None, FileCatalog | None, bool]:
    if args.kubeconfig or args.context or args.config_namespace:
        raise UsageError("--kubeconfig, --context and --config-namespace go with --cluster")
    settings = load_settings(args.config)
    catalog, catalog_ok = load_catalog(args.catalog)
    return settings, catalog, catalog_ok


def from_cluster(args: argparse.Namespace) -> tuple[Settings | None, FileCatalog | None, bool]:
    """The configuration and (with --repo) the catalog the cluster runs with; problems with
    them on stderr."""
    from knargo.cli.inputs import print_diagnostics
    from knargo.cli.runners import cluster_config
    from knargo.cli.secrets import read_scopes
    from knargo.config.catalog import FileCatalog
    from knargo.config.settings import parse_settings

    if args.config or args.catalog:
        raise UsageError(
            "--cluster reads the configuration and the catalog from the cluster: "
            "drop --config and --catalog"
        )
    with cluster_config(args) as (cluster, namespace, file, text):
        scopes, catalog_problems = read_scopes(cluster, namespace) if args.repo else ({}, [])
    settings, problems = parse_settings(text, file)
    print_diagnostics(problems + catalog_problems)
    catalog = FileCatalog(scopes) if scopes is not None and args.repo else None
    return settings, catalog, scopes is not None
