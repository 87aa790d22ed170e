"""Issue 2's end-to-end check: HTTP -> gateway -> Kafka -> consumer -> Triton -> verdicts and alerts,
every part a real process."""

from __future__ import annotations

import httpx
import pytest

from taxifraud.stack import Stack
from tests.integration.kafka_reader import read_until

pytestmark = pytest.mark.integration

SEED_BODY = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}
NORMAL_FULL = {
    "vendor_id": 2,
    "pickup_datetime": "2019-03-20 16:30:11",
    "dropoff_datetime": "2019-03-20 16:44:49",
    "passenger_count": 1,
    "trip_distance": 2.63,
    "rate_code_id": 1,
    "store_and_fwd_flag": "N",
    "pickup_location_id": 231,
    "dropoff_location_id": 88,
    "payment_type": 1,
    "fare_amount": 12.5,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 3.36,
    "tolls_amount": 0.0,
    "improvement_surcharge": 0.3,
    "total_amount": 20.16,
    "congestion_surcharge": 2.5,
}
FRAUD = {"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}


def post(stack: Stack, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{stack.gateway_url}{path}", json=body, timeout=30)


def test_single_batch_and_seed_bodies_each_get_exactly_one_verdict(pipeline: Stack) -> None:
    ids: list[str] = []
    for path, body in (("/transaction", SEED_BODY), ("/transactions", NORMAL_FULL)):
        resp = post(pipeline, path, body)
        assert resp.status_code == 202, resp.text
        ids += resp.json()["transaction_ids"]
    batch = [dict(NORMAL_FULL, transaction_id=f"batch-{i}") for i in range(50)]
    batch.append(dict(FRAUD, transaction_id="fraud-1"))
    resp = post(pipeline, "/transactions", batch)
    assert resp.status_code == 202, resp.text
    assert resp.json()["transaction_ids"][-1] == "fraud-1"
    ids += resp.json()["transaction_ids"]
    assert len(ids) == len(set(ids)) == 53

    verdicts = read_until(pipeline.bootstrap, pipeline.settings.topic_verdicts, set(ids), timeout=90)
    missing = set(ids) - verdicts.keys()
    assert not missing, f"no verdict for {sorted(missing)[:5]}"
    duplicates = {k: len(v) for k, v in verdicts.items() if k in ids and len(v) != 1}
    assert not duplicates, f"more than one verdict: {duplicates}"

    fraud = verdicts["fraud-1"][0]
    assert fraud["is_fraud"] is True
    assert fraud["reasons"], "a flagged transaction must say why"
    assert fraud["score"] > fraud["threshold"]
    for key in ("transaction_id", "is_fraud", "score", "threshold", "reasons", "model_version", "ingested_at",
                "scored_at"):
        assert key in fraud
    seed = verdicts[ids[0]][0]
    assert seed["is_fraud"] is False, seed
    normal_flags = [verdicts[f"batch-{i}"][0]["is_fraud"] for i in range(50)]
    assert not any(normal_flags)

    alerts = read_until(pipeline.bootstrap, pipeline.settings.topic_alerts, {"fraud-1"}, timeout=30)
    assert "fraud-1" in alerts
    assert alerts["fraud-1"][0]["transaction"]["fare_amount"] == 400.0
    assert not (set(alerts) & {ids[0], ids[1]}), "normal trips must not raise alerts"
