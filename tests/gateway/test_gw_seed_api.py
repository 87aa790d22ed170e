"""The seed's own API, unchanged: ``POST /api/v1/transaction`` with its example body, and ``GET /health``.

Anything written against the seed must talk to this gateway without edits: the same path, the same
request body, a response with the seed's ``TransactionResponse`` fields (``status``, ``transaction_id``,
``message``, ``timestamp``) and its ``HealthResponse`` (``status``, ``timestamp``, ``version``,
``kafka_connected``). Acceptance still means what it means on ``/transactions``: the broker acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, make_settings, read_topic

from gateway.app import create_app
from gateway.handlers import Gateway, handle_seed_transaction
from gateway.health import BrokerProbe
from gateway.responses import SEED_API_EXAMPLE
from gateway.settings import Settings
from operations.embedded.process import free_port
from taxifraud.kafka import ensure_topics
from tests.kafka_broker import start_test_broker

#: The seed's example request, verbatim (``taxifraud`` README / the seed's ``TransactionRequest``).
SEED_EXAMPLE = {
    "transaction_id": "550e8400-e29b-41d4-a716-446655440000",
    "pickup_datetime": "2023-01-01T00:26:10",
    "dropoff_datetime": "2023-01-01T00:37:11",
    "passenger_count": 1,
    "trip_distance": 2.58,
    "fare_amount": 24.18,
    "payment_type": 1,
    "vendor_id": 2,
}
SEED_RESPONSE_FIELDS = {"status", "transaction_id", "message", "timestamp"}
SEED_HEALTH_FIELDS = {"status", "timestamp", "version", "kafka_connected"}


def _is_timestamp(text: str) -> bool:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None


def test_documented_example_is_the_seeds() -> None:
    assert SEED_API_EXAMPLE == SEED_EXAMPLE


@pytest.mark.integration
def test_seed_example_is_accepted_in_the_seeds_shape_and_stored(client: TestClient, settings: Settings) -> None:
    resp = client.post("/api/v1/transaction", json=SEED_EXAMPLE)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body.keys() >= SEED_RESPONSE_FIELDS
    assert body["status"] == "accepted"
    assert body["transaction_id"] == SEED_EXAMPLE["transaction_id"]
    assert isinstance(body["message"], str) and body["message"]
    assert _is_timestamp(body["timestamp"])
    assert body["accepted"] == 1 and body["transaction_ids"] == [SEED_EXAMPLE["transaction_id"]]  # ours too

    [msg] = read_topic(settings, settings.topic_transactions, 1)
    assert {k: msg[k] for k in SEED_EXAMPLE} == SEED_EXAMPLE
    assert msg["ingested_at"] == body["timestamp"]
    assert msg["_key"] == SEED_EXAMPLE["transaction_id"]


@pytest.mark.integration
def test_seed_path_takes_what_transactions_takes(client: TestClient, settings: Settings) -> None:
    """Same rules as /transactions: the 3-field seed body, batches (transaction_id null), 422 for junk."""
    accepted_202 = 'gateway_http_requests_total{method="POST",route="/api/v1/transaction",status="202"}'
    before = _metric(client, accepted_202)  # the registry is per process: other tests count too
    resp = client.post("/api/v1/transaction", json=SEED_BODY)
    assert resp.status_code == 202, resp.text
    assert resp.json()["transaction_id"] == resp.json()["transaction_ids"][0]
    resp = client.post("/api/v1/transaction", json=[SEED_BODY, SEED_EXAMPLE])
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "accepted" and body["transaction_id"] is None and body["accepted"] == 2
    assert body["transaction_ids"][1] == SEED_EXAMPLE["transaction_id"]
    assert len(read_topic(settings, settings.topic_transactions, 3)) == 3
    bad = client.post("/api/v1/transaction", json={**SEED_EXAMPLE, "fare": 1.0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "fare"]
    assert client.post("/api/v1/transaction", json=[SEED_BODY] * 1001).status_code == 413

    assert _metric(client, accepted_202) == before + 2
    assert 'route="/api/v1/transaction",status="422"' in client.get("/metrics").text


def _metric(client: TestClient, sample: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.integration
def test_seed_path_needs_the_api_key_like_the_others(settings_factory: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_factory(gateway_api_keys="seed-key-0123"))) as client:
        assert client.post("/api/v1/transaction", json=SEED_EXAMPLE).status_code == 401
        resp = client.post("/api/v1/transaction", json=SEED_EXAMPLE, headers={"X-API-Key": "seed-key-0123"})
        assert resp.status_code == 202, resp.text
        assert client.get("/health").status_code == 200  # open, like /healthz


def test_seed_path_answers_only_after_the_ack() -> None:
    """The handler's answer waits for the producer's acknowledgement, whatever the path."""
    acked = asyncio.Event()
    produced: list[tuple[str, bytes | None, bytes]] = []

    class HeldProducer:
        async def send(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
            produced.extend(messages)
            await acked.wait()

    settings = make_settings(f"127.0.0.1:{free_port()}")
    gw = Gateway(settings=settings, producer=HeldProducer(), audit=HeldProducer(), scoring=None, api_keys=())  # type: ignore[arg-type]

    async def scenario() -> None:
        body = orjson.dumps(SEED_EXAMPLE)
        scope: dict[str, Any] = {"headers": [(b"content-length", str(len(body)).encode())]}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        task = asyncio.ensure_future(handle_seed_transaction(gw, scope, receive))
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert produced and not task.done()  # produced, but no answer before the ack
        acked.set()
        reply = await asyncio.wait_for(task, 5)
        assert reply.status == 202 and orjson.loads(reply.body)["status"] == "accepted"

    asyncio.run(scenario())


def test_seed_path_is_503_without_a_broker(offline_client: TestClient) -> None:
    resp = offline_client.post("/api/v1/transaction", json=SEED_EXAMPLE)
    assert resp.status_code == 503, resp.text
    assert resp.json()["reason"] == "timeout" and "status" not in resp.json()
    assert int(resp.headers["retry-after"]) >= 1


@pytest.mark.integration
def test_health_up(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body.keys() >= SEED_HEALTH_FIELDS
    assert body["status"] == "healthy" and body["kafka_connected"] is True
    assert isinstance(body["version"], str) and body["version"]
    assert _is_timestamp(body["timestamp"])
    assert client.get("/healthz").json() == {"status": "ok"}  # kept as it was
    assert 'route="/health",status="200"' in client.get("/metrics").text


def test_health_down_on_a_closed_port(offline_client: TestClient) -> None:
    resp = offline_client.get("/health")
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body.keys() >= SEED_HEALTH_FIELDS
    assert body["status"] == "unhealthy" and body["kafka_connected"] is False and body["error"]
    assert offline_client.get("/healthz").status_code == 200  # liveness does not depend on the broker


@pytest.mark.integration
def test_health_follows_the_broker_down_and_back(tmp_path: Path) -> None:
    port = free_port()
    broker, _ = start_test_broker(tmp_path, port)
    try:
        settings = make_settings(f"127.0.0.1:{port}", gateway_readiness_timeout_s=0.5)
        ensure_topics(settings)
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").json()["kafka_connected"] is True

            broker.kill()
            body = _health_until(client, connected=False, within=10)
            assert body["status"] == "unhealthy" and body["error"]

            broker, _ = start_test_broker(tmp_path, port)  # the same data directory: a restart
            ensure_topics(settings)
            body = _health_until(client, connected=True, within=30)
            assert body["status"] == "healthy"
    finally:
        broker.stop()


def _health_until(client: TestClient, connected: bool, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        resp = client.get("/health")
        body: dict[str, Any] = resp.json()
        assert resp.status_code == (200 if body["kafka_connected"] else 503), resp.text
        if body["kafka_connected"] is connected or time.monotonic() > deadline:
            assert body["kafka_connected"] is connected, body
            return body
        time.sleep(0.2)


def test_broker_probe_runs_one_check_at_a_time_and_caches_it() -> None:
    calls: list[float] = []

    def check(timeout: float) -> dict[str, Any]:
        calls.append(timeout)
        time.sleep(0.05)
        return {"ok": True, "brokers": 1}

    async def scenario() -> None:
        probe = BrokerProbe(check, timeout=0.5, cache_s=0.3)
        results = await asyncio.gather(*(probe.result() for _ in range(20)))
        assert all(r["ok"] for r in results) and calls == [0.5]  # 20 concurrent requests, one check
        await probe.result()
        assert len(calls) == 1  # cached
        await asyncio.sleep(0.35)
        await probe.result()
        assert len(calls) == 2  # expired: checked again

    asyncio.run(scenario())


def test_broker_probe_turns_a_raising_check_into_unhealthy() -> None:
    def check(timeout: float) -> dict[str, Any]:
        raise RuntimeError("boom")

    from gateway.health import health_body

    result = asyncio.run(BrokerProbe(check, timeout=0.1).result())
    status, body = health_body(result)
    assert status == 503 and body["kafka_connected"] is False and "boom" in body["error"]
