"""What render and lint share: reading the configuration, the catalog and `--repo`."""

from __future__ import annotations

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


def parse_repo(text: str) -> Repo:
    """`[HOST/]OWNER/NAME`: the first part is a host when it has a dot, a colon or is localhost."""
    parts = text.strip("/").split("/")
    if parts and _is_host(parts[0]):
        host, rest = parts[0].lower(), parts[1:]
    else:
        host, rest = DEFAULT_HOST, parts
    if len(rest) < 2 or not all(rest):
        raise UsageError(f'--repo "{text}": expected [HOST/]OWNER/NAME')
    return Repo(host, "/".join(rest))


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


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
