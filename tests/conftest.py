"""Fixtures shared by the function tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deliveries import webhook_client
from sink import Sink, running_sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A CloudEvents sink on loopback, standing in for the broker."""
    with running_sink() as running:
        yield running


@pytest.fixture
def client(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The webhook function (functions-framework test client) publishing to `sink`."""
    return webhook_client(tmp_path, sink, monkeypatch)
