"""`knargo run --event schedule`: one CronWorkflow's run, started now instead of at its time.

Argo's controller creates a Workflow from a CronWorkflow when a schedule fires: named after
the CronWorkflow and the time, with its `workflowMetadata` and `workflowSpec`. This does the
same for the CronWorkflow of one `on.schedule` entry, chosen by its index, its `name` or its
cron text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["choose", "describe", "scheduled_workflow"]

CRON = "knargo.dev/cron"
INDEX = "knargo.dev/schedule"
NAME = "knargo.dev/schedule-name"


def describe(cron: Mapping[str, Any]) -> str:
    meta = cron["metadata"]
    name = meta["annotations"].get(NAME)
    described = f"{meta['labels'].get(INDEX, '?')}: {meta['annotations'].get(CRON, '')}"
    return f"{described} ({name})" if name else described


def choose(crons: Sequence[Mapping[str, Any]], wanted: str | None) -> Mapping[str, Any] | str:
    """The CronWorkflow `wanted` names (the entry's index in on.schedule, its name or its
    cron), the only one when nothing is named; else a sentence saying what there is."""
    listed = "; ".join(describe(c) for c in crons) or "none"
    if wanted is None:
        if len(crons) == 1:
            return crons[0]
        return f"choose one schedule with --schedule INDEX|NAME|CRON (on.schedule: {listed})"
    for cron in crons:
        meta = cron["metadata"]
        names = (meta["labels"].get(INDEX), meta["annotations"].get(NAME))
        if wanted in (*names, " ".join(meta["annotations"][CRON].split())):
            return cron
    return f'--schedule "{wanted}": no such entry (on.schedule: {listed})'


def scheduled_workflow(cron: Mapping[str, Any], now: int) -> dict[str, Any]:
    """The Workflow the controller creates when `cron` fires at the Unix time `now`."""
    meta, spec = cron["metadata"], cron["spec"]
    extra = spec.get("workflowMetadata") or {}
    return {
        "apiVersion": cron["apiVersion"],
        "kind": "Workflow",
        "metadata": {
            "name": f"{meta['name']}-{now}",
            "namespace": meta["namespace"],
            "labels": dict(extra.get("labels") or {}),
            "annotations": dict(extra.get("annotations") or {}),
        },
        "spec": spec["workflowSpec"],
    }
