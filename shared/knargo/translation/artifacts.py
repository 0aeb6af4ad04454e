"""Artifacts and caches as Argo's native artifacts, in the cluster's artifact repository.

A job with `artifacts:` keeps its paths as one output artifact, `files`: its command moves the
matched paths into `/workspace/.knargo-out/files` after a successful script (failing the job,
with the paths named, when a declared path does not exist), and Argo's wait container uploads
that directory as a tarball under `knargo/artifacts/<days>d/<workflow>/<template>.tgz`, where a
lifecycle rule of the bucket expires it. A job that needs it gets it as the input artifact
`from-<template>` (`tasks.<template>.outputs.artifacts.files`), which Argo's init container
unpacks into `/knargo/in/<template>`; its command copies that into the checkout before the
script starts.

A cache is one object per repository and key, `knargo/cache/<repository id>/<key digest>.tgz`:
an optional input artifact (a miss is not an error) unpacked into `/knargo/cache/in`, and,
unless the run is a pull request from a fork, an optional output artifact from
`/knargo/cache/out`, which the command fills only after a successful script that missed. The
object holds the digest of the key and of the contents of its `files:`; a different digest is
a miss, and the job replaces the object. A fork's Workflow declares no cache output and names
the artifact repository `fork-pull-requests`, whose credentials cannot write under
`knargo/cache/`.
"""

from __future__ import annotations

import hashlib

from knargo.contract.events import GitEvent
from knargo.formats import naming
from knargo.formats.durations import parse_duration
from knargo.language.dialect import Job
from knargo.translation import jobpod, manifests

__all__ = [
    "ARTIFACTS_PREFIX",
    "CACHE_IN",
    "CACHE_OUT",
    "CACHE_PREFIX",
    "CONFIG_MAP",
    "FILES",
    "FORK_KEY",
    "INPUTS",
    "OUTPUT_DIR",
    "REPOSITORY_KEY",
    "arguments",
    "cache_key",
    "env",
    "files_command",
    "inputs",
    "outputs",
    "repository_ref",
    "uses_files",
]

CONFIG_MAP = "artifact-repositories"
REPOSITORY_KEY = "default"
FORK_KEY = "fork-pull-requests"
ARTIFACTS_PREFIX = "knargo/artifacts"
CACHE_PREFIX = "knargo/cache"
FILES = "files"
OUTPUT_DIR = f"{jobpod.WORKSPACE}/.knargo-out/{FILES}"
INPUTS = f"{jobpod.HOME}/in"
CACHE_IN = f"{jobpod.HOME}/cache/in"
CACHE_OUT = f"{jobpod.HOME}/cache/out"
_CACHE = "cache"


def uses_files(job: Job, jobs: dict[str, Job]) -> bool:
    """Whether the job keeps or receives artifacts, or uses a cache."""
    return bool(job.artifacts or job.cache or producers(job, jobs))


def producers(job: Job, jobs: dict[str, Job]) -> list[str]:
    """The jobs in `needs` whose artifacts the job receives (not transitively)."""
    return [n for n in dict.fromkeys(job.needs) if n in jobs and jobs[n].artifacts]


def repository_ref(event: GitEvent) -> manifests.ArtifactRepositoryRef:
    """The artifact repository of the Workflow: a fork's cannot write caches."""
    return {"configMap": CONFIG_MAP, "key": FORK_KEY if event.fork else REPOSITORY_KEY}


def cache_key(event: GitEvent, key: str) -> str:
    """The object of a cache: per repository, and per key (hashed: any text is a key)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    repository = naming.repository_id(event.forge_name, event.repository)
    return f"{CACHE_PREFIX}/{repository}/{digest}.tgz"


def arguments(job: Job, jobs: dict[str, Job], names: dict[str, str]) -> manifests.Arguments:
    """The DAG task's artifacts: the `files` output of each job it needs that has one."""
    return {
        "artifacts": [
            {
                "name": f"from-{names[p]}",
                "from": f"{{{{tasks.{names[p]}.outputs.artifacts.{FILES}}}}}",
            }
            for p in producers(job, jobs)
        ]
    }


def inputs(
    job: Job, jobs: dict[str, Job], names: dict[str, str], event: GitEvent
) -> manifests.Artifacts:
    """Where Argo unpacks what the job receives. All optional: a producer that failed under
    `continue-on-error` kept nothing, and a cache miss is not an error."""
    found: list[manifests.Artifact] = [
        {"name": f"from-{names[p]}", "path": f"{INPUTS}/{names[p]}", "optional": True}
        for p in producers(job, jobs)
    ]
    if job.cache:
        found.append(
            {
                "name": _CACHE,
                "path": CACHE_IN,
                "optional": True,
                "s3": {"key": cache_key(event, job.cache.key)},
            }
        )
    return {"artifacts": found}


def outputs(job: Job, template: str, event: GitEvent) -> manifests.Artifacts:
    """What Argo uploads after the job: its artifacts, and (never for a fork) its cache.

    Optional for Argo: the job's command already failed the job when a declared path was
    missing, and it fills the cache's directory only when the cache is to be saved.
    """
    found: list[manifests.Artifact] = []
    if job.artifacts:
        days = parse_duration(job.artifacts.expire) // 86_400
        key = f"{ARTIFACTS_PREFIX}/{days}d/{{{{workflow.name}}}}/{template}.tgz"
        found.append({"name": FILES, "path": OUTPUT_DIR, "optional": True, "s3": {"key": key}})
    if job.cache and not event.fork:
        found.append(
            {
                "name": _CACHE,
                "path": CACHE_OUT,
                "optional": True,
                "s3": {"key": cache_key(event, job.cache.key)},
            }
        )
    return {"artifacts": found}


