"""The public API: sorted, complete, and importable from the package."""

from __future__ import annotations

import subprocess
import sys

import knargo


def test_all_is_sorted_and_resolves() -> None:
    assert knargo.__all__ == sorted(knargo.__all__)
    for name in knargo.__all__:
        assert getattr(knargo, name) is not None


def test_importing_the_package_does_not_import_pydantic() -> None:
    code = "import sys, knargo; print('pydantic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
