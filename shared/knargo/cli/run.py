"""`knargo run`: the pipeline for HEAD of a local repository, run on this machine.

HEAD is described as a GitHub push (or pull request) delivery, signed and handed to the real
`knargo.functions.webhook.receive`; the event then goes through the local chain (generate, the local
cluster and executor, report) exactly as `knargo dev` runs it. The exit code says whether the
pipeline passed: 0 passed (or nothing to run), 1 failed or rejected, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS

if TYPE_CHECKING:
    from knargo.config.settings import Settings
    from knargo.contract.events import GitEvent
    from knargo.local.chain import Chain, Setup

__all__ = ["ENGINES", "add_parser", "local_settings", "run"]

ENGINES = ("local", "docker", "podman")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run the pipeline for HEAD on this machine",
        description="Run the pipeline of HEAD of the current repository on this machine, "
        "through the webhook's normalisation, generate, a local executor and report, with a "
        "live view of the jobs. Exits 0 when the pipeline passed (or has nothing to run), 1 "
        "when it failed or was rejected. See docs/local.md.",
    )
    parser.add_argument(
        "ci_yaml",
        nargs="?",
        metavar="CI_YAML",
        help="run this pipeline file instead of the committed one (the code is still HEAD's)",
    )
    parser.add_argument("--event", choices=("push", "pull_request"), default="push")
    parser.add_argument("--job", metavar="ID", help="run only this job and the jobs it needs")
    parser.add_argument("-C", "--repo", default=".", metavar="PATH", help="default: .")
    parser.add_argument("--config", metavar="FILE", help="knargo's configuration (runners, …)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="run each job's script as a local process (default) or in its image",
    )
    parser.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    parser.set_defaults(run=run)


def local_settings(path: str | None) -> Settings | None:
    """The configuration (embedded defaults without one) with the `local` forge added."""
    from knargo.cli.inputs import load_settings
    from knargo.local.forge import with_local_forge

    settings = load_settings(path)
    return None if settings is None else with_local_forge(settings)


def run(args: argparse.Namespace) -> int:
    from knargo.local.engine import EngineUnavailable
    from knargo.local.git import GitError

    settings = local_settings(args.config)
    if settings is None:
        return EXIT_PROBLEMS
    try:
        prepared = _prepare(args, settings)
    except (EngineUnavailable, GitError, OSError) as exc:
        print(f"knargo run: error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if prepared is None:
        return EXIT_PROBLEMS
    return _run(args, *prepared)


def _prepare(args: argparse.Namespace, settings: Settings) -> tuple[GitEvent, Setup] | None:
    """HEAD as the webhook normalises it, and what the chain runs it with."""
    from knargo.config.credentials import Credentials, Secret
    from knargo.forges import Headers
    from knargo.functions import webhook
    from knargo.local import payloads
    from knargo.local.chain import Setup
    from knargo.local.engine import find_engine
    from knargo.local.forge import LOCAL_FORGE

    engine = find_engine(args.engine)
    repository = payloads.describe(Path(args.repo), LOCAL_FORGE.web_url)
    overrides: dict[str, bytes] = {}
    if args.ci_yaml:
        overrides[args.ci_yaml] = Path(args.ci_yaml).read_bytes()
        settings = settings.model_copy(update={"ci_file": args.ci_yaml})
    commit = payloads.head(repository)
    make = payloads.pull_request if args.event == "pull_request" else payloads.push
    secret = os.urandom(32)
    headers, body = payloads.delivery(
        args.event, make(repository, commit), secret, f"local-{uuid.uuid4()}"
    )
    outcome = webhook.receive(
        webhook.Request("POST", Headers(headers), body),
        settings,
        Credentials({LOCAL_FORGE.name: (Secret(secret),)}),
    )
    if isinstance(outcome, webhook.Answer):
        print(f"knargo run: nothing to run: {outcome.reason}", file=sys.stderr)
        return None
    state = repository.path / ".knargo"
    setup = Setup(
        repository.path, state, settings, engine=engine, overrides=overrides, job=args.job
    )
    return outcome.event, setup


def _run(args: argparse.Namespace, event: GitEvent, setup: Setup) -> int:
    from knargo.local.chain import Chain
    from knargo.local.secrets import SecretsFileError
    from knargo.local.view import View, dead_letter_lines

    view = View(sys.stdout, setup.state / "runs", tty=sys.stdout.isatty() and not args.plain)
    try:
        chain = Chain(setup, on_status=view.status)
    except SecretsFileError as exc:
        print(f"knargo run: error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    chain.observers.append(view.event)
    view.say(f"knargo run: {event.kind.value} of {event.ref} at {event.sha[:12]}")
    chain.start()
    view.start()
    try:
        chain.publish(event)
        chain.settle()
    except KeyboardInterrupt:
        view.say("knargo run: interrupted; stopping the jobs")
        return EXIT_PROBLEMS
    finally:
        chain.stop()
        view.close()
        for line in dead_letter_lines(chain.broker.dead_letters):
            print(line, file=sys.stderr)
    return _verdict(chain, event)


def _verdict(chain: Chain, event: GitEvent) -> int:
    from knargo.contract import events

    reply = chain.replies.get(event.delivery_id)
    if reply is None:
        return EXIT_PROBLEMS  # generate never answered: the dead letters say why
    if reply.type == events.PIPELINE_SKIPPED:
        return EXIT_OK
    if reply.type != events.PIPELINE_SUBMITTED:
        return EXIT_PROBLEMS
    workflow = chain.cluster.get_workflow(reply.data["namespace"], reply.data["workflow"])
    phase = ((workflow or {}).get("status") or {}).get("phase")
    return EXIT_OK if phase == "Succeeded" else EXIT_PROBLEMS
