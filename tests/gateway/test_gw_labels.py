"""POST /labels against a real broker: acknowledged labels are on the compacted topic, keyed by transaction."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from fastapi.testclient import TestClient
from gw_helpers import read_topic, serve_in_thread

from gateway.app import create_app
from gateway.settings import Settings
from operations.cli import main as cli_main
from operations.labels import post_labels

pytestmark = pytest.mark.integration


def accepted(client: TestClient, label: str) -> float:
    sample = f'gateway_labels_accepted_total{{label="{label}"}} '
    return next(
        (float(line.split()[-1]) for line in client.get("/metrics").text.splitlines() if line.startswith(sample)), 0
    )


def test_label_round_trip_on_a_compacted_topic(client: TestClient, settings: Settings) -> None:
    before = {label: accepted(client, label) for label in ("fraud", "legit")}
    resp = client.post("/labels", json={"transaction_id": "tx-1", "label": "fraud", "analyst": "ana", "note": "meter"})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["accepted"] == 1 and body["transaction_ids"] == ["tx-1"]
    batch = [{"transaction_id": f"tx-{i}", "label": "legit"} for i in range(2, 5)]
    assert client.post("/labels", json=batch).json()["accepted"] == 3
    # a correction of tx-1: same key, so compaction keeps only this one
    assert client.post("/labels", json={"transaction_id": "tx-1", "label": "legit"}).status_code == 202

    records = read_topic(settings, settings.topic_labels, 5)
    assert len(records) == 5
    assert all(r["_key"] == r["transaction_id"] for r in records)
    tx1 = [r for r in records if r["transaction_id"] == "tx-1"]
    assert [r["label"] for r in tx1] == ["fraud", "legit"]  # one key, one partition: in order
    assert tx1[0]["analyst"] == "ana" and tx1[0]["note"] == "meter" and tx1[0]["labelled_at"] == body["labelled_at"]
    assert len({r["_partition"] for r in tx1}) == 1

    admin = AdminClient(settings.kafka_client_config())
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.topic_labels)
    config = admin.describe_configs([resource])[resource].result()
    assert config["cleanup.policy"].value == "compact"

    assert accepted(client, "legit") - before["legit"] == 4  # counters are per process: compare with before
    assert accepted(client, "fraud") - before["fraud"] == 1


def test_invalid_labels_are_refused_with_the_reason(client: TestClient, settings: Settings) -> None:
    resp = client.post("/labels", json={"transaction_id": "tx-1", "label": "probably"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "label"]
    resp = client.post("/labels", json=[{"transaction_id": "ok", "label": "fraud"}, {"label": "fraud"}])
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", 1, "transaction_id"]
    assert read_topic(settings, settings.topic_labels, 1, timeout=2) == []  # nothing of a rejected batch


def test_labels_need_the_api_key_like_every_write(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(gateway_api_keys="k1")
    with TestClient(create_app(settings)) as client:
        assert client.post("/labels", json={"transaction_id": "t", "label": "fraud"}).status_code == 401
        resp = client.post("/labels", json={"transaction_id": "t", "label": "fraud"}, headers={"X-API-Key": "k1"})
        assert resp.status_code == 202


def test_label_command_goes_through_the_gateway(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_thread(create_app(settings)) as url:
        assert cli_main(["label", "tx-cli", "fraud", "--gateway", url, "--analyst", "bob"]) == 0
        assert "labelled tx-cli fraud" in capsys.readouterr().out
        assert cli_main(["label", "bad id", "fraud", "--gateway", url]) == 1
        status, answer = post_labels([{"transaction_id": "tx-2", "label": "legit"}], gateway_url=url)
        assert status == 202 and answer["transaction_ids"] == ["tx-2"]
    records = read_topic(settings, settings.topic_labels, 2)
    assert {(r["transaction_id"], r["label"], r["analyst"]) for r in records} == {
        ("tx-cli", "fraud", "bob"),
        ("tx-2", "legit", None),
    }
