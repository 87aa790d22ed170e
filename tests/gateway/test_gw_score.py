"""POST /score against a real Triton: parity with in-process ONNX Runtime, audit trail on Kafka, 503s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, make_settings, read_topic

from gateway.app import create_app
from gateway.schema import parse_transactions, stamp
from gateway.settings import Settings
from operations.embedded.process import free_port
from taxifraud import wire
from taxifraud.config import DEFAULT_MODEL_REPOSITORY, MODEL_NAME

MODEL_FILE = DEFAULT_MODEL_REPOSITORY / MODEL_NAME / "1" / "model.onnx"
needs_model = pytest.mark.skipif(not MODEL_FILE.exists(), reason=f"no trained model at {MODEL_FILE} yet")

TRIPS = [
    SEED_BODY,
    {
        "taxi_id": "5J23",
        "vendor_id": 2,
        "pickup_datetime": "2026-11-24 08:10:00",
        "dropoff_datetime": "2026-11-24 08:31:00",
        "passenger_count": 1,
        "trip_distance": 4.1,
        "rate_code_id": 1,
        "pickup_location_id": 161,
        "dropoff_location_id": 236,
        "payment_type": 1,
        "fare_amount": 21.2,
        "extra": 0.0,
        "mta_tax": 0.5,
        "tip_amount": 5.0,
        "tolls_amount": 0.0,
        "improvement_surcharge": 1.0,
        "total_amount": 30.2,
        "congestion_surcharge": 2.5,
    },
    # Fraud-looking but valid input: $900 on one mile in two minutes, with a tip to match.
    {
        "trip_distance": 1.0,
        "fare_amount": 900.0,
        "duration_minutes": 2,
        "tip_amount": 300.0,
        "total_amount": 1203.0,
        "payment_type": 1,
        "pickup_datetime": "2026-11-24 03:00:00",
    },
    {"trip_distance": 0.0, "fare_amount": 250.0, "duration_minutes": 0.2, "payment_type": 2},
]


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tritonserver on free ports serving the repository's model (CPU, ``embedded`` config)."""
    if not MODEL_FILE.exists():
        pytest.skip(f"no trained model at {MODEL_FILE} yet")
    from operations.embedded.triton import start_triton

    work = tmp_path_factory.mktemp("triton")
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    proc = start_triton(
        DEFAULT_MODEL_REPOSITORY, work, "127.0.0.1", http_port, grpc_port, metrics_port, work / "triton.log"
    )
    try:
        yield f"127.0.0.1:{grpc_port}"
    finally:
        proc.stop()


@pytest.fixture
def score_settings(settings_factory: Callable[..., Settings], triton: str) -> Settings:
    return settings_factory(gateway_score_enabled=True, triton_grpc_url=triton)


@needs_model
@pytest.mark.integration
def test_score_matches_in_process_onnx(score_settings: Settings) -> None:
    from taxifraud.model_meta import ModelMeta
    from taxifraud.onnx_scorer import OnnxScorer
    from taxifraud.verdicts import build_verdicts

    with TestClient(create_app(score_settings)) as client:
        assert client.get("/readyz").json()["checks"]["triton"]["ok"] is True
        resp = client.post("/score", json=TRIPS)
        assert resp.status_code == 200, resp.text
        verdicts = resp.json()["verdicts"]
        single = client.post("/score", json=TRIPS[2])
        assert single.status_code == 200 and len(single.json()["verdicts"]) == 1

    # The same trips, scored in-process through the same wire parsing and verdict code.
    items, _ = parse_transactions(__import__("orjson").dumps(TRIPS), 100)
    stamp(items, "2026-11-28T00:00:00.000000Z")
    rows = wire.encode_rows(items)
    meta = ModelMeta.load(score_settings.model_repository)
    expected = build_verdicts(items, rows, OnnxScorer(score_settings.model_repository).infer(rows), meta)

    assert len(verdicts) == len(TRIPS)
    for got, want in zip(verdicts, expected, strict=True):
        assert got["is_fraud"] == want["is_fraud"]
        assert got["score"] == pytest.approx(want["score"], rel=1e-4, abs=1e-5)
        assert got["reasons"] == want["reasons"]
        assert got["threshold"] == meta.threshold and got["model_version"] == meta.model_version
        assert got["scored_at"].endswith("Z") and got["ingested_at"].endswith("Z")
    assert single.json()["verdicts"][0]["is_fraud"] == expected[2]["is_fraud"]
    assert verdicts[2]["is_fraud"] and verdicts[2]["reasons"]  # $900 on one mile: flagged, with reasons


@needs_model
@pytest.mark.integration
def test_score_audit_trail(score_settings: Settings) -> None:
    s = score_settings
    with TestClient(create_app(s)) as client:
        verdicts = client.post("/score", json=TRIPS).json()["verdicts"]
        metrics = client.get("/metrics").text
    assert 'gateway_score_requests_total{outcome="ok"}' in metrics
    ids = [v["transaction_id"] for v in verdicts]
    audit = read_topic(s, s.topic_verdicts, len(TRIPS))
    assert sorted(a["transaction_id"] for a in audit) == sorted(ids)
    for record in audit:
        assert record["source"] == "score"
        assert record["_key"] == record["transaction_id"]
        assert record["transaction"]["transaction_id"] == record["transaction_id"]
        assert "ingested_at" in record["transaction"]
    frauds = [v for v in verdicts if v["is_fraud"]]
    alerts = read_topic(s, s.topic_alerts, len(frauds) + 1, timeout=3 if frauds else 1)
    assert sorted(a["transaction_id"] for a in alerts) == sorted(v["transaction_id"] for v in frauds)
    assert all(a["transaction"]["transaction_id"] == a["transaction_id"] for a in alerts)
    # Scored transactions are NOT put on the transactions topic (the consumer would score them again).
    assert read_topic(s, s.topic_transactions, 1, timeout=1) == []


@needs_model
@pytest.mark.integration
def test_score_with_broker_down_is_503_not_200(triton: str) -> None:
    """Scored, but the audit record was not stored: the decision must not be handed out (503, reason)."""
    settings = make_settings(
        f"127.0.0.1:{free_port()}", gateway_score_enabled=True, triton_grpc_url=triton, gateway_produce_timeout_s=1.0
    )
    with TestClient(create_app(settings)) as client:
        resp = client.post("/score", json=TRIPS[:2])
    assert resp.status_code == 503, resp.text
    assert resp.json()["reason"] == "timeout" and "audit" in resp.json()["detail"]
    assert int(resp.headers["retry-after"]) >= 1


def test_score_without_triton_is_503(tmp_path: Path) -> None:
    settings = make_settings(
        f"127.0.0.1:{free_port()}", gateway_score_enabled=True, triton_grpc_url=f"127.0.0.1:{free_port()}"
    )
    with TestClient(create_app(settings)) as client:
        resp = client.post("/score", json=SEED_BODY)
        assert resp.status_code == 503
        assert resp.json()["reason"] == "scoring" and "retry-after" in resp.headers
        assert client.post("/score", json={"trip_distance": "x"}).status_code == 422  # validation first
        ready = client.get("/readyz").json()
        assert ready["checks"]["triton"]["ok"] is False
        assert 'gateway_score_requests_total{outcome="triton_error"}' in client.get("/metrics").text


def test_score_disabled_is_503(offline_client: TestClient) -> None:
    resp = offline_client.post("/score", json=SEED_BODY)
    assert resp.status_code == 503 and "GATEWAY_SCORE_ENABLED" in resp.json()["detail"]
