"""`make demo`: knargo end to end on this machine, in seconds, without a cluster.

    python -m knargo.local.demo [--source DIR] [--keep]

Copies `examples/demo/` into a throw-away git repository, starts `knargo dev` on a free
port in this process, sends it a GitHub push delivery for the commit signed with the dev
secret (over HTTP, through the real webhook), shows the pipeline run to completion, then the
commit's statuses as the forge would show them. Exits 0 when the pipeline passed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TextIO

from knargo.config.settings import Settings
from knargo.local import payloads
from knargo.local.chain import Chain, Setup
from knargo.local.executor import log_path
from knargo.local.forge import LOCAL_FORGE, with_local_forge
from knargo.local.git import git
from knargo.local.selection import job_tasks
from knargo.local.server import DevServer, banner, dev_credentials
from knargo.local.view import View, dead_letter_lines, tail
from knargo.translation.templates import LABEL

__all__ = ["main", "make_repository"]

SHA = LABEL + "sha"

TIMEOUT = 50.0
IDENTITY = {
    "GIT_AUTHOR_NAME": "knargo demo",
    "GIT_AUTHOR_EMAIL": "demo@knargo.invalid",
    "GIT_COMMITTER_NAME": "knargo demo",
    "GIT_COMMITTER_EMAIL": "demo@knargo.invalid",
}


def make_repository(source: Path, path: Path) -> Path:
    """A git repository with `source` committed on `main`; its secrets.env goes to
    `.knargo/secrets.env`, outside the commit."""
    shutil.copytree(source, path, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
    if (source / "secrets.env").exists():
        (path / ".knargo").mkdir()
        shutil.copy(source / "secrets.env", path / ".knargo" / "secrets.env")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    _commit(path, "knargo demo")
    return path


def _commit(path: Path, message: str, *options: str) -> None:
    saved = {k: os.environ.get(k) for k in IDENTITY}
    os.environ.update(IDENTITY)  # the demo's own process: no user.name needed
    try:
        git(path, "-c", "commit.gpgsign=false", "commit", "-q", *options, "-m", message)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def run_demo(repository: Path, out: TextIO) -> int:
    """Serve `knargo dev` for `repository`, deliver a push of its HEAD, show the run."""
    settings = with_local_forge(Settings.embedded())
    secret = secrets.token_hex(20)
    state = repository / ".knargo"
    view = View(out, state / "runs", tty=False)
    chain = Chain(Setup(repository, state, settings), on_status=view.status)
    chain.observers.append(view.event)
    credentials = dev_credentials(settings, secret.encode(), None)
    server = DevServer(chain, settings, credentials, port=0, say=view.say)
    for line in banner(server.url, secret, repository, state, [])[:-1]:
        view.say(line)
    chain.start()
    server.start()
    shas = [git(repository, "rev-parse", "HEAD")]
    try:
        settled = _push(repository, server.url, secret, chain, view)
        if settled:  # a second commit: its run hits the cache the first run saved
            _commit(repository, "second run", "--allow-empty")
            shas.append(git(repository, "rev-parse", "HEAD"))
            view.say("\na second commit, to show the cache restored:")
            settled = _push(repository, server.url, secret, chain, view)
    finally:
        server.close()
        chain.stop()
        view.close()
    for line in dead_letter_lines(chain.broker.dead_letters):
        view.say(line)
    return _summary(chain, view, shas) if settled else 1


def _push(repository: Path, url: str, secret: str, chain: Chain, view: View) -> bool:
    """Deliver a signed push of HEAD; whether its run settled."""
    described = payloads.describe(repository, LOCAL_FORGE.web_url)
    payload = payloads.push(described, payloads.head(described))
    headers, body = payloads.delivery("push", payload, secret.encode(), str(uuid.uuid4()))
    view.say(f"\nPOST {url} (a GitHub push delivery of {len(body)} bytes, signed)")
    status, answer = _post(url, headers, body)
    view.say(f"  → {status} {answer}\n")
    return status == 202 and chain.settle(TIMEOUT)


def _summary(chain: Chain, view: View, shas: list[str]) -> int:
    """The logs of each commit's run, in the order they ran; the last commit's statuses."""
    workflows = chain.cluster.workflows(chain.setup.settings.namespace)
    for workflow in sorted(workflows, key=lambda w: shas.index(w["metadata"]["labels"][SHA])):
        name = workflow["metadata"]["name"]
        for job, task in job_tasks(workflow["spec"]).items():
            view.say(f"\nlog of {job}:")
            for line in tail(log_path(view.runs, name, task), 8):
                view.say(f"  | {line}")
    sha = shas[-1]
    latest = {p.context: p for p in chain.log.posted() if p.sha == sha}
    view.say(f"\nstatuses of {sha[:12]}, as GitHub would show them:")
    width = max((len(c) for c in latest), default=0)
    for context, posted in sorted(latest.items()):
        view.say(f"  {context:<{width}}  {posted.forge_state:<8} {posted.description}")
    pipeline = latest.get(chain.setup.settings.status_context)
    return 0 if pipeline is not None and pipeline.state == "success" else 1


def _source(given: str | None) -> Path:
    if given:
        return Path(given)
    here = Path("examples/demo")
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "examples" / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knargo.local.demo", description=__doc__)
    parser.add_argument("--source", metavar="DIR", help="default: examples/demo")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away repository")
    args = parser.parse_args(argv)
    source = _source(args.source)
    if not (source / "ci.yaml").is_file():
        parser.error(f"{source}: no ci.yaml (give --source DIR)")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="knargo-demo-"))
    try:
        code = run_demo(make_repository(source, workdir / "demo"), sys.stdout)
    finally:
        if args.keep:
            print(f"kept {workdir / 'demo'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    verdict = "passed" if code == 0 else "FAILED"
    print(f"\nknargo demo {verdict} in {time.monotonic() - started:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
