"""The harness the consumer's integration tests share: trips, topics and consumer processes (the same
building blocks as the consumer-only benchmark, :mod:`operations.benchmarks.consumer_only`), plus a paced
producer for faults that must land mid-stream and a reader that counts the verdicts per transaction id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from operations.benchmarks.consumer_only import (
    batch_producer,
    consumer_env,
    consumer_process,
    create_topics,
    make_transactions,
    metric_value,
    produce,
    produce_transactions,
    send,
    topic_names,
)
from taxifraud.kafka import FETCH_WAIT_MAX_MS

__all__ = [
    "consumer_env",
    "consumer_process",
    "count_ids",
    "create_topics",
    "make_transactions",
    "metric_value",
    "produce",
    "produce_paced",
    "produce_transactions",
    "read_topic",
    "topic_names",
]


def produce_paced(
    bootstrap: str, topic: str, txs: Sequence[dict[str, Any]], per_second: float, chunk: int = 500
) -> None:
    """Produce ``txs`` at about ``per_second`` (a live stream, so faults can land mid-stream)."""
    producer = batch_producer(bootstrap)
    failures: list[str] = []
    started = time.monotonic()
    for i in range(0, len(txs), chunk):
        part = txs[i : i + chunk]
        send(
            producer, topic, [orjson.dumps(tx) for tx in part], [tx["transaction_id"].encode() for tx in part], failures
        )
        ahead = started + (i + len(part)) / per_second - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)  # not poll(ahead): poll returns as soon as one delivery report is served
        producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        raise RuntimeError(f"produce to {topic}: {left} unacknowledged, failures: {failures[:3]}")


def read_topic(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Message]], bool] | None = None,
    timeout: float = 60.0,
    idle: float = 3.0,
) -> list[Message]:
    """Every record of ``topic`` from the beginning, until ``done(records)`` or ``idle`` s without news."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        }
    )
    try:
        meta = reader.list_topics(topic, timeout=10)
        partitions = meta.topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[Message] = []
        deadline = time.monotonic() + timeout
        last_news = time.monotonic()
        while time.monotonic() < deadline:
            batch = reader.consume(10000, 0.2)
            got = [m for m in batch if m.error() is None]
            if got:
                records.extend(got)
                last_news = time.monotonic()
                if done is not None and done(records):
                    break
            elif time.monotonic() - last_news > idle and (done is None or done(records)):
                break
        return records
    finally:
        reader.close()


def count_ids(records: Sequence[Message]) -> tuple[set[str], int]:
    """Distinct record keys (transaction ids) and how many records were duplicates."""
    seen: set[str] = set()
    dupes = 0
    for m in records:
        key = (m.key() or b"").decode()
        if key in seen:
            dupes += 1
        seen.add(key)
    return seen, dupes
