"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taxifraud.embedded.broker import start_broker
from taxifraud.embedded.process import free_port


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Tansu broker (in-memory storage) on a free port; yields its bootstrap address."""
    port = free_port()
    proc = start_broker("127.0.0.1", port, tmp_path_factory.mktemp("broker") / "broker.log")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()
