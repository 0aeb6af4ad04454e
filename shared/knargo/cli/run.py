"""`knargo run`: the pipeline for HEAD of a local repository, run on this machine.

HEAD is described as a GitHub push (a branch or a tag) or pull request delivery, signed and
handed to the real `knargo.functions.webhook.receive`; the event then goes through the local
chain (generate, the local cluster and executor, report) exactly as `knargo dev` runs it. A
schedule runs the Workflow the controller would create from the CronWorkflow of one
`on.schedule` entry. The exit code says whether the pipeline passed: 0 passed (or nothing to
run), 1 failed or rejected, 2 usage error (a job or a tag that does not exist included).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from knargo.cli import EXIT_OK, EXIT_PROBLEMS, UsageError

if TYPE_CHECKING:
    from knargo.config.settings import Settings
    from knargo.contract.events import GitEvent
    from knargo.language.dialect import CiConfig
    from knargo.local.chain import Chain, Setup
    from knargo.local.payloads import Repository

__all__ = ["ENGINES", "add_directory_option", "add_parser", "local_settings", "run"]

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
    parser.add_argument(
        "--event", choices=("push", "pull_request", "tag", "schedule"), default="push"
    )
    parser.add_argument(
        "--tag", metavar="NAME", help="with --event tag: the tag to run (default: the tag at HEAD)"
    )
    parser.add_argument(
        "--schedule",
        metavar="INDEX|NAME|CRON",
        help="with --event schedule: an on.schedule entry, by index, name or cron "
        "(default: the only one)",
    )
    parser.add_argument("--job", metavar="ID", help="run only this job and the jobs it needs")
    add_directory_option(parser)
    parser.add_argument("--config", metavar="FILE", help="knargo's configuration (runners, …)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="run each job's script as a local process (default) or in its image",
    )
    parser.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    parser.add_argument(
        "--approve",
        action="store_true",
        help="approve every job that waits for approval (approval: or environment:); "
        "without it, each waits for Enter on a terminal and is not approved otherwise",
    )
    parser.add_argument(
        "--logs",
        choices=("failed", "all"),
        default="failed",
        help="the last lines of failed jobs' logs (default), or every job's whole log",
    )
    parser.set_defaults(run=run)


def gate_answer(approve_all: bool, terminal: TextIO, out: TextIO) -> Callable[[str, str], bool]:
    """How `knargo run` answers a job that waits for approval: `--approve` approves; on a
    terminal, Enter approves (one question at a time); anything else does not approve."""
    asking = threading.Lock()

    def answer(workflow: str, job: str) -> bool:
        if approve_all:
            return True
        if not terminal.isatty():
            print(
                f'knargo run: job "{job}" waits for approval: not approved (use --approve)',
                file=out,
            )
            return False
        with asking:
            print(
                f'knargo run: job "{job}" waits for approval: press Enter to approve, '
                "type n and Enter to refuse",
                file=out,
                flush=True,
            )
            line = terminal.readline()
        return line.strip().lower() not in ("n", "no") and line != ""

    return answer


def add_directory_option(parser: argparse.ArgumentParser) -> None:
    """`-C/--directory PATH`: the local repository (`--repo` is OWNER/NAME elsewhere)."""
    parser.add_argument(
        "-C",
        "--directory",
        default=".",
        metavar="PATH",
        help="the repository's directory (default: .)",
    )


def local_settings(path: str | None) -> Settings | None:
    """The configuration (embedded defaults without one) with the `local` forge added."""
    from knargo.cli.inputs import load_settings
    from knargo.local.forge import with_local_forge

    settings = load_settings(path)
    return None if settings is None else with_local_forge(settings)


def run(args: argparse.Namespace) -> int:
    from knargo.local.engine import EngineUnavailable
    from knargo.local.git import GitError

    if args.tag and args.event != "tag":
        raise UsageError("--tag goes with --event tag")
    if args.schedule and args.event != "schedule":
        raise UsageError("--schedule goes with --event schedule")
    if args.ci_yaml and not Path(args.ci_yaml).is_file():
        raise UsageError(f"{args.ci_yaml}: no such file")
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
    """HEAD (or the tag) as the webhook normalises it, and what the chain runs it with."""
    from knargo.config.credentials import Credentials, Secret
    from knargo.contract.events import CommentEvent
    from knargo.forges import Headers
    from knargo.functions import webhook
    from knargo.local import payloads
    from knargo.local.chain import Setup
    from knargo.local.engine import find_engine
    from knargo.local.forge import LOCAL_FORGE
    from knargo.local.git import GitError

    engine = find_engine(args.engine)
    repository = payloads.describe(Path(args.directory), LOCAL_FORGE.web_url)
    overrides: dict[str, bytes] = {}
    if args.ci_yaml:
        overrides[args.ci_yaml] = Path(args.ci_yaml).read_bytes()
        settings = settings.model_copy(update={"ci_file": args.ci_yaml})
    commit = payloads.head(repository)
    if args.event == "tag":
        try:
            commit = payloads.tagged(repository, args.tag)
        except GitError as exc:
            raise UsageError(str(exc)) from None
    text = _pipeline_text(repository, commit.sha, settings.ci_file, overrides)
    config = _config(text, settings) if text is not None else None
    if config is not None:
        if args.job:
            _check_job(config, settings.ci_file, args.job)
        _note_missing_secrets(config, repository.path / ".knargo" / "secrets.env")
    if args.event == "pull_request":
        name, payload = "pull_request", payloads.pull_request(repository, commit)
    elif args.event == "tag":
        name, payload = "push", payloads.tag_push(repository, commit)
    else:  # a schedule runs the default branch's pipeline at this commit
        ref = f"refs/heads/{repository.default_branch}" if args.event == "schedule" else None
        pushed = payloads.Commit(commit.sha, ref or commit.ref)
        name, payload = "push", payloads.push(repository, pushed)
    secret = os.urandom(32)
    headers, body = payloads.delivery(name, payload, secret, f"local-{uuid.uuid4()}")
    outcome = webhook.receive(
        webhook.Request("POST", Headers(headers), body),
        settings,
        Credentials({LOCAL_FORGE.name: (Secret(secret),)}),
    )
    if isinstance(outcome, webhook.Answer):
        print(f"knargo run: nothing to run: {outcome.reason}", file=sys.stderr)
        return None
    assert not isinstance(outcome.event, CommentEvent)  # a push or tag was delivered
    state = repository.path / ".knargo"
    setup = Setup(
        repository.path,
        state,
        settings,
        engine=engine,
        overrides=overrides,
        job=args.job,
        approve=gate_answer(args.approve, sys.stdin, sys.stderr),
    )
    return outcome.event, setup


def _pipeline_text(
    repository: Repository, sha: str, file: str, overrides: dict[str, bytes]
) -> str | None:
    """The pipeline file that runs: the override, else the commit's (None without one); a
    note when the working tree's differs from the committed one."""
    from knargo.local.git import GitError, git, git_bytes

    if file in overrides:
        return overrides[file].decode("utf-8", "replace")
    if git(repository.path, "status", "--porcelain", "--", file):
        print(
            f"knargo run: note: {file} has uncommitted changes: the committed one runs "
            f"(knargo run {file} runs the file as it is now)",
            file=sys.stderr,
        )
    try:
        return git_bytes(repository.path, "cat-file", "blob", f"{sha}:{file}").decode(
            "utf-8", "replace"
        )
    except GitError:
        return None


