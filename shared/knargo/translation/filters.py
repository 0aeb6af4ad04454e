"""Does an event run the pipeline? `on:` filters against a `GitEvent`, as GitHub Actions does.

Push filters: with neither `branches` nor `tags`, every push runs; with only `branches`, only
branch pushes (and the branch must match); with only `tags`, only tag pushes. `paths` must
match at least one changed path (not for tag pushes). Pull requests match `branches` against
the target branch. When the changed paths are unknown, `paths` filters count as matched and
a note says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from knargo.contract.events import EventKind, GitEvent
from knargo.language.dialect import CiConfig
from knargo.language.globs import PatternList

__all__ = ["Decision", "decide"]


@dataclass(frozen=True)
class Decision:
    """`run`, or the reason it does not; notes explain assumptions made on the way."""

    run: bool
    reason: str = ""
    notes: tuple[str, ...] = ()


def decide(config: CiConfig, event: GitEvent, changed_paths: Sequence[str] | None) -> Decision:
    """Match `event` against `on:`; `changed_paths` None means they are not known."""
    triggers = config.triggers
    if event.kind is EventKind.PULL_REQUEST:
        pr = triggers.pull_request
        if pr is None:
            return Decision(False, "pull requests do not run this pipeline (on.pull_request)")
        if pr.branches is not None and not PatternList(tuple(pr.branches)).matches(
            event.base_branch
        ):
            return Decision(
                False,
                f'target branch "{event.base_branch}" does not match on.pull_request.branches',
            )
        return _paths(pr.paths, changed_paths, "on.pull_request.paths")
    push = triggers.push
    if push is None:
        return Decision(False, "pushes do not run this pipeline (on.push)")
    if event.kind is EventKind.TAG:
        if push.tags is None and push.branches is not None:
            return Decision(False, f'tag "{event.tag}": on.push filters branches only')
        if push.tags is not None and not PatternList(tuple(push.tags)).matches(event.tag):
            return Decision(False, f'tag "{event.tag}" does not match on.push.tags')
        return Decision(True)  # as on GitHub, path filters do not apply to tag pushes
    if push.branches is None and push.tags is not None:
        return Decision(False, f'branch "{event.branch}": on.push filters tags only')
    if push.branches is not None and not PatternList(tuple(push.branches)).matches(event.branch):
        return Decision(False, f'branch "{event.branch}" does not match on.push.branches')
    return _paths(push.paths, changed_paths, "on.push.paths")


def _paths(patterns: list[str] | None, changed: Sequence[str] | None, key: str) -> Decision:
    if patterns is None:
        return Decision(True)
    if changed is None:
        return Decision(True, notes=(f"changed paths unknown: {key} counted as matched",))
    if PatternList(tuple(patterns)).matches_any(changed):
        return Decision(True)
    return Decision(False, f"no changed path matches {key}")
