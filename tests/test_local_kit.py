"""Helpers for the tests of `knargo.local`: throw-away repositories and chains to run them.

(No tests here; the name keeps the local chain's test files together.)
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knargo.config.credentials import Credentials, Secret
from knargo.config.settings import Settings
from knargo.contract.events import GitEvent
from knargo.forges import Headers
from knargo.functions import webhook
from knargo.language.lint import check
from knargo.local import payloads
from knargo.local.chain import Chain, Setup
from knargo.local.cluster import LocalCluster
from knargo.local.engine import Engine
from knargo.local.executor import Executor, Options
from knargo.local.forge import LOCAL_FORGE, with_local_forge
from knargo.local.secrets import Secrets
from knargo.translation.plan import plan

__all__ = [
    "SECRET",
    "Executed",
    "commit",
    "execute",
    "final_statuses",
    "make_repo",
    "push_event",
    "settings",
    "start_chain",
]

SECRET = b"dev-secret"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.invalid",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.invalid",
}


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env=os.environ | IDENTITY,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def commit(repo: Path, files: Mapping[str, str], message: str = "change") -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def make_repo(path: Path, files: Mapping[str, str], secrets: str = "") -> Path:
    """A repository with `files` committed on main (and `.knargo/secrets.env`, uncommitted)."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    (path / ".gitignore").write_text(".knargo/\n")
    commit(path, files, "first")
    if secrets:
        (path / ".knargo").mkdir()
        (path / ".knargo" / "secrets.env").write_text(secrets)
    return path


def settings() -> Settings:
    return with_local_forge(Settings.embedded())


def push_event(repo: Path, event: str = "push") -> GitEvent:
    """HEAD as a signed GitHub delivery, through the real webhook."""
    described = payloads.describe(repo, LOCAL_FORGE.web_url)
    make = payloads.pull_request if event == "pull_request" else payloads.push
    headers, body = payloads.delivery(
        event, make(described, payloads.head(described)), SECRET, str(uuid.uuid4())
    )
    outcome = webhook.receive(
        webhook.Request("POST", Headers(headers), body),
        settings(),
        Credentials({"local": (Secret(SECRET),)}),
    )
    assert isinstance(outcome, webhook.Publish), outcome
    return outcome.event


def start_chain(repo: Path, **options: Any) -> Chain:
    options.setdefault("backoff_scale", 0.0)
    chain = Chain(Setup(repo, repo / ".knargo", settings(), **options))
    chain.start()
    return chain


def final_statuses(chain: Chain, sha: str) -> dict[str, tuple[str, str]]:
    """context → (knargo state, description), the latest post of each context."""
    return {p.context: (p.state, p.description) for p in chain.log.posted() if p.sha == sha}


@dataclass
class Executed:
    workflow: dict[str, Any]
    published: list[Any]
    runs: Path

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        """Task (display) name → node."""
        return {n["displayName"]: n for n in self.workflow["status"]["nodes"].values()}

    def log(self, task: str) -> str:
        name = self.workflow["metadata"]["name"]
        return (self.runs / name / task / "log").read_text(encoding="utf-8", errors="replace")


def execute(
    repo: Path, ci_yaml: str, tmp: Path, secrets: Mapping[str, str] | None = None, **options: Any
) -> Executed:
    """Translate `ci_yaml` for HEAD of `repo` and run it on the local executor."""
    checked = check(ci_yaml)
    assert checked.config is not None, checked.diagnostics
    event = push_event(repo)
    workflow = plan(checked.config, event, settings()).workflow
    assert workflow is not None
    cluster = LocalCluster(tmp / "cluster")
    published: list[Any] = []
    options.setdefault("backoff_scale", 0.0)
    executor = Executor(
        cluster,
        published.append,
        Options(
            runs=tmp / "runs",
            clone_url=repo.as_uri(),
            secrets=Secrets(dict(secrets or {})),
            engine=Engine("local"),
            base_env=dict(os.environ),
            **options,
        ),
    )
    cluster.watchers.append(executor.submit)
    assert cluster.create_workflow(workflow)
    executor.wait(timeout=60)
    meta = workflow["metadata"]
    stored = cluster.get_workflow(meta["namespace"], meta["name"])
    assert stored is not None
    return Executed(stored, published, tmp / "runs")
