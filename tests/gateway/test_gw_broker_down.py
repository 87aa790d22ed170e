"""Broker unavailable: 503 (with the reason and Retry-After), never a 202, and nothing stored behind our back.

How fast the 503 comes is a matter for ``make bench``, not for a test on a shared machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, make_settings, read_topic

from gateway.app import create_app
from operations.embedded.process import free_port
from taxifraud.kafka import ensure_topics
from tests.kafka_broker import start_test_broker

TIMEOUT_S = 1.0


def _accepted_within(client: TestClient, seconds: float) -> list[str]:
    """Post until the first 202; the ids it accepted (empty if none came within ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        resp = client.post("/transactions", json=SEED_BODY)
        if resp.status_code == 202:
            return list(resp.json()["transaction_ids"])
    return []


def test_closed_port_is_503(offline_client: TestClient) -> None:
    resp = offline_client.post("/transactions", json=[SEED_BODY, SEED_BODY])
    assert resp.status_code == 503, resp.text
    assert resp.json()["reason"] == "timeout"
    assert int(resp.headers["retry-after"]) >= 1
    ready = offline_client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["broker"]["ok"] is False


@pytest.mark.integration
def test_broker_stops_then_returns(tmp_path: Path) -> None:
    """Stop the broker under a running gateway, then bring it back on the same port.

    The transaction answered 503 while it was down must not appear once it is back (librdkafka expired
    it; it was not quietly retried), the one acknowledged before the crash is still there after it, and
    the gateway recovers without a restart.
    """
    port = free_port()
    broker, _ = start_test_broker(tmp_path, port)
    try:
        settings = make_settings(f"127.0.0.1:{port}", gateway_produce_timeout_s=TIMEOUT_S)
        ensure_topics(settings)
        with TestClient(create_app(settings)) as client:
            # A new idempotent producer needs ~1 s for its producer id; with a 1 s timeout the very first
            # message may expire. Retry until the first 202.
            warm_up = _accepted_within(client, 10)
            assert warm_up

            broker.kill()  # a crash
            resp = client.post("/transactions", json={**SEED_BODY, "transaction_id": "lost-while-down"})
            assert resp.status_code == 503, resp.text
            assert int(resp.headers["retry-after"]) >= 1
            assert resp.json()["reason"] in ("timeout", "broker_error")
            assert client.get("/readyz").status_code == 503

            broker, _ = start_test_broker(tmp_path, port)  # the same data directory: a restart, not a new broker
            ensure_topics(settings)
            accepted: list[str] = []
            deadline = time.monotonic() + 30
            while len(accepted) < 3 and time.monotonic() < deadline:
                # The first sends after the restart may fail: the new broker does not know our idempotent
                # producer id (librdkafka either fails fatally or retries forever), so the gateway rebuilds
                # its producer, and a new producer id takes about a second.
                resp = client.post("/transactions", json={**SEED_BODY, "transaction_id": f"after-{len(accepted)}"})
                if resp.status_code == 202:
                    accepted += resp.json()["transaction_ids"]
                else:
                    assert resp.status_code == 503
            assert accepted == ["after-0", "after-1", "after-2"]
            assert client.get("/readyz").status_code == 200
            time.sleep(1.0)  # give a wrongly retried message time to land
            stored = [m["transaction_id"] for m in read_topic(settings, settings.topic_transactions, 10, timeout=4)]
            assert sorted(stored) == sorted(warm_up + accepted)  # what was acked before the crash survived it
            assert "lost-while-down" not in stored
    finally:
        broker.stop()
