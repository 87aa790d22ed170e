"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka_broker import start_test_broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Apache Kafka broker (KRaft, single node) for the whole session; yields its bootstrap address."""
    proc, options = start_test_broker(tmp_path_factory.mktemp("broker"))
    try:
        yield options.bootstrap
    finally:
        proc.stop()
