"""The latency floors our event -> verdict is compared with, on the same warm stack in the same run.

* **Two-hop Kafka floor:** bare confluent-kafka with our client settings, the shape of the pipeline
  without our code: producer -> topic A -> relay consumer -> relay producer -> topic B -> reader, at a
  steady rate; latency is first send -> read on B. It is what the broker alone costs per verdict.
* **One bare Triton call:** batch 1 over gRPC (taken from :mod:`operations.benchmarks.model_throughput`,
  measured on the same stack).

The goal line: our p99 <= floor p99 + 5 ms, where the floor is the two-hop p99 plus the Triton call's p99
(a sum of p99s, so a generous floor).
"""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer

from operations.benchmarks.broker_floor import read_stamps, scratch_topic, send_stamped
from operations.benchmarks.latency_states import percentiles
from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config, producer_config

#: Our p99 may exceed the floor's p99 by this much (issue 24).
MARGIN_MS = 5.0


def two_hop(
    settings: KafkaSettings, rate: float, seconds: float, client: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Stamped messages at ``rate``/s through two topics and a relay; send -> read on the second, ms.

    ``client``: librdkafka properties set on every producer and consumer on top of ours (for A/B runs)."""
    extra = client or {}
    first, second = scratch_topic(settings, "bench-hop-a"), scratch_topic(settings, "bench-hop-b")
    relay_in = Consumer(consumer_config(settings, f"hop-relay-{uuid.uuid4().hex[:6]}", **extra))
    reader = Consumer(consumer_config(settings, f"hop-reader-{uuid.uuid4().hex[:6]}", **extra))
    relay_out = Producer(producer_config(settings, **extra))
    assigned = {"relay": threading.Event(), "reader": threading.Event()}
    relay_in.subscribe([first], on_assign=lambda c, p: assigned["relay"].set())
    reader.subscribe([second], on_assign=lambda c, p: assigned["reader"].set())
    latencies: list[float] = []
    stop = threading.Event()

    def relay() -> None:
        # poll(), not consume(n, timeout): it returns as soon as one message is there, as the consumer does.
        while not stop.is_set():
            msg = relay_in.poll(0.05)
            if msg is not None and not msg.error():
                relay_out.produce(second, msg.value())
            relay_out.poll(0)

    threads = [
        threading.Thread(target=relay, name="hop-relay"),
        threading.Thread(target=read_stamps, args=(reader, stop, latencies), name="hop-reader"),
    ]
    for t in threads:
        t.start()
    producer = Producer(producer_config(settings, **extra))

    def relayed() -> bool:
        return all(e.is_set() for e in assigned.values())

    n = send_stamped(producer, first, settings.topic_partitions, relayed, latencies, rate, seconds)
    stop.set()
    for t in threads:
        t.join()
    relay_out.flush(5)
    relay_in.close()
    reader.close()
    return {"offered_rate": rate, "sent": n, "received": len(latencies), **percentiles(x * 1e3 for x in latencies)}


def triton_call(model_throughput: dict[str, Any]) -> dict[str, Any]:
    """The batch-1 Triton gRPC call's p50/p99 from the model-throughput figures of the same run."""
    fig = (model_throughput.get("1") or {}).get("triton") or {}
    return {"batch": 1, "calls": fig.get("calls"), "p50_ms": fig.get("p50_ms"), "p99_ms": fig.get("p99_ms")}


def versus_floor(ours_p99_ms: float | None, kafka_p99_ms: float | None, triton_p99_ms: float | None) -> dict[str, Any]:
    """Our p99 against (two-hop p99 + Triton p99) + :data:`MARGIN_MS`; ``met`` is None when anything is missing."""
    figures = (ours_p99_ms, kafka_p99_ms, triton_p99_ms)
    if any(f is None or math.isnan(f) for f in figures):
        return {"ours_p99_ms": ours_p99_ms, "floor_p99_ms": None, "limit_ms": None, "met": None}
    floor = float(kafka_p99_ms) + float(triton_p99_ms)  # type: ignore[arg-type]
    return {
        "ours_p99_ms": ours_p99_ms,
        "floor_p99_ms": floor,
        "limit_ms": floor + MARGIN_MS,
        "met": float(ours_p99_ms) <= floor + MARGIN_MS,  # type: ignore[arg-type]
    }
