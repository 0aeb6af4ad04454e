"""Which checkout script a Workflow runs, and each job's `KNARGO_CHECKOUT` words.

A Workflow none of whose jobs is given a `checkout:` (its own or the top-level one) runs
`jobpod.INIT_SCRIPT`, as it always has, so its manifests are unchanged, unless it builds a
tag push, whose tag must be present for `git describe --tags`. As soon as one of its jobs
is given one (even `{}`), or for a tag push, every job runs `jobpod.CHECKOUT_SCRIPT` (one copy, in
`templateDefaults`) and carries its options in one env var, `KNARGO_CHECKOUT`
(`depth=0 tags submodules`, `false`), which also moves to the defaults when all jobs agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from knargo.contract.events import EventKind, GitEvent
from knargo.language.checkout import Checkout, effective
from knargo.language.dialect import CiConfig, Job
from knargo.translation import jobpod

__all__ = ["credential_scope", "job_checkout", "script", "with_options", "words"]


def job_checkout(config: CiConfig, job: Job) -> Checkout | None:
    """The job's checkout (None: none): its own `checkout`, else the top-level one."""
    return effective(job.checkout, config.checkout)


def with_options(config: CiConfig, jobs: Mapping[str, Job], event: GitEvent) -> bool:
    """Whether the options script runs: for a tag push (which fetches its tag), or when any
    of `jobs` is given a `checkout:`, its own or the top-level one."""
    return (
        event.kind is EventKind.TAG
        or config.checkout is not None
        or any(job.checkout is not None for job in jobs.values())
    )


def script(options: bool) -> str:
    return jobpod.CHECKOUT_SCRIPT if options else jobpod.INIT_SCRIPT


def words(checkout: Checkout | None) -> str:
    """The value of `KNARGO_CHECKOUT` that `jobpod.CHECKOUT_SCRIPT` reads."""
    if checkout is None:
        return "false"
    found = [f"depth={checkout.depth}"]
    if checkout.tags:
        found.append("tags")
    if checkout.submodules:
        found.append("submodules")
    return " ".join(found)


def credential_scope(event: GitEvent) -> str:
    """Where the forge token may go: the forge (so that submodules on it are fetched too),
    or, for a fork's pull request, whose `.gitmodules` the fork writes, the repository only."""
    return "repository" if event.fork else "forge"
