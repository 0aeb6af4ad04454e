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

Masking: the command of a job that reads secrets runs the script through an `awk` filter
that masks their values in what it writes (`main_command`), so the pod log never has them;
that command needs `awk` in the job's image besides `sh` (busybox has it).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

__all__ = [
    "CHECKOUT",
    "CHECKOUT_SCRIPT",
    "HOME",
    "INIT_SCRIPT",
    "MASKED",
    "MIN_MASKED",
    "WORKING_DIRECTORY",
    "WORKSPACE",
    "encode",
    "env_file",
    "main_command",
    "needs_encoding",
]

WORKSPACE = "/workspace"
HOME = "/knargo"

_DECODE = """\
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
"""
_CHECKED_OUT = 'echo "knargo: checked out $(git rev-parse HEAD)"\n'
_HELPER = (
    """helper='!f() { echo "username=$KNARGO_GIT_USERNAME"; """
    """echo "password=$KNARGO_GIT_TOKEN"; }; f'\n"""
)

INIT_SCRIPT = (
    _DECODE
    + """\
git init -q .
git remote add origin "$KNARGO_CLONE_URL"
if [ -n "${KNARGO_GIT_TOKEN:-}" ]; then
  """
    + _HELPER
    + """\
  git config credential.helper "$helper"
fi
if ! git fetch -q --depth=1 origin "$KNARGO_SHA"; then
  echo "knargo: fetching $KNARGO_SHA by id failed; fetching $KNARGO_FETCH_REF" >&2
  git fetch -q origin "+$KNARGO_FETCH_REF:refs/knargo/fetched"
fi
git -c advice.detachedHead=false checkout -q --detach "$KNARGO_SHA"
git config --unset-all credential.helper || true
"""
    + _CHECKED_OUT
)
"""The checkout of a Workflow whose jobs all take the default: the commit alone."""

