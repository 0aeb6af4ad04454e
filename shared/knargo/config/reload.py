"""Mounted configuration that takes effect without a restart.

Kubelet updates a mounted ConfigMap or Secret in place: it writes the new files into a new
directory (`..2026_12_01_10_00_00.123456789`) and atomically repoints the `..data` symlink
at it; every visible name is a symlink through `..data`. A file mounted with `subPath` is
never updated, so the functions mount whole directories.

`Reloading` holds what a function loaded from such files. `current()` looks at the files at
most once per `interval` (one `stat` per file, on the request that asks; no thread), and
when one changed it loads everything again: a valid result replaces the old one, an invalid
one keeps the last good value and is reported once (`on_problem(file, message)`) until the
files change again. `problem` says what the last refused load found.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from knargo.contract.errors import StartupError

__all__ = ["Reloading", "Stamp", "stamp"]

T = TypeVar("T")
Stamp = tuple[tuple[str, tuple[int, int, int] | None], ...]


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)  # follows `name -> ..data/name -> ..2026_…/name`
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def stamp(paths: Sequence[str | Path]) -> Stamp:
    """Inode, mtime and size of each file, and of each visible file of each directory."""
    found: list[tuple[str, tuple[int, int, int] | None]] = []
    for path in map(str, paths):
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.startswith(".."))
            found += [(p, _identity(p)) for p in (os.path.join(path, n) for n in names)]
        else:
            found.append((path, _identity(path)))
    return tuple(found)


class Reloading(Generic[T]):
    """The value `load()` builds from `paths`, loaded again after they change."""

    def __init__(
        self,
        load: Callable[[], T],
        paths: Sequence[str | Path],
        on_problem: Callable[[str, str], None] = lambda _file, _message: None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._paths, self._on_problem = load, tuple(paths), on_problem
        self._interval, self._clock = interval, clock
        self._stamp = stamp(self._paths)
        self._value = load()  # at start-up an invalid file stops the function
        self._checked = clock()
        self._refused: Stamp | None = None
        self._lock = threading.Lock()
        self.problem: str | None = None
        """The last refused configuration's message, until a valid one is loaded."""

    @classmethod
    def fixed(cls, value: T) -> Reloading[T]:
        """A value that never reloads (for tests and the local chain)."""
        return cls(lambda: value, ())

    def current(self) -> T:
        now = self._clock()
        if now - self._checked < self._interval or not self._lock.acquire(blocking=False):
            return self._value  # checked recently, or another request is checking now
        try:
            self._checked = now
            seen = stamp(self._paths)
            if seen != self._stamp and seen != self._refused:
                self._reload(seen)
        finally:
            self._lock.release()
        return self._value

    def _reload(self, seen: Stamp) -> None:
        try:
            value = self._load()
        except StartupError as exc:
            self._refused, self.problem = seen, str(exc)
            self._on_problem(_changed(self._stamp, seen), str(exc))
            return
        self._value, self._stamp, self._refused, self.problem = value, seen, None, None


def _changed(before: Stamp, after: Stamp) -> str:
    """The first file that differs, to name in the metric."""
    old, new = dict(before), dict(after)
    changed = [path for path, identity in after if old.get(path) != identity]
    return next(iter(changed + [path for path in old if path not in new]), "")
