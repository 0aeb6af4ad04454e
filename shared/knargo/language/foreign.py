"""The keys GitHub Actions and GitLab CI users type, with what knargo has instead.

An unknown key found here gets its own hint ("use runner:", "not supported: ...") instead of
the nearest known key by spelling, which misleads (`container` is not `continue-on-error`).
"""

from __future__ import annotations

from knargo.formats.positions import Path
from knargo.language import checkout

__all__ = ["hint"]

_NOT_SUPPORTED = "not supported"
_JOB = {
    # GitHub Actions
    "runs-on": 'use "runner:", a runner of the platform',
    "container": 'use "image:"',
    "steps": _NOT_SUPPORTED + ': a job runs one "run:" script',
    "uses": _NOT_SUPPORTED + ': knargo runs no actions; write the commands in "run:"',
    "with": _NOT_SUPPORTED + ': knargo runs no actions; use "env:"',
    "strategy": 'use "matrix:" on the job, e.g. matrix: {python: ["3.12", "3.13"]}',
    "permissions": _NOT_SUPPORTED + ': a job gets only the secrets it lists in "secrets:"',
    "timeout-minutes": 'use "timeout:", e.g. "timeout: 30m"',
    "environment": _NOT_SUPPORTED + ': list the secrets the job uses in "secrets:"',
    "outputs": _NOT_SUPPORTED + ": jobs share no outputs",
    "defaults": 'use "shell:" and "working-directory:" in the job',
    # GitLab CI
    "script": 'use "run:"',
    "before_script": 'put the commands in "run:"',
    "after_script": 'put the commands in "run:"',
    "variables": 'use "env:"',
    "stage": _NOT_SUPPORTED + ': order jobs with "needs:"',
    "rules": 'use "if:" (and "on:" for the events)',
    "only": 'use "if:" (and "on:" for the events)',
    "except": 'use "if:" (and "on:" for the events)',
    "when": 'use "if:"',
    "allow_failure": 'use "continue-on-error:"',
    "retry": 'use "retries:"',
    "tags": 'use "runner:", a runner of the platform',
    "extends": "use a YAML anchor and a merge key (<<: *defaults)",
}
_ON = {
    "tag": 'tags go under "on.push.tags", e.g. on: {push: {tags: ["v*"]}}',
    "tags": 'tags go under "on.push.tags", e.g. on: {push: {tags: ["v*"]}}',
    "release": 'use tags: on: {push: {tags: ["v*"]}}',
    "workflow_dispatch": _NOT_SUPPORTED + ": try the pipeline on your machine with knargo run",
    "pull_request_target": 'use "pull_request"',
    "merge_request": 'use "pull_request"',
    "cron": 'use "schedule:", e.g. schedule: [{cron: "0 3 * * *"}]',
}
_FILTERS = {
    "branches-ignore": 'use "branches:" with a "!" pattern, e.g. ["**", "!wip/**"]',
    "tags-ignore": 'use "tags:" with a "!" pattern, e.g. ["**", "!nightly-*"]',
    "paths-ignore": 'use "paths:" with a "!" pattern, e.g. ["**", "!docs/**"]',
    "types": _NOT_SUPPORTED + ": opened, reopened and new commits run the pipeline",
}
_SERVICE = {
    # GitHub Actions
    "options": 'use "command:" for a readiness check (what --health-cmd does)',
    "credentials": _NOT_SUPPORTED + ": the cluster pulls the image with its own credentials",
    "volumes": _NOT_SUPPORTED + ": a service shares only the network with the job",
    # GitLab CI
    "name": 'use "image:"; the service\'s key is its name',
    "alias": _NOT_SUPPORTED + ": the service's key is its name, and it is on localhost",
    "entrypoint": _NOT_SUPPORTED + ": a service runs its image's own entrypoint",
    "variables": 'use "env:"',
}
_TOP = {
    "name": _NOT_SUPPORTED + ": the pipeline is named after the repository",
    "run-name": _NOT_SUPPORTED,
    "permissions": _NOT_SUPPORTED + ': a job gets only the secrets it lists in "secrets:"',
    "defaults": 'use "shell:" and "working-directory:" in each job',
    "variables": 'use "env:"',
    "stages": _NOT_SUPPORTED + ': order jobs with "needs:"',
    "workflow": 'use "on:"',
    "include": _NOT_SUPPORTED,
    "default": "use a YAML anchor and a merge key (<<: *defaults)",
    "image": 'set "image:" in each job (a YAML anchor helps)',
    # GitHub Actions keys of a job, written at the top
    "services": 'services belong to a job: put "services:" under the job that uses them',
    "container": 'set "image:" in each job (a YAML anchor helps)',
    "runs-on": 'set "runner:" in each job, a runner of the platform',
    "steps": _NOT_SUPPORTED + ': each job under "jobs:" runs one "run:" script',
    "strategy": 'use "matrix:" on the job, e.g. matrix: {python: ["3.12", "3.13"]}',
}


def hint(path: Path, key: str) -> str | None:
    """What to write instead of the unknown `key` found in the mapping at `path`."""
    if not path:
        return _TOP.get(key)
    if path[0] == "jobs" and len(path) == 2:
        return _JOB.get(key)
    if path == ("on",):
        return _ON.get(key)
    if path[0] == "on" and len(path) == 2:
        return _FILTERS.get(key)
    if path[-1] == "checkout":
        return checkout.hint(key)
    if path[0] == "jobs" and len(path) == 4 and path[2] == "services":
        return _SERVICE.get(key)
    return None
