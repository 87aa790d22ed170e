"""Issue 2's end-to-end check: HTTP -> gateway -> Kafka -> consumer -> Triton -> verdicts and alerts,
every part a real process."""

from __future__ import annotations

import httpx
import pytest

from operations.stack import Stack
from tests.integration.kafka_reader import read_until
from tests.trips import FRAUD, NORMAL_FULL, SEED_BODY

pytestmark = pytest.mark.integration


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
    for key in (
        "transaction_id",
        "is_fraud",
        "score",
        "threshold",
        "reasons",
        "model_version",
        "ingested_at",
        "scored_at",
    ):
        assert key in fraud
    seed = verdicts[ids[0]][0]
    assert seed["is_fraud"] is False, seed
    normal_flags = [verdicts[f"batch-{i}"][0]["is_fraud"] for i in range(50)]
    assert not any(normal_flags)

    alerts = read_until(pipeline.bootstrap, pipeline.settings.topic_alerts, {"fraud-1"}, timeout=30)
    assert "fraud-1" in alerts
    assert alerts["fraud-1"][0]["transaction"]["fare_amount"] == 400.0
    assert not (set(alerts) & {ids[0], ids[1]}), "normal trips must not raise alerts"
