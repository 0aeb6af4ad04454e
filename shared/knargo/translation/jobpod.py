"""What runs inside a job's pod: the checkout init container and the script's entry point.

Argo rewrites `{{...}}` anywhere in a template (command, args, env values) and has no escape
syntax, and Kubernetes rewrites `$$` and `$(NAME)` in plain `env[].value`s, so user text and
values taken from the event never go into a manifest as is when they contain one of those. The
`run` script, and any such environment value, travel base64-encoded in environment variables of
the init container, which decodes them into a volume shared with the job's container (and
sources its own, the checkout's event values, before it fetches). The shell code
here is ours and contains no `{{`; a test runs it against a real git server.

Checkout: a shallow fetch of exactly the commit (`git fetch --depth=1 origin <sha>`, which
GitHub, GitLab and Gitea allow), falling back to fetching the event's ref
(`refs/pull/<n>/head` for pull requests, which also carries commits from forks) when a server
refuses to fetch a commit by id. See docs/architecture.md for why this is not Argo's git
artifact.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

__all__ = [
    "HOME",
    "INIT_SCRIPT",
    "WORKING_DIRECTORY",
    "WORKSPACE",
    "encode",
    "env_file",
    "main_command",
    "needs_encoding",
]

WORKSPACE = "/workspace"
HOME = "/knargo"

INIT_SCRIPT = """\
set -eu
if [ -n "${KNARGO_CHECKOUT_ENV:-}" ]; then
  printf '%s' "$KNARGO_CHECKOUT_ENV" | base64 -d > "$KNARGO_HOME/checkout-env"
  . "$KNARGO_HOME/checkout-env"
fi
printf '%s' "$KNARGO_SCRIPT" | base64 -d > "$KNARGO_HOME/script"
if [ -n "${KNARGO_ENV:-}" ]; then
  printf '%s' "$KNARGO_ENV" | base64 -d > "$KNARGO_HOME/env"
fi
cd "$KNARGO_WORKSPACE"
git init -q .
git remote add origin "$KNARGO_CLONE_URL"
if [ -n "${KNARGO_GIT_TOKEN:-}" ]; then
  helper='!f() { echo "username=$KNARGO_GIT_USERNAME"; echo "password=$KNARGO_GIT_TOKEN"; }; f'
  git config credential.helper "$helper"
fi
if ! git fetch -q --depth=1 origin "$KNARGO_SHA"; then
  echo "knargo: fetching $KNARGO_SHA by id failed; fetching $KNARGO_FETCH_REF" >&2
  git fetch -q origin "+$KNARGO_FETCH_REF:refs/knargo/fetched"
fi
git -c advice.detachedHead=false checkout -q --detach "$KNARGO_SHA"
git config --unset-all credential.helper || true
echo "knargo: checked out $(git rev-parse HEAD)"
"""

_RUN = {
    "sh": 'exec sh -e "$KNARGO_HOME/script"',
    "bash": 'exec bash --noprofile --norc -eo pipefail "$KNARGO_HOME/script"',
}


WORKING_DIRECTORY = "KNARGO_WORKING_DIRECTORY"
_ENTER = """\
if [ -n "${KNARGO_WORKING_DIRECTORY:-}" ]; then
  where=$KNARGO_WORKING_DIRECTORY
  cd "./$where" 2>/dev/null || {
    echo "knargo: working-directory \\"$where\\" does not exist in the checkout" >&2
    exit 1
  }
fi
"""


def main_command(shell: str) -> list[str]:
    """The job container's command: load encoded env values, enter the job's
    `working-directory` (failing, with the path named, when the checkout lacks it), then run
    the script."""
    load_env = 'if [ -f "$KNARGO_HOME/env" ]; then . "$KNARGO_HOME/env"; fi'
    return ["sh", "-c", f"{load_env}\n{_ENTER}{_RUN[shell]}\n"]


def encode(text: str) -> str:
    """Base64 of the UTF-8 text: no character Argo's templating could act on."""
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


def needs_encoding(value: str) -> bool:
    """Whether Argo or Kubernetes would rewrite `value` as a plain `env[].value`.

    Argo templates `{{`; Kubernetes turns `$$` into `$` and expands `$(NAME)` when NAME is
    set earlier in the container's environment.
    """
    return "{{" in value or "$(" in value or "$$" in value


def env_file(values: Mapping[str, str]) -> str:
    """A POSIX shell file exporting `values` exactly (single-quoted, `'` as `'\\''`)."""
    lines = []
    for name, value in values.items():
        quoted = value.replace("'", "'\\''")
        lines.append(f"export {name}='{quoted}'\n")
    return "".join(lines)
