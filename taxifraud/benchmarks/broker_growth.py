"""How the broker's hop latency grows with the number of record batches already stored in a partition.

Why this is measured
--------------------
The 10-minute soak on the embedded broker holds its rate for a few minutes and then falls behind,
while our own processes stay flat in CPU and memory. This isolates the broker: one partition, filled
with small batches (as a keyed, low-linger producer writes them under moderate load), and after each
fill the latency of one fresh message from producer to an assigned consumer at the log's end. If the
broker finds the tail in constant time, the figures stay flat; if it walks its stored batches, they
grow with the fill.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

#: Messages per stored batch in the fills: what a keyed producer with a 5 ms linger writes to each of
#: six partitions at a couple of thousand messages a second.
MESSAGES_PER_BATCH = 10


def _fill(producer: Producer, topic: str, messages: int) -> None:
    payload = b"x" * 400  # about a transaction's size
    for i in range(messages):
        while True:
            try:
                producer.produce(topic, payload, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)


def _tail_hops(producer: Producer, bootstrap: str, topic: str, samples: int) -> list[float]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"growth-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        consumer.assign([TopicPartition(topic, 0, high)])
        hops = []
        for i in range(samples):
            marker = f"tail-{i}".encode()
            t0 = time.perf_counter()
            producer.produce(topic, marker, partition=0)
            producer.flush(10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is not None and not msg.error() and msg.value() == marker:
                    hops.append((time.perf_counter() - t0) * 1e3)
                    break
            else:
                return hops  # no answer within 30 s: the remaining samples would only wait as long
        return hops
    finally:
        consumer.close()


def hop_vs_stored_batches(
    bootstrap: str, steps: tuple[int, ...] = (0, 5_000, 10_000, 20_000, 40_000), samples: int = 9
) -> dict[str, Any]:
    """Median and max tail hop after the partition holds each number of batches in ``steps``."""
    topic = f"bench-growth-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": MESSAGES_PER_BATCH})
    rows = []
    stored = 0
    for target in steps:
        t0 = time.monotonic()
        _fill(producer, topic, (target - stored) * MESSAGES_PER_BATCH)
        fill_s = time.monotonic() - t0
        stored = target
        hops = _tail_hops(producer, bootstrap, topic, samples)
        rows.append(
            {
                "stored_batches": target,
                "stored_messages": target * MESSAGES_PER_BATCH,
                "p50_ms": float(np.median(hops)) if hops else None,
                "max_ms": float(np.max(hops)) if hops else None,
                "samples": samples,
                "answered_within_30s": len(hops),
                "fill_seconds": round(fill_s, 1),
            }
        )
    return {"topic_partitions": 1, "messages_per_batch": MESSAGES_PER_BATCH, "steps": rows}
