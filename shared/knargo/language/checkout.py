"""`checkout:`: what a job's working directory starts with, and the rules that span keys.

A job (or the top level, as every job's default) writes `checkout: false` for no checkout
(the job starts in an empty workspace), or `{depth, tags, submodules}`. A job's own
`checkout` replaces the top-level one as a whole. Without either, a job gets today's
checkout: the commit alone (`depth: 1`), no tags, no submodules (`DEFAULT`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.locate import user_error
from knargo.formats.positions import Document

__all__ = ["DEFAULT", "Checkout", "CheckoutKey", "check_checkout", "effective", "hint"]


def _depth(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise user_error(
            "checkout",
            f"depth {value} is negative: give a number of commits, or 0 for the full history",
        )
    if isinstance(value, str) and value.strip().lower() in {"full", "all", "infinite", "max"}:
        raise user_error("checkout", f'depth "{value}": write depth: 0 for the full history')
    return value


def _submodules(value: Any) -> Any:
    if value == "recursive":
        raise user_error(
            "checkout",
            'submodules: "recursive": write submodules: true, which fetches nested ones too',
        )
    return value


class Checkout(BaseModel):
    """What the job's checkout fetches."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    depth: Annotated[int, Field(ge=0), BeforeValidator(_depth)] = 1
    """Commits of history to fetch, the built commit included; 0 fetches the full history."""
    tags: bool = False
    """Fetch the repository's tags too (with `depth: 0`, `git describe` then finds the
    nearest tag). Without it, a tag push still fetches its own tag."""
    submodules: Annotated[bool, BeforeValidator(_submodules)] = False
    """Fetch the submodules (nested ones too), with the repository's credentials when they
    are on the same forge."""


DEFAULT = Checkout()


def _false_or_options(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """`false` as is; anything else validated as `Checkout` (or empty), so that an error
    names the key it is about, not a member of a union."""
    if value is False:
        return False
    if value is True:
        raise user_error(
            "checkout",
            '"checkout: true" is what a job gets without it: leave it out, or give options '
            "such as {depth: 0, tags: true, submodules: true}",
        )
    if value is not None and not isinstance(value, dict):
        shown = f'"{value}"' if isinstance(value, str) else str(value)
        raise user_error(
            "checkout",
            f"checkout must be false or a mapping such as {{depth: 0, tags: true}}, not {shown}"
            + (" (only false is false in YAML 1.2)" if value in ("no", "off", "No", "NO") else ""),
        )
    return handler(value)


if TYPE_CHECKING:
    CheckoutKey = Checkout | Literal[False] | None
else:
    # pydantic validates `Checkout | None` and lets `false` through itself.
    CheckoutKey = Annotated[
        Checkout | None,
        WrapValidator(_false_or_options, json_schema_input_type=Checkout | Literal[False] | None),
    ]


def effective(
    own: Checkout | Literal[False] | None, default: Checkout | Literal[False] | None
) -> Checkout | None:
    """The checkout a job gets (None: no checkout): its own, else the top-level one."""
    chosen = own if own is not None else default
    if chosen is False:
        return None
    return chosen if chosen is not None else DEFAULT


# actions/checkout's inputs, with what to write instead.
_NOT_SUPPORTED = "not supported"
_KEYS = {
    "fetch-depth": 'use "depth:" (0 for the full history)',
    "fetch-tags": 'use "tags:"',
    "lfs": _NOT_SUPPORTED + ': run "git lfs pull" in the script',
    "ref": _NOT_SUPPORTED + ": a job checks out the commit of its event",
    "repository": _NOT_SUPPORTED + ": a job checks out its own repository",
    "path": _NOT_SUPPORTED + ": the checkout is the job's working directory",
    "token": _NOT_SUPPORTED + ": the checkout uses the forge's credentials",
    "ssh-key": _NOT_SUPPORTED + ": the checkout uses the forge's credentials",
    "persist-credentials": _NOT_SUPPORTED + ": credentials never stay in the checkout",
    "clean": _NOT_SUPPORTED + ": every job starts in a new, empty workspace",
    "sparse-checkout": _NOT_SUPPORTED,
    "filter": _NOT_SUPPORTED,
}


def hint(key: str) -> str | None:
    """What to write instead of the unknown `key` in a `checkout:` mapping."""
    return _KEYS.get(key)


# GitLab's variables for its checkout, which mean nothing to knargo.
_GITLAB_VARIABLES = {
    "GIT_DEPTH": "checkout: {depth: N}",
    "GIT_STRATEGY": "checkout: false (for none)",
    "GIT_SUBMODULE_STRATEGY": "checkout: {submodules: true}",
}


def check_checkout(doc: Document, file: str) -> list[Diagnostic]:
    """GitLab's checkout variables in `env`, and a `working-directory` that cannot exist."""
    return [*_gitlab_variables(doc, file), *_nothing_to_enter(doc, file)]


def _jobs(doc: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    jobs = doc.data.get("jobs")
    if isinstance(jobs, dict):
        yield from ((k, v) for k, v in jobs.items() if isinstance(v, dict))


def _gitlab_variables(doc: Document, file: str) -> Iterator[Diagnostic]:
    paths = [("env",)] + [("jobs", job_id, "env") for job_id, _ in _jobs(doc)]
    for path in paths:
        env = doc.data.get("env") if len(path) == 1 else doc.data["jobs"][path[1]].get("env")
        if not isinstance(env, dict):
            continue
        for name, instead in _GITLAB_VARIABLES.items():
            if name in env:
                mark = doc.key_mark((*path, name))
                message = f"{name} has no effect on knargo's checkout: write {instead}"
                yield Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "checkout")


def _nothing_to_enter(doc: Document, file: str) -> Iterator[Diagnostic]:
    """A job without a checkout and without `needs` starts in an empty workspace."""
    for job_id, job in _jobs(doc):
        chosen = job["checkout"] if "checkout" in job else doc.data.get("checkout")
        where = job.get("working-directory")
        if chosen is False and isinstance(where, str) and not job.get("needs"):
            mark = doc.value_mark(("jobs", job_id, "working-directory"))
            message = (
                f'job "{job_id}" has no checkout and needs no job, so its workspace is empty '
                f'and working-directory "{where}" does not exist'
            )
            yield Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "checkout")
