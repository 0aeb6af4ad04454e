"""The git commands the local chain needs, run in a local repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["GitError", "git", "git_bytes"]

TIMEOUT = 60.0


class GitError(Exception):
    """A git command failed; the message is git's own first line of stderr."""


def git_bytes(repository: Path, *args: str) -> bytes:
    """The standard output of `git -C repository args...`; GitError when it fails."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repository), *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took more than {TIMEOUT:.0f}s") from None
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        first = lines[0].removeprefix("fatal: ").removeprefix("error: ") if lines else ""
        raise GitError(first or f"git {args[0]} failed ({result.returncode})")
    return result.stdout


def git(repository: Path, *args: str) -> str:
    """Like `git_bytes`, as text without the trailing newline."""
    return git_bytes(repository, *args).decode("utf-8", "replace").rstrip("\n")
