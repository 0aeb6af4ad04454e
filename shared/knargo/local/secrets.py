"""Pipeline secrets for local runs: `.knargo/secrets.env`, never printed.

The file has one `NAME=value` per line (`#` comments, blank lines and an `export ` prefix
are allowed; a value in matching single or double quotes loses them; nothing else is
interpreted). A job's `secretKeyRef` names a Kubernetes Secret derived from (scope, secret
name); it is resolved to the secret of that name in the file, looked up through the scopes
of the repository as the catalog would (`knargo.config.catalog.lookup_scopes`), else by the
environment variable's own name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from knargo.config.catalog import lookup_scopes
from knargo.formats.naming import secret_object_name

__all__ = ["Secrets", "SecretsFileError", "load_secrets"]

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


class SecretsFileError(ValueError):
    """A line of the secrets file is not `NAME=value` (the message never shows the value)."""


@dataclass(frozen=True, repr=False)
class Secrets:
    values: Mapping[str, str]

    def __repr__(self) -> str:
        return f"Secrets({sorted(self.values)})"

    def resolve(self, scope: str, env_name: str, object_name: str) -> str | None:
        """The value for a job's env var `env_name` backed by the Secret `object_name`."""
        for candidate in lookup_scopes(scope):
            for name, value in self.values.items():
                if secret_object_name(candidate, name) == object_name:
                    return value
        return self.values.get(env_name)


def load_secrets(path: Path) -> Secrets:
    """The secrets in `path` (none when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Secrets({})
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise SecretsFileError(f"{path}:{number}: expected NAME=value")
        values[match.group(1)] = _unquoted(match.group(2).strip())
    return Secrets(values)


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
