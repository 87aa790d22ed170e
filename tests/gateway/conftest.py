"""Fixtures for the gateway tests: one real Kafka broker per session, fresh topics per test.

Ports always come from ``free_port()`` (other engineers run brokers and Tritons on this machine at the
same time); every process started here is stopped by its fixture's finaliser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gw_helpers import make_settings

from gateway.app import create_app
from gateway.settings import Settings
from operations.embedded.process import free_port
from taxifraud.kafka import ensure_topics


@pytest.fixture
def settings_factory(broker: str) -> Callable[..., Settings]:
    """Settings on the session broker with this test's own topics, created before returning."""

    def factory(**overrides: Any) -> Settings:
        settings = make_settings(broker, **overrides)
        ensure_topics(settings)
        return settings

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def offline_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A gateway whose broker address is a closed port: for everything answered before producing."""
    settings = make_settings(f"127.0.0.1:{free_port()}", gateway_produce_timeout_s=1.0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
