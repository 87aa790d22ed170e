"""The broker's own latency floor: a bare producer -> consumer hop, no application code in between.

Uses the producer and consumer settings the system uses (``taxifraud.kafka``), so the difference
between this and our event-to-verdict latency is what our code (and Triton) adds.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Producer

from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config, ensure_topics, producer_config


def scratch_topic(settings: KafkaSettings, prefix: str) -> str:
    """A fresh topic of its own for a floor measurement (no other traffic, no history), created on the broker."""
    topic = f"{prefix}-{uuid.uuid4().hex[:6]}"
    ensure_topics(
        settings.model_copy(
            update={"topic_transactions": topic, "topic_verdicts": topic, "topic_alerts": topic, "topic_dlq": topic}
        )
    )
    return topic


#: A message's send time, packed at its head; the reader's receive time minus it is the hop.
STAMP = struct.Struct("d")
#: About a transaction's size: the payload after the stamp.
_PAYLOAD = b"x" * 400


def read_stamps(consumer: Consumer, stop: threading.Event, latencies: list[float]) -> None:
    """Until ``stop``: append each stamped message's send -> receive seconds to ``latencies``."""
    # poll(), not consume(n, timeout): consume() waits for n messages or the whole timeout, which
    # would add up to that timeout to every hop; poll() returns as soon as one message is there.
    while not stop.is_set():
        msg = consumer.poll(0.05)
        if msg is not None and not msg.error():
            latencies.append(time.time() - STAMP.unpack((msg.value() or b"")[: STAMP.size])[0])


def send_stamped(
    producer: Producer,
    topic: str,
    partitions: int,
    ready: Callable[[], bool],
    latencies: list[float],
    rate: float,
    seconds: float,
) -> int:
    """Warm up, then ``rate``/s stamped messages for ``seconds``; return how many were sent once they arrived.

    The warm-up runs until ``ready()`` and a few messages per partition have come through: the first
    fetches after a join include offset look-ups, which are not the steady-state hop being measured. Its
    latencies are dropped. Arrivals are awaited up to 10 s after the last send."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for partition in range(partitions):
            producer.produce(topic, STAMP.pack(time.time()), partition=partition)
        producer.flush(5)
        time.sleep(0.2)
        if ready() and len(latencies) >= 3 * partitions:
            break
    time.sleep(0.5)
    latencies.clear()
    n = int(rate * seconds)
    start = time.monotonic()
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, STAMP.pack(time.time()) + _PAYLOAD)
        producer.poll(0)
    producer.flush(30)
    wait_until = time.monotonic() + 10
    while len(latencies) < n and time.monotonic() < wait_until:
        time.sleep(0.05)
    return n


def hop_latency(settings: KafkaSettings, rate: float, seconds: float) -> dict[str, Any]:
    """Produce timestamped messages at ``rate``/s for ``seconds``; measure send -> receive."""
    topic = scratch_topic(settings, "bench-floor")
    consumer = Consumer(consumer_config(settings, f"floor-{uuid.uuid4().hex[:6]}"))
    assigned = threading.Event()
    consumer.subscribe([topic], on_assign=lambda c, p: assigned.set())
    latencies: list[float] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_stamps, args=(consumer, stop, latencies))
    reader.start()
    producer = Producer(producer_config(settings))
    n = send_stamped(producer, topic, settings.topic_partitions, assigned.is_set, latencies, rate, seconds)
    stop.set()
    reader.join()
    consumer.close()
    arr = np.asarray(latencies) * 1e3
    return {
        "offered_rate": rate,
        "sent": n,
        "received": len(latencies),
        **{f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)},
    }
