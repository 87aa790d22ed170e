"""The floor this design cannot beat on this machine: the CPU cost of its unavoidable steps, per verdict.

Every verdict needs, at the least: two Kafka hops (the transaction into ``transactions``, the verdict out of
``fraud-verdicts`` to its reader), one model row, and a JSON decode + encode of the trip at the gateway and
again at the consumer. Each step is measured here bare, on the same broker and machine as the end-to-end run,
in CPU microseconds (process CPU from ``/proc``, broker included for the Kafka hop), so the cost ledger
(:mod:`operations.benchmarks.ledger`) can say how far our own code is from it:

* **Kafka hop:** a bare confluent-kafka producer (our producer settings: idempotent, acks=all; no per-message
  callback) and a consumer reading the same messages in batches, both in this process; their CPU plus the
  broker's, divided by the messages.
* **Model row:** ONNX Runtime in-process, one thread (as each Triton instance runs it), on batches of the
  consumer's size, per row.
* **JSON:** ``orjson.loads`` + ``orjson.dumps`` of the same trips, per trip.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, Producer

from operations.benchmarks import profile
from operations.benchmarks.broker_floor import scratch_topic
from taxifraud import wire
from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config, producer_config
from taxifraud.onnx_scorer import OnnxScorer

#: How many times each bare step occurs per verdict in this design (see the module docstring).
PER_VERDICT = {"kafka_hop": 2, "model_row": 1, "json_decode_encode": 2}


def _cpu_self() -> float:
    """CPU seconds of this whole process (all threads: librdkafka's and ONNX Runtime's included)."""
    return time.process_time()


def kafka_hop_us(
    settings: KafkaSettings, broker_pid: int | None, payloads: Sequence[bytes], count: int
) -> dict[str, Any]:
    """Produce ``count`` messages (cycling ``payloads``) and consume them all; CPU us per message."""
    topic = scratch_topic(settings, "bench-cost-floor")
    consumer = Consumer(consumer_config(settings, f"cost-floor-{uuid.uuid4().hex[:6]}"))
    assigned = threading.Event()
    consumer.subscribe([topic], on_assign=lambda c, p: assigned.set())
    received = 0
    done = threading.Event()

    def consume() -> None:
        nonlocal received
        while received < count and not done.is_set():
            for msg in consumer.consume(1024, 0.05):
                if msg.error() is None:
                    received += 1

    # The consumer must own its partitions (offsets resolved) before the timed part starts.
    deadline = time.monotonic() + 30
    while not assigned.is_set() and time.monotonic() < deadline:
        consumer.poll(0.1)
    producer = Producer(producer_config(settings, **{"queue.buffering.max.messages": 1_000_000}))
    reader = threading.Thread(target=consume, name="cost-floor-consumer")
    cpu0, broker0, t0 = _cpu_self(), _broker_cpu(broker_pid), time.monotonic()
    reader.start()
    produce = producer.produce
    n = len(payloads)
    for i in range(count):
        while True:
            try:
                produce(topic, payloads[i % n])
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    reader.join(timeout=60)
    done.set()
    cpu1, broker1, t1 = _cpu_self(), _broker_cpu(broker_pid), time.monotonic()
    consumer.close()
    clients_us = (cpu1 - cpu0) * 1e6 / max(received, 1)
    broker_us = (broker1 - broker0) * 1e6 / max(received, 1) if broker_pid else None
    return {
        "messages": count,
        "received": received,
        "seconds": t1 - t0,
        "clients_us": clients_us,
        "broker_us": broker_us,
        "us": clients_us + (broker_us or 0.0),
    }


def _broker_cpu(pid: int | None) -> float:
    return profile.cpu_seconds(pid) if pid else 0.0


def model_row_us(model_repository: Path, trips: Sequence[dict[str, Any]], batch: int, seconds: float) -> dict[str, Any]:
    """ONNX Runtime, one thread, batches of ``batch`` rows: CPU us per row."""
    scorer = OnnxScorer(model_repository, threads=1)
    rows = wire.encode_rows(trips)
    reps = -(-batch // len(rows))
    tensor = np.ascontiguousarray(np.tile(rows, (reps, 1))[:batch])
    scorer.infer(tensor)  # warm-up
    calls = 0
    cpu0, deadline = _cpu_self(), time.monotonic() + seconds
    while time.monotonic() < deadline or calls < 3:
        scorer.infer(tensor)
        calls += 1
    cpu = _cpu_self() - cpu0
    return {"batch": batch, "calls": calls, "us": cpu * 1e6 / (calls * batch)}


def json_us(trips: Sequence[dict[str, Any]], rounds: int = 20) -> dict[str, Any]:
    """``orjson.loads`` + ``orjson.dumps`` of one trip (the mix of ``trips``): CPU us per trip."""
    encoded = [orjson.dumps(t) for t in trips]
    loads, dumps = orjson.loads, orjson.dumps
    for value in encoded:  # warm-up
        dumps(loads(value))
    cpu0 = _cpu_self()
    for _ in range(rounds):
        for value in encoded:
            dumps(loads(value))
    cpu = _cpu_self() - cpu0
    return {"trips": len(encoded) * rounds, "us": cpu * 1e6 / (len(encoded) * rounds)}


def floor_total(parts: dict[str, Any]) -> float:
    """CPU us per verdict that the design cannot go below: each bare step times how often a verdict needs it."""
    return sum(PER_VERDICT[name] * float(parts[name]["us"]) for name in PER_VERDICT)


def measure(
    settings: KafkaSettings,
    broker_pid: int | None,
    model_repository: Path,
    trips: Sequence[dict[str, Any]],
    batch: int,
    kafka_messages: int = 200_000,
    model_seconds: float = 3.0,
) -> dict[str, Any]:
    """All three bare steps and their total per verdict (see :data:`PER_VERDICT`)."""
    payloads = [orjson.dumps({**t, "transaction_id": f"floor-{i}"}) for i, t in enumerate(trips)]
    parts: dict[str, Any] = {
        "kafka_hop": kafka_hop_us(settings, broker_pid, payloads, kafka_messages),
        "model_row": model_row_us(model_repository, trips, batch, model_seconds),
        "json_decode_encode": json_us(trips),
    }
    return {**parts, "per_verdict": dict(PER_VERDICT), "total_us": floor_total(parts)}