def _config(text: str, settings: Settings) -> CiConfig | None:
    from knargo.language.lint import check

    return check(text, settings.ci_file, settings=settings).config


def _check_job(config: CiConfig, file: str, job: str) -> None:
    """`--job` must name a job of the pipeline (a usage error otherwise)."""
    from knargo.formats.locate import quote_list, suggest
    from knargo.translation.expansion import shown

    if job not in config.jobs and job not in shown(config.jobs):
        raise UsageError(
            f'--job "{job}": {file} has no such job (jobs: {quote_list(config.jobs)})'
            + suggest(job, config.jobs)
        )


def _note_missing_secrets(config: CiConfig, path: Path) -> None:
    """Name each secret of ci.yaml the secrets file lacks: its jobs will not start."""
    from knargo.local.secrets import SecretsFileError, load_secrets

    try:
        known = load_secrets(path).values
    except SecretsFileError:
        return  # said when the chain starts
    for job_id, job in config.jobs.items():
        for env_name, secret in job.secrets.items():
            if secret not in known and env_name not in known:
                print(
                    f'knargo run: note: job "{job_id}" needs the secret {secret} (as ${env_name}),'
                    f" which {path} does not have: the job will not start",
                    file=sys.stderr,
                )


def _run(args: argparse.Namespace, event: GitEvent, setup: Setup) -> int:
    from knargo.local.chain import Chain
    from knargo.local.secrets import SecretsFileError
    from knargo.local.view import View, dead_letter_lines

    tty = sys.stdout.isatty() and not args.plain
    view = View(sys.stdout, setup.state / "runs", tty=tty, logs=args.logs)
    try:
        chain = Chain(setup, on_status=view.status)
    except SecretsFileError as exc:
        print(f"knargo run: error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    chain.observers.append(view.event)
    scheduled = _scheduled(args, event, setup) if args.event == "schedule" else None
    if isinstance(scheduled, str):
        print(f"knargo run: {scheduled}", file=sys.stderr)
        return EXIT_PROBLEMS
    kind = "schedule" if scheduled else event.kind.value
    view.say(f"knargo run: {kind} of {event.ref} at {event.sha[:12]}")
    chain.start()
    view.start()
    try:
        if scheduled:
            chain.workflows.create_workflow(scheduled)
        else:
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
    if scheduled:
        meta = scheduled["metadata"]
        return _phase(chain, meta["namespace"], meta["name"])
    return _verdict(chain, event)


def _scheduled(args: argparse.Namespace, event: GitEvent, setup: Setup) -> dict[str, Any] | str:
    """The Workflow of the chosen on.schedule entry, or why there is none."""
    from knargo.language.lint import check
    from knargo.local.forge import GitFiles
    from knargo.local.schedule import choose, scheduled_workflow
    from knargo.translation.plan import plan

    file = setup.settings.ci_file
    content = GitFiles(setup.repository, setup.overrides).read_file(event, file, 1 << 20)
    checked = check((content or b"").decode("utf-8", "replace"), file, settings=setup.settings)
    if checked.config is None:
        problems = "; ".join(str(d) for d in checked.diagnostics) or f"no {file}"
        return f"cannot run a schedule: {problems}"
    result = plan(checked.config, event, setup.settings, setup.catalog, trigger="schedule")
    if result.rejected or not result.cron_workflows:
        return f"cannot run a schedule: {result.rejected or result.skipped}"
    chosen = choose(result.cron_workflows, args.schedule)
    if isinstance(chosen, str):
        return chosen
    return scheduled_workflow(chosen, int(time.time()))


def _verdict(chain: Chain, event: GitEvent) -> int:
    from knargo.contract import events

    reply = chain.replies.get(event.delivery_id)
    if reply is None:
        return EXIT_PROBLEMS  # generate never answered: the dead letters say why
    if reply.type == events.PIPELINE_SKIPPED:
        return EXIT_OK
    if reply.type != events.PIPELINE_SUBMITTED:
        return EXIT_PROBLEMS
    return _phase(chain, reply.data["namespace"], reply.data["workflow"])


def _phase(chain: Chain, namespace: str, name: str) -> int:
    from knargo.functions.status import State, pipeline_status

    workflow = chain.cluster.get_workflow(namespace, name)
    state = pipeline_status(workflow or {})[0]
    return EXIT_OK if state is State.SUCCESS else EXIT_PROBLEMS
