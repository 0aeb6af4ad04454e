"""What render and lint share: reading the configuration, the catalog and `--repo`."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from knargo.cli import UsageError

if TYPE_CHECKING:
    from knargo.config.catalog import FileCatalog
    from knargo.config.settings import Settings
    from knargo.formats.diagnostics import Diagnostic

DEFAULT_HOST = "github.com"
DEFAULT_REPO = "example/repository"  # what render plans for without --repo


@dataclass(frozen=True)
class Repo:
    host: str
    repository: str

    @property
    def scope(self) -> str:
        return f"{self.host}/{self.repository}"


_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
_REPO_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# What git check-ref-format refuses in a ref: control characters, space, ~ ^ : ? * [ \ and @{.
_REF_CHARACTERS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|@\{|\.\.|//")


def parse_repo(text: str) -> Repo:
    """`[HOST/]OWNER/NAME`: the first part is a host when it has a dot, a colon or is localhost."""
    parts = text.strip("/").split("/")
    if parts and _is_host(parts[0]):
        host, rest = parts[0].lower(), parts[1:]
    else:
        host, rest = DEFAULT_HOST, parts
    if len(rest) < 2 or not all(rest):
        raise UsageError(f'--repo "{text}": expected [HOST/]OWNER/NAME')
    if not _HOST.match(host) or not all(_REPO_PART.match(p) for p in rest):
        raise UsageError(
            f'--repo "{text}": a host, then owner and name made of letters, digits, "_", "-" '
            'and "."'
        )
    return Repo(host, "/".join(rest))


def check_sha(text: str) -> str:
    """A commit id as `--sha` takes it: 40 (SHA-1) or 64 (SHA-256) hexadecimal characters."""
    if not _SHA.match(text.lower()):
        raise UsageError(f'--sha "{text}": expected a commit id of 40 or 64 hexadecimal characters')
    return text.lower()


def check_ref(flag: str, value: str, prefix: str = "") -> str:
    """A ref git itself would accept (the rules of `git check-ref-format`); `prefix` makes a
    branch name a ref."""
    ref = prefix + value
    parts = ref.split("/")
    if (
        _REF_CHARACTERS.search(ref)
        or ref.endswith((".", "/", ".lock"))
        or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)
    ):
        raise UsageError(f'{flag} "{value}": not a valid git ref name')
    return value


def check_path(path: str) -> str:
    """A path as git lists changed files: relative, without control characters or `..`."""
    if (
        not path
        or path.startswith("/")
        or ".." in path.split("/")
        or re.search(r"[\x00-\x1f\x7f]", path)
    ):
        raise UsageError(f'--changed-path "{path}": expected a path relative to the repository')
    return path


def _is_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def load_settings(path: str | None) -> Settings | None:
    """The configuration file, the embedded defaults without one, None (printed) if invalid."""
    from knargo.config.settings import Settings, load_settings

    if path is None:
        return Settings.embedded()
    settings, problems = load_settings(path)
    print_diagnostics(problems)
    return settings


def load_catalog(path: str | None) -> tuple[FileCatalog | None, bool]:
    """The catalog (or None without `--catalog`), and whether it could be read."""
    from knargo.config.catalog import load_catalog

    if path is None:
        return None, True
    catalog, problems = load_catalog(path)
    print_diagnostics(problems)
    return catalog, catalog is not None


def read_input(path: str) -> tuple[str | None, list[Diagnostic]]:
    """A file's text (`-`: standard input), or why it cannot be read; a file that does not
    exist is a usage error."""
    from pathlib import Path

    from knargo.formats.positions import read

    if path == "-":
        return sys.stdin.read(), []
    if not Path(path).exists():
        raise UsageError(f"{path}: no such file")
    return read(path)


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
