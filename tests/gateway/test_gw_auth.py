"""API keys: required on every write endpoint when configured, never on health/metrics/docs, never logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, make_settings

from gateway.app import create_app
from gateway.settings import Settings
from operations.embedded.process import free_port

KEYS = "k3y-one-0123456789, second-key-abcdef"


@pytest.mark.integration
def test_auth_on(settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_factory(gateway_api_keys=KEYS)
    with TestClient(create_app(settings)) as client:
        for path in ("/transactions", "/transaction", "/api/v1/transaction", "/score"):
            for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": "k3y-one-012345678"}):
                resp = client.post(path, json=SEED_BODY, headers=headers)
                assert resp.status_code == 401, (path, headers, resp.text)
                assert resp.json()["detail"] == "missing or invalid X-API-Key"
        # auth is checked before the body: an invalid body without a key is still 401
        assert client.post("/transactions", content=b"garbage").status_code == 401
        for key in ("k3y-one-0123456789", "second-key-abcdef"):
            resp = client.post("/transactions", json=SEED_BODY, headers={"x-api-key": key})
            assert resp.status_code == 202, resp.text
        for path in ("/health", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        doc = client.get("/openapi.json").json()
        assert doc["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
        assert doc["paths"]["/transactions"]["post"]["security"] == [{"ApiKey": []}]
    assert "k3y-one" not in caplog.text and "second-key" not in caplog.text
    assert "k3y-one" not in repr(settings) and "k3y-one" not in str(settings.model_dump())


def test_auth_off_by_default(offline_client: TestClient) -> None:
    resp = offline_client.post("/transactions", json={"trip_distance": -1, "fare_amount": 1, "duration_minutes": 1})
    assert resp.status_code == 422  # got past auth without a key
    doc = offline_client.get("/openapi.json").json()
    assert "securitySchemes" not in doc.get("components", {})
    assert "401" not in doc["paths"]["/transactions"]["post"]["responses"]


def test_keys_parsing() -> None:
    settings = make_settings(f"127.0.0.1:{free_port()}", gateway_api_keys=" a ,, b,")
    assert settings.api_keys() == (b"a", b"b")
    assert make_settings("x:1").api_keys() == ()