CHECKOUT = "KNARGO_CHECKOUT"
CHECKOUT_SCRIPT = (
    _DECODE
    + """\
depth=--depth=1 tags=--no-tags submodules=
for option in ${KNARGO_CHECKOUT:-}; do
  case $option in
    false) echo "knargo: no checkout (checkout: false)"; exit 0 ;;
    depth=0) depth= ;;
    depth=*) depth=--depth=${option#depth=} ;;
    tags) tags=--tags ;;
    submodules) submodules=--recursive ;;
  esac
done
git init -q .
git remote add origin "$KNARGO_CLONE_URL"
if [ -n "${KNARGO_GIT_TOKEN:-}" ]; then
  scope=$KNARGO_CLONE_URL
  if [ "${KNARGO_GIT_SCOPE:-}" = forge ]; then
    scope=$(printf '%s\\n' "$scope" | sed 's,^\\([^:/]*://[^/]*\\).*,\\1,')
  fi
  """
    + _HELPER
    + """\
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="credential.$scope.helper"
  export GIT_CONFIG_VALUE_0="$helper"
fi
set -- "$KNARGO_SHA"
fetched=refs/knargo/fetched
case $KNARGO_FETCH_REF in
  refs/tags/*) set -- "$@" "+$KNARGO_FETCH_REF:$KNARGO_FETCH_REF"; fetched=$KNARGO_FETCH_REF ;;
esac
if ! git fetch -q $depth $tags origin "$@"; then
  echo "knargo: fetching $KNARGO_SHA by id failed; fetching $KNARGO_FETCH_REF" >&2
  git fetch -q $tags origin "+$KNARGO_FETCH_REF:$fetched"
fi
git -c advice.detachedHead=false checkout -q --detach "$KNARGO_SHA"
if [ -n "$submodules" ]; then
  git submodule update -q --init --recursive ${depth:+--depth=1}
fi
"""
    + _CHECKED_OUT
)
"""The checkout with options, for a Workflow where a job has `checkout:` options.

`KNARGO_CHECKOUT` (one per job) holds words: `false` (no checkout: the script and env files
are decoded, nothing is fetched), `depth=N` (0: the full history), `tags`, `submodules`. A
tag push also fetches its tag. The forge token reaches git through `GIT_CONFIG_*` in this
container's environment only (nothing is written to `.git/config`, so neither the job nor a
submodule's configuration sees it), scoped to the clone URL, or to its forge
(`KNARGO_GIT_SCOPE=forge`) so that submodules on the same forge are fetched with it.
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


MASKED = "KNARGO_MASKED"
"""The env var naming (space-separated) the job's secret variables, whose values the job's
command masks in its log: names only, the values stay in the Secrets."""

MIN_MASKED = 4
"""Shorter values are not masked: `***` in place of every `on` or `42` would garble the log
and say which short strings the secret is."""

_END = r"\001knargo: end of log\001"
"""What the command writes after the script's last output: the filter stops there, so that a
process the script left running with its output open does not keep the job alive."""

# The filter: every line the script writes, with every value (each line of a multi-line
# value, blanks around it stripped) of the variables named in KNARGO_MASKED replaced by ***,
# literally (index, not a regex), the longest first, flushed line by line. LC_ALL=C: bytes.
_MASK_AWK = (
    r"""function mask(line,  i, k, out) {
  for (i = 1; i <= count; i++) {
    out = ""
    while ((k = index(line, piece[i])) > 0) {
      out = out substr(line, 1, k - 1) "***"
      line = substr(line, k + length(piece[i]))
    }
    line = out line
  }
  return line
}
BEGIN {
  end = "@END@"
  names = split(ENVIRON["@MASKED@"], name, " ")
  for (n = 1; n <= names; n++) {
    lines = split(ENVIRON[name[n]], part, "\n")
    for (j = 1; j <= lines; j++) {
      p = part[j]
      sub(/^[ \t\r]+/, "", p)
      sub(/[ \t\r]+$/, "", p)
      if (length(p) >= @MIN@ && !(p in seen)) {
        seen[p] = 1
        piece[++count] = p
      }
    }
  }
  for (i = 2; i <= count; i++) {
    p = piece[i]
    for (j = i - 1; j > 0 && length(piece[j]) < length(p); j--) piece[j + 1] = piece[j]
    piece[j + 1] = p
  }
}
{
  cut = length($0) - length(end)
  if (cut >= 0 && substr($0, cut + 1) == end) {
    if (cut > 0) printf "%s", mask(substr($0, 1, cut))
    exit
  }
  print mask($0)
  fflush()
}""".replace("@END@", _END)
    .replace("@MASKED@", MASKED)
    .replace("@MIN@", str(MIN_MASKED))
)

_MASKED_RUN = {
    "sh": 'sh -e "$KNARGO_HOME/script"',
    "bash": 'bash --noprofile --norc -eo pipefail "$KNARGO_HOME/script"',
}

# The script's stdout and stderr each through the filter, to the container's stdout and
# stderr; its exit status through a file (POSIX sh has no pipefail), then the end marks.
_MASKED = (
    """\
if ! command -v awk >/dev/null 2>&1; then
  echo "knargo: the job reads secrets, and its image has no awk to mask them in its log" >&2
  exit 127
fi
# mawk reads its input in whole blocks unless told to read lines.
interactive=
case $(awk -W version 2>&1 </dev/null) in *mawk*) interactive="-W interactive" ;; esac
knargo_mask() { trap '' TERM; LC_ALL=C awk $interactive '"""
    + _MASK_AWK
    + """'; }
# Argo's executor signals the whole process group: the script gets SIGTERM, the filters
# ignore it to keep masking what the script writes as it stops, and the shells (a subshell
# resets traps) wait for it.
trap : TERM
status=$KNARGO_HOME/exit-status
{ trap : TERM; { trap : TERM; @RUN@ 3>&-; echo "$?" >"$status"; printf '"""
    + _END
    + """\\n'; printf '"""
    + _END
    + """\\n' >&2
} 2>&1 1>&3 3>&- | knargo_mask >&2 3>&-; } 3>&1 | knargo_mask
code=1
if [ -f "$status" ]; then read -r code <"$status"; fi
exit "$code"
"""
)


def main_command(shell: str, masked: bool = False) -> list[str]:
    """The job container's command: load encoded env values, enter the job's
    `working-directory` (failing, with the path named, when the checkout lacks it), then run
    the script; `masked` (a job with secrets): its output through the filter that masks the
    values of the variables `MASKED` names, keeping its exit status."""
    load_env = 'if [ -f "$KNARGO_HOME/env" ]; then . "$KNARGO_HOME/env"; fi'
    run = _MASKED.replace("@RUN@", _MASKED_RUN[shell]) if masked else _RUN[shell] + "\n"
    return ["sh", "-c", f"{load_env}\n{_ENTER}{run}"]


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
