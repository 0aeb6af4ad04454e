"""Locate the shared reference data (fixtures, notes) that lives next to the repository.

The data is found in ``$KNARGO_REFERENCE_DIR`` or else in ``<repo root>/../shared``. Tests
that need it call `reference_path`, which skips them when the data is absent, or fails them
when ``KNARGO_REQUIRE_REFERENCE=1`` (as CI should set).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["reference_dir", "reference_path"]


def reference_dir() -> Path:
    """The reference directory, whether or not it exists."""
    configured = os.environ.get("KNARGO_REFERENCE_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / ".." / "shared"


def reference_path(*parts: str) -> Path:
    """The path of a reference file; skip (or fail, if required) the test when it is absent."""
    path = reference_dir().joinpath(*parts)
    if not path.exists():
        message = f"reference data not found at {path}; set KNARGO_REFERENCE_DIR"
        if os.environ.get("KNARGO_REQUIRE_REFERENCE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
