"""`concurrency:`: which runs of a repository supersede each other.

A run's group is `concurrency.group` with the event's values put in, or, without the key, the
pull request: a pull request's newer run terminates its older ones, and pushes (the default
branch included) never cancel each other, they run side by side. A group of `concurrency:`
is a label on the Workflow (`knargo.dev/concurrency`, a digest of the repository and the
group, since a label value is short; the group itself is an annotation); the default group is
selected by the labels every pull request's run already has, so its manifests do not change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from knargo.contract.events import EventKind, GitEvent
from knargo.formats import naming
from knargo.language.dialect import CiConfig
from knargo.translation import manifests
from knargo.translation.mutexes import GROUP, group_name
from knargo.translation.plan import MANAGED_BY
from knargo.translation.templates import LABEL

__all__ = ["CANCELLED", "GROUP", "RunGroup", "labelled", "pull_request_selector", "run_group"]

CANCELLED = LABEL + "cancelled"
"""The annotation that says why a run was terminated (report's description)."""


@dataclass(frozen=True)
class RunGroup:
    name: str
    cancel_in_progress: bool
    selector: str
    """The label selector of the group's runs."""
    label: str | None = None
    """The `knargo.dev/concurrency` value the run carries (None for the default group)."""


def run_group(config: CiConfig, event: GitEvent) -> RunGroup | None:
    """The event's group, or None when its runs never supersede each other."""
    repository = {
        **MANAGED_BY,
        LABEL + "repository-id": naming.repository_id(event.forge_name, event.repository),
    }
    if config.concurrency is None:
        if event.kind is not EventKind.PULL_REQUEST or event.pr_number is None:
            return None
        selector = pull_request_selector(event.forge_name, event.repository, event.pr_number)
        return RunGroup(f"pull_request-{event.pr_number}", True, selector)
    name = group_name(config.concurrency.group, event)
    label = naming.digest(event.forge_name, event.repository, name, length=16)
    return RunGroup(
        name,
        config.concurrency.cancel_in_progress,
        _selector({**repository, GROUP: label}),
        label,
    )


def pull_request_selector(forge_name: str, repository: str, number: int) -> str:
    """The label selector of a pull request's runs."""
    return _selector(
        {
            **MANAGED_BY,
            LABEL + "repository-id": naming.repository_id(forge_name, repository),
            LABEL + "pull-request": str(number),
        }
    )


def labelled(workflow: manifests.Workflow, group: RunGroup) -> manifests.Workflow:
    """The Workflow with its group's label and annotation (unchanged for the default group)."""
    if group.label is None:
        return workflow
    marked = copy.deepcopy(workflow)
    meta = marked["metadata"]
    meta["labels"] = {**meta.get("labels", {}), GROUP: group.label}
    meta["annotations"] = {
        **meta.get("annotations", {}),
        GROUP: naming.annotations_safe({GROUP: group.name})[GROUP],
    }
    return marked


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())
