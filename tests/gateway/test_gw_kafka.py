"""POST /transactions against a real broker: what is acknowledged is really on the topic, as specified."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, read_topic

from gateway.app import create_app
from gateway.settings import Settings
from taxifraud import wire

RFC3339_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def metric(client: TestClient, sample: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.integration
def test_seed_body_is_accepted_and_stored(client: TestClient, settings: Settings) -> None:
    resp = client.post("/transactions", json=SEED_BODY)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["accepted"] == 1 and len(body["transaction_ids"]) == 1
    tid = body["transaction_ids"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", tid)

    [msg] = read_topic(settings, settings.topic_transactions, 1)
    assert msg["transaction_id"] == tid
    assert msg["_key"] == tid  # no taxi_id: keyed by the transaction
    assert RFC3339_MICROS.match(msg["ingested_at"])
    assert {k: msg[k] for k in SEED_BODY} == SEED_BODY
    rows = wire.encode_rows([msg])
    assert rows[0, wire.COLUMN_INDEX["duration_minutes"]] == 15


@pytest.mark.integration
def test_batch_of_n_all_stored_with_keys(client: TestClient, settings: Settings) -> None:
    n = 50
    batch = [{**SEED_BODY, "fare_amount": 10 + i, "taxi_id": f"TAXI{i % 5}"} for i in range(n)]
    for i in range(1, n, 2):
        batch[i]["transaction_id"] = f"own-{i}"
    resp = client.post("/transaction", json=batch)  # the alias
    assert resp.status_code == 202, resp.text
    ids = resp.json()["transaction_ids"]
    assert resp.json()["accepted"] == n and len(set(ids)) == n
    assert all(ids[i] == f"own-{i}" for i in range(1, n, 2))

    stored = read_topic(settings, settings.topic_transactions, n)
    assert sorted(m["transaction_id"] for m in stored) == sorted(ids)
    by_id = {m["transaction_id"]: m for m in stored}
    partitions: dict[str, set[int]] = {}
    for i, tid in enumerate(ids):
        msg = by_id[tid]
        assert msg["_key"] == f"TAXI{i % 5}"  # one taxi's events share a key, hence a partition
        assert msg["fare_amount"] == 10 + i
        partitions.setdefault(msg["_key"], set()).add(msg["_partition"])
    assert all(len(p) == 1 for p in partitions.values())
    assert wire.encode_rows(stored).shape == (n, wire.N_INPUT_COLUMNS)


@pytest.mark.integration
def test_many_sequential_requests_and_metrics(client: TestClient, settings: Settings) -> None:
    before = metric(client, "gateway_transactions_accepted_total")
    ids = []
    for _ in range(30):
        resp = client.post("/transactions", json=SEED_BODY)
        assert resp.status_code == 202
        ids += resp.json()["transaction_ids"]
    assert metric(client, "gateway_transactions_accepted_total") == before + 30
    assert metric(client, 'gateway_http_requests_total{method="POST",route="/transactions",status="202"}') >= 30
    assert metric(client, "gateway_request_batch_size_count") >= 30
    assert metric(client, 'gateway_http_request_duration_seconds_count{route="/transactions"}') >= 30
    stored = read_topic(settings, settings.topic_transactions, 30)
    assert sorted(m["transaction_id"] for m in stored) == sorted(ids)


def test_metric_names_match_the_contract(offline_client: TestClient) -> None:
    offline_client.get("/nowhere")
    offline_client.get("/metrics")
    text = offline_client.get("/metrics").text
    for name in (
        "gateway_http_requests_total",
        "gateway_http_request_duration_seconds_bucket",
        "gateway_transactions_accepted_total",
        'gateway_produce_failures_total{reason="timeout"}',
        'gateway_produce_failures_total{reason="queue_full"}',
        'gateway_produce_failures_total{reason="broker_error"}',
        "gateway_request_batch_size_bucket",
        'gateway_score_requests_total{outcome="ok"}',
        'gateway_score_requests_total{outcome="triton_error"}',
    ):
        assert name in text, name
    assert 'gateway_http_requests_total{method="GET",route="/metrics",status="200"}' in text
    assert 'gateway_http_requests_total{method="GET",route="other",status="404"}' in text  # bounded labels


@pytest.mark.integration
def test_readyz_reports_broker(client: TestClient, settings: Settings) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"]["broker"]["ok"] is True
    assert "triton" not in resp.json()["checks"]  # /score disabled in these settings
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.integration
def test_readyz_missing_topic(settings_factory: Callable[..., Settings], settings: Settings) -> None:
    other = settings.model_copy(update={"topic_transactions": "no-such-topic-here"})
    with TestClient(create_app(other)) as client:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert "does not exist" in resp.json()["checks"]["broker"]["error"]


@pytest.mark.integration
def test_in_flight_bound_is_503_queue_full(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(gateway_max_in_flight=3)
    with TestClient(create_app(settings)) as client:
        resp = client.post("/transactions", json=[SEED_BODY] * 4)
        assert resp.status_code == 503
        assert resp.json()["reason"] == "queue_full" and resp.headers["retry-after"] == "1"
        assert client.post("/transactions", json=[SEED_BODY] * 3).status_code == 202
        assert metric(client, 'gateway_produce_failures_total{reason="queue_full"}') >= 4
    assert len(read_topic(settings, settings.topic_transactions, 4, timeout=3)) == 3  # nothing of the 503


@pytest.mark.integration
def test_tlc_record_is_stored_under_wire_names(client: TestClient, settings: Settings) -> None:
    """A 2025 record exactly as TLC writes it reaches the topic renamed, every value kept."""
    from gateway.responses import TLC_RECORD_EXAMPLE

    resp = client.post("/transactions", json=TLC_RECORD_EXAMPLE)
    assert resp.status_code == 202, resp.text
    [msg] = read_topic(settings, settings.topic_transactions, 1)
    stored = {k: v for k, v in msg.items() if not k.startswith("_") and k not in ("ingested_at", "transaction_id")}
    assert stored == wire.normalize_keys(TLC_RECORD_EXAMPLE)
    assert {"airport_fee", "cbd_congestion_fee", "pickup_location_id"} <= set(msg)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["yellow_2025-01_head10k.parquet", "yellow_2024-11_head10k.csv"])
def test_replay_of_tlc_files_over_http_is_stored(settings: Settings, name: str) -> None:
    """``taxifraud replay --data`` on TLC's own files: every trip accepted by a real gateway and on the topic."""
    import asyncio

    from gw_helpers import serve_in_thread

    from operations.replay import LabelledTrips, ReplayStats, batches_for, send_http, trip_source
    from tests.recent_files import recent_file

    path = recent_file(name)
    n = 2000
    trips = LabelledTrips(trip_source([str(path)], seed=0), fraud_rate=0.0, seed=0, run_id="tlc")
    stats = ReplayStats()
    with serve_in_thread(create_app(settings)) as url:
        asyncio.run(send_http(batches_for(trips, 100, n, None, 0), url, 0, 4, stats))
    assert (stats.sent, stats.accepted, stats.rejected, stats.errors) == (n, n, 0, 0), stats.error_samples
    stored = read_topic(settings, settings.topic_transactions, n)
    assert sorted(m["transaction_id"] for m in stored) == sorted(trips.labels)
    assert all(set(m) - {"_key", "_partition", "ingested_at"} <= set(wire.WIRE_FIELDS) for m in stored)
    assert any("airport_fee" in m for m in stored)
