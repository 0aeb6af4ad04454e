"""`concurrency:` on a job → an Argo template-level mutex: the group's jobs run one at a time.

Every job of a group, in every run of the repository, takes the same mutex before it starts
(`synchronization.mutexes`, the form both Argo 3.7 and 4.1 accept; the singular `mutex` is
gone in 4.x). Argo's mutexes are per namespace and their names are free text, so the name is
made from the repository and the group: a readable prefix of both and a digest of the exact
values, which keeps it a valid name whatever the group text is (`/`, spaces, braces) and
keeps two repositories' groups apart. A job of a group whose mutex another node holds stays
`Pending` with Argo's message `Waiting for <namespace>/Mutex/<name> lock…`; its template
carries the group (`knargo.dev/concurrency`) for report, which posts "waiting for
concurrency group <group>" meanwhile (knargo.functions.status).

Argo needs no configuration for mutexes (only semaphores read a ConfigMap).
"""

from __future__ import annotations

import re

from knargo.contract.events import GitEvent
from knargo.formats import naming
from knargo.language.dialect import Job
from knargo.translation import manifests
from knargo.translation.templates import JOB_ID, LABEL

__all__ = ["GROUP", "add_mutexes", "group_name", "mutex_name"]

GROUP = LABEL + "concurrency"
"""The annotation holding the group (of a run on the Workflow, of a job on its template)."""
_VALUE = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def group_name(text: str, event: GitEvent) -> str:
    """A concurrency group with the event's values put in for its `${{ value }}`s."""
    values = {
        "ref": event.ref,
        "branch": event.branch,
        "tag": event.tag,
        "pull_request": str(event.pr_number) if event.pr_number is not None else "",
        "base_branch": event.base_branch,
        "event": event.kind.value,
    }
    return _VALUE.sub(lambda found: values[found[1]], text)


def mutex_name(forge_name: str, repository: str, group: str) -> str:
    """`<repository>-<group>-<digest>`: lower-case letters, digits and `-`, at most 70."""
    readable = f"{naming.slug(repository.rpartition('/')[2], 20)}-{naming.slug(group, 30)}"
    return f"{readable}-{naming.digest(forge_name, repository.lower(), group, length=16)}"


def add_mutexes(spec: manifests.WorkflowSpec, jobs: dict[str, Job], event: GitEvent) -> None:
    """Give the template of every job with `concurrency:` its group's mutex (in place).

    `jobs` are the jobs of ci.yaml by id; a matrix job's combinations share its group."""
    for template in spec["templates"]:
        annotations = template.get("metadata", {}).get("annotations", {})
        job = jobs.get(annotations.get(JOB_ID) or annotations.get(LABEL + "job", ""))
        if job is None or job.concurrency is None or "suspend" in template:
            continue
        group = group_name(job.concurrency.group, event)
        name = mutex_name(event.forge_name, event.repository, group)
        template["synchronization"] = {"mutexes": [{"name": name}]}
        annotations[GROUP] = naming.annotations_safe({GROUP: group})[GROUP]