def env(job: Job, event: GitEvent) -> dict[str, str]:
    """What the job's command needs to know: the paths to keep, the cache's key and paths."""
    values: dict[str, str] = {}
    if job.artifacts:
        values["KNARGO_ARTIFACTS"] = "\n".join(job.artifacts.paths)
        if job.artifacts.optional:
            values["KNARGO_ARTIFACTS_OPTIONAL"] = "true"
    if job.cache:
        values["KNARGO_CACHE_KEY"] = job.cache.key
        if job.cache.files:
            values["KNARGO_CACHE_FILES"] = "\n".join(job.cache.files)
        values["KNARGO_CACHE_PATHS"] = "\n".join(job.cache.paths)
        values["KNARGO_CACHE_SAVE"] = "false" if event.fork else "true"
    return values


# Before the script: restore what the job received, then its cache. After a successful
# script: save the cache on a miss, then keep the artifacts (moved: the pod ends with the job).
_BEFORE = """\
if [ -f "$KNARGO_HOME/env" ]; then . "$KNARGO_HOME/env"; fi
root=$PWD
nl='
'
knargo_size() { du -skL "$1" 2>/dev/null | cut -f1; }
knargo_digest() {
  set -f; IFS=$nl
  printf '%s\\n' "$KNARGO_CACHE_KEY"
  for pattern in ${KNARGO_CACHE_FILES:-}; do
    set +f
    for f in $pattern; do
      if [ -f "$f" ]; then printf '%s\\n' "$f"; cat "$f"; fi
    done
    set -f
  done
}
knargo_missing() {
  set -f; IFS=$nl
  for pattern in $1; do
    set +f; found=
    for f in $pattern; do
      if [ -e "$f" ] || [ -L "$f" ]; then found=1; fi
    done
    [ -n "$found" ] || printf ' "%s"' "$pattern"
    set -f
  done
  set +f; unset IFS
}
knargo_collect() {
  set -f; IFS=$nl
  for pattern in $1; do
    set +f
    for f in $pattern; do
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\\n' "$f"; fi
    done
    set -f
  done | sed -e 's#^\\(\\./\\)*##' -e 's#/*$##' | sort -u | {
    kept=$nl
    while IFS= read -r f; do
      case "$f" in .knargo-out|.knargo-out/*|.git|.git/*) continue ;; esac
      parent=$f; covered=
      while [ "${parent%/*}" != "$parent" ]; do
        parent=${parent%/*}
        case "$kept" in *"$nl$parent$nl"*) covered=1 ;; esac
      done
      [ -z "$covered" ] || continue
      kept=$kept$f$nl
      case "$f" in */*) mkdir -p "$2/${f%/*}" ;; esac
      if [ "$3" = move ]; then mv -- "$f" "$2/$f"; else cp -RPp -- "$f" "$2/$f"; fi
    done
  }
  set +f; unset IFS
}
for dir in "$KNARGO_HOME"/in/*; do
  [ -d "$dir" ] || continue
  cp -RPp "$dir/." "$root/"
  echo "knargo: restored the artifacts of ${dir##*/} ($(knargo_size "$dir") KiB)"
done
hit=
if [ -n "${KNARGO_CACHE_PATHS:-}" ]; then
  digest=$(knargo_digest | { sha256sum 2>/dev/null || shasum -a 256; } | cut -d' ' -f1)
  cache=$KNARGO_HOME/cache
  if [ -f "$cache/in/digest" ] && [ "$(cat "$cache/in/digest")" = "$digest" ]; then
    cp -RPp "$cache/in/files/." "$root/"
    hit=1
    echo "knargo: cache \\"$KNARGO_CACHE_KEY\\" hit: restored $(knargo_size "$cache/in/files") KiB"
  else
    echo "knargo: cache \\"$KNARGO_CACHE_KEY\\" miss"
  fi
fi
"""

_AFTER = """\
code=$?
[ "$code" -eq 0 ] || exit "$code"
cd "$root"
if [ -n "${KNARGO_CACHE_PATHS:-}" ] && [ -z "$hit" ]; then
  if [ "${KNARGO_CACHE_SAVE:-}" != true ]; then
    echo "knargo: cache \\"$KNARGO_CACHE_KEY\\" not saved:" \\
      "a pull request from a fork reads caches and never writes them"
  else
    out=$KNARGO_HOME/cache/out
    mkdir -p "$out/files"
    knargo_collect "$KNARGO_CACHE_PATHS" "$out/files" copy
    printf '%s\\n' "$digest" > "$out/digest"
    echo "knargo: cache \\"$KNARGO_CACHE_KEY\\" saved: $(knargo_size "$out/files") KiB"
  fi
fi
if [ -n "${KNARGO_ARTIFACTS:-}" ]; then
  missing=$(knargo_missing "$KNARGO_ARTIFACTS")
  if [ -n "$missing" ] && [ "${KNARGO_ARTIFACTS_OPTIONAL:-}" != true ]; then
    echo "knargo: artifact path$missing does not exist when the job ends" \\
      "(declared in artifacts.paths; optional: true allows it)" >&2
    exit 1
  fi
  [ -z "$missing" ] || echo "knargo: optional artifact path$missing does not exist"
  out=$root/.knargo-out/files
  mkdir -p "$out"
  knargo_collect "$KNARGO_ARTIFACTS" "$out" move
  echo "knargo: artifacts kept: $(knargo_size "$out") KiB"
fi
"""


def files_command(shell: str, masked: bool = False) -> list[str]:
    """The job container's command with artifacts or a cache: restore, run the job's usual
    command (`masked`: see `jobpod.main_command`) in a subshell, then save."""
    usual = jobpod.main_command(shell, masked)[2]
    return ["sh", "-c", f"{_BEFORE}(\n{usual})\n{_AFTER}"]
