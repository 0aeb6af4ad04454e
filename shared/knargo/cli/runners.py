"""`knargo runners check|list`: the runner aliases of a configuration file or of the cluster.

`check` prints diagnostics as `knargo lint` does (stdout, text or JSON; exit 1 on errors):
quantity syntax, requests above limits, toleration operators and effects, node selectors and
the `default` alias. `list` prints what each alias gives a job: a table or JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from knargo.cli import (
    EXIT_OK,
    EXIT_PROBLEMS,
    UsageError,
    add_connection_options,
    config_namespace,
    connect,
)

if TYPE_CHECKING:
    from knargo.config.settings import Runner, Toleration
    from knargo.formats.diagnostics import Diagnostic
    from knargo.io.kube import Cluster


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "runners",
        help="check and list runner aliases",
        description="The runner aliases of a configuration file (CONFIG) or, with --cluster, "
        "of the cluster's knargo-config ConfigMap.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="check runner aliases as Kubernetes would",
        description="Check runner aliases: quantity syntax, requests not above limits, "
        "toleration operators and effects, node selectors, a default alias. Diagnostics go "
        "to stdout as knargo lint prints them; exit 1 on errors.",
    )
    listing = actions.add_parser(
        "list",
        help="print what each runner alias gives a job",
        description="A table (or JSON) of the aliases: requests, limits, node selector, "
        "tolerations.",
    )
    for command, run in ((check, run_check), (listing, run_list)):
        command.add_argument("config", nargs="?", metavar="CONFIG", help="a configuration file")
        command.add_argument(
            "--config", dest="config_option", metavar="FILE", help="the same as CONFIG"
        )
        command.add_argument(
            "--cluster", action="store_true", help="read the knargo-config ConfigMap instead"
        )
        command.add_argument("--format", choices=("text", "json"), default="text")
        add_connection_options(command, pipeline=False)
        command.set_defaults(run=run)


def run_check(args: argparse.Namespace) -> int:
    from knargo.cli.output import print_report
    from knargo.config.runnercheck import check_runners
    from knargo.formats.diagnostics import has_errors

    file, text, found = read_source(args)
    found = check_runners(text, file) if text is not None else found
    print_report(found, {file: (text or "").splitlines()}, args.format)
    return EXIT_PROBLEMS if has_errors(found) else EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from knargo.cli.inputs import print_diagnostics
    from knargo.config.runnercheck import check_runners, runners_of
    from knargo.formats.diagnostics import has_errors

    file, text, found = read_source(args)
    found = check_runners(text, file) if text is not None else found
    print_diagnostics(found)
    if text is None or has_errors(found):
        return EXIT_PROBLEMS
    runners = runners_of(text)
    if args.format == "json":
        answer = [
            {"alias": a, **r.model_dump(by_alias=True, exclude_none=True)}
            for a, r in runners.items()
        ]
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return EXIT_OK
    from knargo.cli.secrets import table

    header = ("ALIAS", "REQUESTS", "LIMITS", "NODE SELECTOR", "TOLERATIONS")
    print(table([header, *(row(alias, runner) for alias, runner in runners.items())]))
    return EXIT_OK


def row(alias: str, runner: Runner) -> tuple[str, ...]:
    def pairs(values: dict[str, str]) -> str:
        return ",".join(f"{k}={v}" for k, v in values.items()) or "-"

    tolerations = "; ".join(toleration(t) for t in runner.tolerations) or "-"
    return (
        alias,
        pairs(runner.requests),
        pairs(runner.limits),
        pairs(runner.node_selector),
        tolerations,
    )


def toleration(value: Toleration) -> str:
    """As `kubectl describe` shows one: `key=value:Effect`, `key:Effect op=Exists for 300s`."""
    text = (value.key or "") + (f"={value.value}" if value.operator == "Equal" else "")
    text += f":{value.effect}" if value.effect else ""
    text += " op=Exists" if value.operator == "Exists" else ""
    text += f" for {value.toleration_seconds}s" if value.toleration_seconds is not None else ""
    return text.strip()


def read_source(args: argparse.Namespace) -> tuple[str, str | None, list[Diagnostic]]:
    """(file label, text, problems): CONFIG, or the cluster's knargo-config."""
    from knargo.cli.inputs import read_input

    if args.config is not None and args.config_option is not None:
        raise UsageError("give the configuration file once: CONFIG or --config")
    args.config = args.config if args.config is not None else args.config_option
    if args.cluster == (args.config is not None):
        raise UsageError("give either a CONFIG file or --cluster")
    if args.cluster:
        with cluster_config(args) as (_, _, file, text):
            return file, text, []
    if args.kubeconfig or args.context or args.config_namespace:
        raise UsageError("--kubeconfig, --context and --config-namespace go with --cluster")
    file = str(args.config)
    content, problems = read_input(file)
    return file, content, problems


@contextmanager
def cluster_config(args: argparse.Namespace) -> Iterator[tuple[Cluster, str, str, str]]:
    """The cluster (closed afterwards), the configuration's namespace, a file label for
    diagnostics and the text of knargo-config's config.yaml."""
    from knargo.config import admin

    namespace = config_namespace(args)
    with closing(connect(args)) as cluster:
        config = cluster.read_config_map(namespace, admin.CONFIG_CONFIG_MAP)
        text = ((config or {}).get("data") or {}).get(admin.CONFIG_KEY)
        if not isinstance(text, str):
            raise admin.InvalidInput(
                f'no ConfigMap "{admin.CONFIG_CONFIG_MAP}" with key {admin.CONFIG_KEY} in '
                f'namespace "{namespace}" (see --config-namespace)'
            )
        yield cluster, namespace, f"configmap/{namespace}/knargo-config/config.yaml", text
