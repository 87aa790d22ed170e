"""Helpers for the gateway tests (a module of its own: ``conftest`` is an ambiguous import name)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from gateway.settings import Settings
from operations.embedded.process import free_port
from taxifraud.kafka import consumer_config

SEED_BODY = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}
PARTITIONS = 2


def make_settings(bootstrap: str, **overrides: Any) -> Settings:
    """Settings for one test: unique topic names so tests never see each other's messages."""
    suffix = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "topic_transactions": f"tx-{suffix}",
        "topic_verdicts": f"verdicts-{suffix}",
        "topic_alerts": f"alerts-{suffix}",
        "topic_dlq": f"dlq-{suffix}",
        "topic_labels": f"labels-{suffix}",
        "topic_verdicts_shadow": f"shadow-{suffix}",
        "topic_model_control": f"control-{suffix}",
        "topic_partitions": PARTITIONS,
        "gateway_score_enabled": False,
        "gateway_api_keys": "",
        "gateway_produce_timeout_s": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def read_topic(settings: Settings, topic: str, expected: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Read ``topic`` from the beginning until ``expected`` messages came (or ``timeout``); decoded values.

    Partitions are assigned directly instead of joining a group: the test reads a topic, it owns no share of it.
    """
    consumer = Consumer(consumer_config(settings, group_id=f"test-{uuid.uuid4().hex}", **{"enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.topic_partitions)])
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            value = orjson.loads(msg.value() or b"null")
            key = msg.key()
            value["_key"] = key.decode() if key else None
            value["_partition"] = msg.partition()
            out.append(value)
        return out
    finally:
        consumer.close()


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on a free port in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
