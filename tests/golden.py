"""Golden files: compare rendered output with a file committed next to its input.

`KNARGO_UPDATE_GOLDEN=1 pytest` rewrites the files instead of comparing; it refuses to under
CI, where a missing or stale golden file must fail.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

__all__ = ["assert_golden"]


def _updating() -> bool:
    if os.environ.get("KNARGO_UPDATE_GOLDEN") != "1":
        return False
    if os.environ.get("CI"):
        pytest.fail("KNARGO_UPDATE_GOLDEN=1 is refused under CI")
    return True


def assert_golden(path: Path, actual: str) -> None:
    if _updating():
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with KNARGO_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), str(path), "actual"
            )
        )
        pytest.fail(f"output differs from {path} (KNARGO_UPDATE_GOLDEN=1 rewrites it):\n{diff}")
