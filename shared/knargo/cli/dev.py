"""`knargo dev`: the webhook endpoint with generate and report in one process, on loopback.

A forge (through a tunnel) or `curl` sends real deliveries to it; they are checked with the
forges' real signature or token checks against a dev secret printed at start-up (and any
`<forge>.webhook-secret` in `--credentials`), and every pipeline runs on the local executor
against the commits of one local repository (`-C/--directory`). Statuses are shown and written to
`.knargo/statuses.jsonl`, and posted to the forge too when `--credentials` holds its token.
Ctrl-C stops it (exit 0).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS
from knargo.cli.run import ENGINES, add_directory_option, local_settings

if TYPE_CHECKING:
    from knargo.local.chain import Chain
    from knargo.local.server import DevServer
    from knargo.local.view import View

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "dev",
        help="serve the webhook, generate and report locally, running pipelines here",
        description="Serve the real webhook endpoint on 127.0.0.1 (signatures checked "
        "against a dev secret printed at start-up, or KNARGO_DEV_SECRET) with generate and "
        "report in the same process; pipelines run on this machine against the commits of "
        "--directory. Ctrl-C stops it. See docs/local.md.",
    )
    parser.add_argument("--port", type=int, default=8080, help="default: 8080 (0: any free)")
    add_directory_option(parser)
    parser.add_argument("--config", metavar="FILE", help="knargo's configuration (forges, …)")
    parser.add_argument(
        "--credentials",
        metavar="DIR",
        help="credential files: <forge>.webhook-secret, <forge>.token (statuses go to the forge)",
    )
    parser.add_argument("--engine", choices=ENGINES, default="local")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from knargo.contract.errors import StartupError
    from knargo.local.engine import EngineUnavailable
    from knargo.local.git import GitError
    from knargo.local.secrets import SecretsFileError

    secret = os.environ.get("KNARGO_DEV_SECRET") or secrets.token_hex(20)
    try:
        opened = _open(args, secret)
    except (EngineUnavailable, GitError, StartupError, ImportError, SecretsFileError) as exc:
        print(f"knargo dev: error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:
        print(f"knargo dev: error: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if opened is None:
        return EXIT_PROBLEMS
    _serve(*opened)
    return EXIT_OK


def _open(args: argparse.Namespace, secret: str) -> tuple[Chain, DevServer, View] | None:
    """The chain for the repository, its HTTP endpoint and the view, with the banner said."""
    from knargo.local.chain import Chain, Setup
    from knargo.local.engine import find_engine
    from knargo.local.git import git
    from knargo.local.server import DevServer, banner, dev_credentials, forge_statuses
    from knargo.local.view import View

    settings = local_settings(args.config)
    if settings is None:
        return None
    engine = find_engine(args.engine)
    repository = Path(git(Path(args.directory), "rev-parse", "--show-toplevel")).resolve()
    credentials = dev_credentials(settings, secret.encode(), args.credentials)
    state = repository / ".knargo"
    view = View(sys.stdout, state / "runs", tty=False)
    setup = Setup(
        repository,
        state,
        settings,
        engine=engine,
        real_forge=forge_statuses(settings, credentials),
        real_forges=frozenset(credentials.tokens) | frozenset(credentials.app_keys),
    )
    chain = Chain(setup, on_status=view.status)
    server = DevServer(chain, settings, credentials, port=args.port, say=view.say)
    chain.observers.append(view.event)
    for line in banner(server.url, secret, repository, state, sorted(credentials.tokens)):
        view.say(line)
    return chain, server, view


def _serve(chain: Chain, server: DevServer, view: View) -> None:
    """Serve until Ctrl-C, then end the running jobs and list the dead letters."""
    from knargo.local.view import dead_letter_lines

    chain.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        view.say("knargo dev: stopping")
    finally:
        server.close()
        chain.stop()
        view.close()
        for line in dead_letter_lines(chain.broker.dead_letters):
            print(line, file=sys.stderr)
