"""`knargo render`: every manifest an event produces, on stdout, and nothing else."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS, UsageError
from knargo.cli.inputs import (
    DEFAULT_REPO,
    Repo,
    check_path,
    check_ref,
    check_sha,
    load_catalog,
    load_settings,
    parse_repo,
    print_diagnostics,
    read_input,
)

if TYPE_CHECKING:
    from knargo.config.settings import Settings
    from knargo.contract.events import GitEvent

EVENTS = ("push", "tag", "pull_request", "schedule")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "render",
        help="print the Argo manifests an event produces",
        description="Print every manifest the event produces (multi-document YAML or a JSON "
        "list) on stdout; diagnostics and notes go to stderr.",
    )
    parser.add_argument("ci_yaml", metavar="CI_YAML")
    parser.add_argument("--event", choices=EVENTS, default="push")
    parser.add_argument("--repo", default=DEFAULT_REPO, metavar="[HOST/]OWNER/NAME")
    parser.add_argument("--sha", help="commit (default: derived from the file's content)")
    parser.add_argument(
        "--ref",
        help="default: refs/heads/<default branch>, refs/tags/v1.0.0 "
        "for tags, refs/heads/feature for pull requests",
    )
    parser.add_argument("--default-branch", default="main", metavar="BRANCH")
    parser.add_argument("--changed-path", action="append", metavar="PATH", dest="changed_paths")
    parser.add_argument("--fork", action="store_true", help="a pull request from a fork")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--catalog", metavar="FILE")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="instead of the manifests, each job's template, image, env and decoded script",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from knargo.language.lint import check
    from knargo.translation.plan import plan

    if args.fork and args.event != "pull_request":
        raise UsageError("--fork applies to --event pull_request only")
    text = _read(args.ci_yaml)
    settings = load_settings(args.config)
    catalog, catalog_ok = load_catalog(args.catalog)
    if settings is None or not catalog_ok or text is None:
        return EXIT_PROBLEMS
    repo = parse_repo(args.repo)
    checked = check(
        text,
        args.ci_yaml,
        settings=settings,
        catalog=catalog,
        scope=repo.scope if catalog else None,
    )
    print_diagnostics(checked.diagnostics)
    if checked.config is None:
        return EXIT_PROBLEMS
    event = event_from_flags(args, repo, settings, text)
    result = plan(
        checked.config,
        event,
        settings,
        catalog,
        changed_paths=args.changed_paths,
        trigger="schedule" if args.event == "schedule" else "event",
    )
    for note in result.notes:
        print(f"{args.ci_yaml}: note: {note}", file=sys.stderr)
    if result.rejected:
        print(f"{args.ci_yaml}:1:1: error: {result.rejected} [size]", file=sys.stderr)
        return EXIT_PROBLEMS
    if not result.manifests:
        print(f"{args.ci_yaml}: nothing to run: {result.skipped}", file=sys.stderr)
        if args.output == "json":
            print("[]")  # a JSON consumer reads an empty list, not nothing
        return EXIT_OK
    if result.workflow is None and result.skipped:
        print(f"{args.ci_yaml}: no Workflow: {result.skipped}", file=sys.stderr)
    if args.explain:
        from knargo.cli.explain import explain

        sys.stdout.write(explain(result.manifests))
        return EXIT_OK
    sys.stdout.write(dump(result.manifests, args.output))
    return EXIT_OK


def _read(path: str) -> str | None:
    text, problems = read_input(path)
    print_diagnostics(problems)
    return text


def event_from_flags(
    args: argparse.Namespace, repo: Repo, settings: Settings, text: str
) -> GitEvent:
    """The GitEvent the flags describe, with a deterministic delivery id."""
    from knargo.contract.events import EventKind, GitEvent

    forge = settings.forge_for_host(repo.host)
    if forge is None:
        hosts = ", ".join(sorted(f.host for f in settings.forges))
        raise UsageError(f'no forge configured for host "{repo.host}" (configured: {hosts})')
    kind = {"tag": EventKind.TAG, "pull_request": EventKind.PULL_REQUEST}.get(
        args.event, EventKind.PUSH
    )
    default_ref = {
        EventKind.TAG: "refs/tags/v1.0.0",
        EventKind.PULL_REQUEST: "refs/heads/feature",
    }.get(kind, f"refs/heads/{args.default_branch}")
    ref = args.ref or default_ref
    check_ref("--default-branch", args.default_branch, "refs/heads/")
    check_ref("--ref", ref)
    for path in args.changed_paths or ():
        check_path(path)
    if kind is EventKind.TAG and not ref.startswith("refs/tags/"):
        raise UsageError(f'--ref "{ref}": a tag ref starts with refs/tags/')
    if not ref.startswith("refs/"):
        raise UsageError(f'--ref "{ref}": expected a full ref such as refs/heads/{ref}')
    url = f"{forge.web_url.rstrip('/')}/{repo.repository}"
    pull = kind is EventKind.PULL_REQUEST
    owner = repo.repository.split("/", 1)[0]
    return GitEvent(
        forge_kind=forge.kind,
        forge_name=forge.name,
        repository=repo.repository,
        repository_url=url,
        clone_url=f"{url}.git",
        default_branch=args.default_branch,
        kind=kind,
        ref=ref,
        sha=check_sha(args.sha) if args.sha else hashlib.sha1(text.encode()).hexdigest(),
        changed_paths=tuple(args.changed_paths or ()),
        changed_paths_complete=args.changed_paths is not None,
        pr_number=1 if pull else None,
        base_ref=f"refs/heads/{args.default_branch}" if pull else None,
        head_repository=(
            repo.repository.replace(owner, "contributor", 1) if args.fork else repo.repository
        )
        if pull
        else None,
        fork=bool(args.fork),
        sender="knargo-render",
        delivery_id="render",
    )


def dump(manifests: Sequence[Mapping[str, Any]], output: str) -> str:
    if output == "json":
        return json.dumps(manifests, indent=2, ensure_ascii=False) + "\n"
    from knargo.formats.yamltext import dump_all

    return dump_all(manifests)
