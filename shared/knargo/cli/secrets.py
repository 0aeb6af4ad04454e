"""`knargo secrets set|list|delete`: pipeline secrets, their values from stdin only.

A value is read from stdin (a hidden prompt on a terminal) or `--from-file`, never from an
argument, and goes nowhere but into the Secret: not to stdout, stderr, logs or exceptions.
`set` writes the Secret first and the catalog second, `delete` the other way round, so the
catalog never names a Secret that does not exist. Both writes are conditional on the object's
`resourceVersion` and retried when another writer came first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS, add_connection_options, config_namespace, connect

if TYPE_CHECKING:
    from datetime import datetime

    from knargo.config.admin import Scopes
    from knargo.formats.diagnostics import Diagnostic
    from knargo.io.kube import Cluster

ATTEMPTS = 20
SELECTOR = "app.kubernetes.io/managed-by=knargo"
CATALOG_NOTE = (
    "note: the catalog changed: generate uses it as soon as kubelet updates its mounted copy "
    "(within about a minute)"
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "secrets",
        help="set, list and delete pipeline secrets",
        description="Pipeline secrets of a repository (HOST/OWNER/REPOSITORY) or an "
        "organisation (HOST/OWNER): a Kubernetes Secret each, and the catalog of their names.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set",
        help="create or update a secret; the value comes from stdin",
        description="Create or update a secret. The value is read from stdin (a hidden prompt "
        "on a terminal) or --from-file, never from an argument; one trailing newline is "
        "dropped, and an empty value is refused.",
    )
    listing = actions.add_parser(
        "list",
        help="list secrets (never values)",
        description="Scope, name, Secret and update time of the secrets at or below SCOPE "
        "(default: all); never values.",
    )
    listing.add_argument("scope", nargs="?", metavar="SCOPE", help="HOST/OWNER[/REPOSITORY]")
    delete = actions.add_parser(
        "delete",
        help="delete a secret and its catalog entry",
        description="Delete a secret: its catalog entry first, then its Secret.",
    )
    for command in (set_, delete):
        command.add_argument("scope", metavar="SCOPE", help="HOST/OWNER[/REPOSITORY]")
        command.add_argument("name", metavar="NAME", help="as ci.yaml names it, e.g. NPM_TOKEN")
    set_.add_argument("stray", nargs="*", help=argparse.SUPPRESS)  # a value, by mistake
    set_.add_argument("--from-file", metavar="PATH", help="read the value from this file")
    for command, run in ((set_, run_set), (listing, run_list), (delete, run_delete)):
        command.add_argument("--format", choices=("text", "json"), default="text")
        add_connection_options(command)
        command.set_defaults(run=run)


class Target:
    """Where the commands write: the cluster, the pipeline Secrets' and the catalog's
    namespaces."""

    def __init__(self, cluster: Cluster, namespace: str, config_namespace: str) -> None:
        self.cluster, self.namespace, self.config_namespace = cluster, namespace, config_namespace


@contextmanager
def target(args: argparse.Namespace) -> Iterator[Target]:
    """The cluster, closed afterwards. The pipeline namespace: `--namespace`, else the one the
    cluster's knargo-config names, else the kubeconfig context's, else `ci`."""
    from knargo.config import admin

    with closing(connect(args)) as cluster:
        settings_namespace = config_namespace(args)
        namespace = args.namespace
        if not namespace:
            config = cluster.read_config_map(settings_namespace, admin.CONFIG_CONFIG_MAP)
            text = ((config or {}).get("data") or {}).get(admin.CONFIG_KEY)
            namespace = (admin.configured_namespace(text) if text else None) or cluster.namespace
        yield Target(cluster, namespace or "ci", settings_namespace)


def run_set(args: argparse.Namespace) -> int:
    from knargo.config import admin
    from knargo.contract.errors import KnargoError
    from knargo.formats.naming import secret_object_name

    if args.stray:
        raise KnargoError(
            "a value is read from stdin or --from-file, never from an argument; the extra "
            "argument (not shown) may now be in your shell's history"
        )
    scope, name = admin.parse_scope(args.scope), admin.secret_name(args.name)
    with target(args) as where:
        _, problems = read_scopes(where.cluster, where.config_namespace)
        if problems:  # refuse before a Secret exists that the catalog could not name
            raise invalid_catalog(problems)
        value = admin.secret_value(read_value(args.from_file, scope, name))
        action = store_secret(where, scope, name, value)
        del value
        changed = update_catalog(where, lambda scopes: admin.with_secret(scopes, scope, name))
    secret = secret_object_name(scope, name)
    report(args, action, scope, name, f"{where.namespace}/{secret}", changed)
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    from knargo.config import admin
    from knargo.contract.errors import KnargoError
    from knargo.formats.naming import secret_object_name

    scope, name = admin.parse_scope(args.scope), admin.secret_name(args.name)
    secret = secret_object_name(scope, name)
    with target(args) as where:
        live = where.cluster.read_secret_metadata(where.namespace, secret)
        if live is not None and (why := admin.foreign_secret(live, scope, name)):
            raise admin.InvalidInput(why)
        changed = update_catalog(where, lambda scopes: admin.without_secret(scopes, scope, name))
        gone = live is not None and where.cluster.delete_secret(
            where.namespace, secret, live["uid"]
        )
    if not changed and not gone:
        raise KnargoError(f'no secret {name} in {scope} (namespace "{where.namespace}")')
    report(args, "deleted", scope, name, f"{where.namespace}/{secret}", changed)
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from knargo.config import admin

    under = admin.parse_scope(args.scope) if args.scope else None
    with target(args) as where:
        scopes, problems = read_scopes(where.cluster, where.config_namespace)
        secrets = where.cluster.list_secret_metadata(where.namespace, SELECTOR)
    for problem in problems:
        print(problem, file=sys.stderr)
    rows = admin.secret_rows(scopes or {}, secrets, under)
    if args.format == "json":
        print(json.dumps([row.to_dict() for row in rows], indent=2, ensure_ascii=False))
    elif rows:
        header = ("SCOPE", "NAME", "SECRET", "UPDATED")
        print(table([header, *((r.scope, r.name, r.secret, r.updated or "-") for r in rows)]))
    else:
        below = f" at or below {under}" if under else ""
        print(f'no pipeline secrets{below} in namespace "{where.namespace}"', file=sys.stderr)
    for row in rows:
        if row.state == "missing-secret":
            print(
                f"warning: {row.scope} {row.name}: in the catalog, but its Secret "
                f"{row.secret} is missing (set it again)",
                file=sys.stderr,
            )
        elif row.state == "not-in-catalog":
            print(
                f"warning: {row.scope} {row.name}: Secret {row.secret} is not in the "
                "catalog, so no job gets it (set it again or delete it)",
                file=sys.stderr,
            )
    return EXIT_PROBLEMS if scopes is None else EXIT_OK


def read_value(path: str | None, scope: str, name: str) -> bytes:
    """The raw value: from `path`, a hidden prompt on a terminal, else stdin to its end."""
    from knargo.config.admin import InvalidInput

    if path is not None:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Value of {name} for {scope} (hidden): ").encode()
    return sys.stdin.buffer.read()


def store_secret(where: Target, scope: str, name: str, value: bytes) -> str:
    """Create or update the Secret; "created" or "updated"."""
    from knargo.config import admin
    from knargo.contract.errors import TemporaryError
    from knargo.formats.naming import secret_object_name

    secret = secret_object_name(scope, name)
    for attempt in range(ATTEMPTS):
        live = where.cluster.read_secret_metadata(where.namespace, secret)
        if live is not None and (why := admin.foreign_secret(live, scope, name)):
            raise admin.InvalidInput(why)
        manifest = admin.secret_manifest(where.namespace, scope, name, value, now(), live)
        if live is None and where.cluster.create_secret(manifest):
            return "created"
        if live is not None and where.cluster.replace_secret(manifest):
            return "updated"
        pause(attempt)
    raise TemporaryError(f'Secret "{secret}" kept changing while knargo wrote it; try again')


def update_catalog(where: Target, change: Callable[[Scopes], Scopes]) -> bool:
    """Apply `change` to the catalog ConfigMap at its resourceVersion, retrying when another
    writer came first; False when there was nothing to change."""
    from knargo.config import admin
    from knargo.contract.errors import TemporaryError

    cluster, namespace = where.cluster, where.config_namespace
    for attempt in range(ATTEMPTS):
        live = cluster.read_config_map(namespace, admin.CATALOG_CONFIG_MAP)
        scopes, problems = admin.read_catalog(live, catalog_label(namespace))
        if scopes is None:
            raise invalid_catalog(problems)
        changed = change(scopes)
        if changed == scopes:
            return False
        manifest = admin.catalog_config_map(namespace, changed, live)
        write = cluster.create_config_map if live is None else cluster.replace_config_map
        if write(manifest):
            return True
        pause(attempt)
    raise TemporaryError("the secret catalog kept changing while knargo wrote it; try again")


def read_scopes(cluster: Cluster, namespace: str) -> tuple[Scopes | None, list[Diagnostic]]:
    """The catalog's scopes as the cluster has them (none yet: empty)."""
    from knargo.config import admin

    live = cluster.read_config_map(namespace, admin.CATALOG_CONFIG_MAP)
    return admin.read_catalog(live, catalog_label(namespace))


def invalid_catalog(problems: list[Diagnostic]) -> Exception:
    from knargo.config.admin import InvalidInput

    details = "".join(f"\n{p}" for p in problems)
    return InvalidInput(f"the secret catalog is invalid; fix it first:{details}")


def catalog_label(namespace: str) -> str:
    """How diagnostics name the catalog ConfigMap's file."""
    return f"configmap/{namespace}/knargo-secret-catalog/catalog.yaml"


def report(
    args: argparse.Namespace, action: str, scope: str, name: str, secret: str, changed: bool
) -> None:
    if args.format == "json":
        answer = {"action": action, "scope": scope, "name": name, "secret": secret}
        print(json.dumps(answer | {"catalog_changed": changed}, indent=2))
    else:
        print(f"{action} {scope} {name} (Secret {secret})")
    if changed:
        print(CATALOG_NOTE, file=sys.stderr)


def table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def pause(attempt: int) -> None:
    """A jittered, growing wait before the next attempt (at most a second)."""
    import random
    import time

    time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
