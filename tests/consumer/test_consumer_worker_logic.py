"""The worker's pipeline logic with fake Kafka and Triton objects: no broker, no server, deterministic.

These pin the rules the integration tests can only sample: an offset is stored only after every output
up to it is acknowledged; a DLQ record is a message's output; a failed Triton call pauses the partitions
and a later success resumes them; a failed delivery is produced again; revoked partitions are dropped.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from consumer.metrics import ConsumerMetrics
from consumer.scoring import ScoreResult
from consumer.settings import Settings
from consumer.worker import Worker
from taxifraud import wire
from taxifraud.model_meta import ModelMeta
from taxifraud.triton_client import TritonUnavailable

TOPIC = "transactions"


class FakeMessage:
    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        key: bytes | None = None,
        headers: Any = None,
    ) -> None:
        self._t, self._p, self._o, self._v, self._k, self._h = topic, partition, offset, value, key, headers
        self._err: Any = None

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v

    def key(self) -> bytes | None:
        return self._k

    def headers(self) -> Any:
        return self._h

    def error(self) -> Any:
        return self._err


class FakeError:
    def fatal(self) -> bool:
        return False

    def __str__(self) -> str:
        return "Local: Message timed out"


class FakeProducer:
    """Records produce() calls; acknowledges them only when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any, Any]] = []
        self.unacked: list[tuple[Any, FakeMessage]] = []
        self.fail_next = 0

    def produce(self, topic: str, value: Any = None, key: Any = None, on_delivery: Any = None, headers: Any = None):
        self.sent.append((topic, value, key, headers, on_delivery))
        self.unacked.append((on_delivery, FakeMessage(topic, 0, len(self.sent), value, key, headers)))

    def ack_all(self) -> None:
        pending, self.unacked = self.unacked, []
        for callback, msg in pending:
            if self.fail_next > 0:
                self.fail_next -= 1
                msg._err = FakeError()
                callback(FakeError(), msg)
            else:
                callback(None, msg)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        self.ack_all()
        return 0


class FakeConsumer:
    def __init__(self, partitions: list[int]) -> None:
        self.assigned = [_tp(p) for p in partitions]
        self.stored: dict[tuple[str, int], int] = {}
        self.paused: set[int] = set()
        self.commits: list[Any] = []

    def assignment(self) -> list[Any]:
        return list(self.assigned)

    def pause(self, tps: list[Any]) -> None:
        self.paused |= {tp.partition for tp in tps}

    def resume(self, tps: list[Any]) -> None:
        self.paused -= {tp.partition for tp in tps}

    def store_offsets(self, offsets: list[Any]) -> None:
        for tp in offsets:
            self.stored[(tp.topic, tp.partition)] = tp.offset

    def commit(self, offsets: list[Any], asynchronous: bool = True) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


def _tp(partition: int) -> Any:
    from confluent_kafka import TopicPartition

    return TopicPartition(TOPIC, partition)


class FakeTriton:
    """submit() returns futures that the test resolves (success or TritonUnavailable)."""

    max_batch_size = 1024

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, concurrent.futures.Future[ScoreResult]]] = []

    def submit(
        self, rows: np.ndarray, version: str | None = None, shadow: str | None = None
    ) -> concurrent.futures.Future[ScoreResult]:
        fut: concurrent.futures.Future[ScoreResult] = concurrent.futures.Future()
        self.calls.append((rows, fut))
        return fut

    def answer(self, fraud_rows: tuple[int, ...] = ()) -> None:
        rows, fut = self.calls[-1]
        n, k = len(rows), len(META.feature_names)
        flags = np.zeros((n, 1), bool)
        flags[list(fraud_rows)] = True
        errors = np.zeros((n, k), np.float32)
        errors[:, 0] = 9.0  # "fare" far off: gives flagged rows a reason
        fut.set_result(
            ScoreResult(
                {
                    wire.OUTPUT_SCORE: np.where(flags, 5.0, 0.5).astype(np.float32),
                    wire.OUTPUT_IS_FRAUD: flags,
                    wire.OUTPUT_FEATURE_ERRORS: errors,
                    wire.OUTPUT_FEATURE_EXPECTED: np.zeros((n, k), np.float32),
                },
                0.001,
                (n,),
            )
        )

    def fail(self) -> None:
        self.calls[-1][1].set_exception(TritonUnavailable("connection refused"))


META = ModelMeta(
    model_version="test-1", threshold=1.0, feature_names=["fare", "distance", "duration"], reason_min_z=4.0, baseline={}
)


def tx(i: int) -> bytes:
    return orjson.dumps(
        {"transaction_id": f"tx{i}", "trip_distance": 1.5, "fare_amount": 8.0, "duration_minutes": 9.0, "i": i}
    )


@pytest.fixture
def worker() -> Iterator[Worker]:
    settings = Settings(
        consumer_metrics_port=0, consumer_retry_backoff_ms=1, consumer_retry_backoff_max_ms=1, _env_file=None
    )
    w = Worker(settings, META, ConsumerMetrics(META.threshold, registry=CollectorRegistry()))
    w.consumer = FakeConsumer([0, 1])  # type: ignore[assignment]
    w.producer = FakeProducer()  # type: ignore[assignment]
    real_triton = w.triton
    w.triton = FakeTriton()  # type: ignore[assignment]
    yield w
    real_triton.stop()  # closes its never-started event loop


def dispatch(w: Worker, msgs: list[FakeMessage]) -> None:
    w._dispatch(msgs)  # type: ignore[arg-type]


def step(w: Worker) -> None:
    w._advance_scoring(1e12)
    w._finish_completed()
    w._flow_control(1e12)


def test_offsets_are_stored_only_after_every_output_is_acknowledged(worker: Worker) -> None:
    producer: FakeProducer = worker.producer  # type: ignore[assignment]
    triton: FakeTriton = worker.triton  # type: ignore[assignment]
    consumer: FakeConsumer = worker.consumer  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(5)] + [FakeMessage(TOPIC, 1, 7, tx(7))])
    triton.answer(fraud_rows=(2,))
    step(worker)
    topics = [s[0] for s in producer.sent]
    assert topics.count(worker.s.topic_verdicts) == 6 and topics.count(worker.s.topic_alerts) == 1
    assert consumer.stored == {}, "nothing stored before the broker acknowledged"
    producer.ack_all()
    step(worker)
    assert consumer.stored == {(TOPIC, 0): 5, (TOPIC, 1): 8}
    verdict = orjson.loads(producer.sent[0][1] or b"")
    assert producer.sent[0][2] == b"tx0" and verdict["transaction_id"] == "tx0"
    alert = orjson.loads(next(s[1] or b"" for s in producer.sent if s[0] == worker.s.topic_alerts))
    assert alert["transaction"]["i"] == 2 and alert["reasons"]


def test_a_later_batch_cannot_store_past_an_earlier_unacknowledged_one(worker: Worker) -> None:
    producer: FakeProducer = worker.producer  # type: ignore[assignment]
    triton: FakeTriton = worker.triton  # type: ignore[assignment]
    consumer: FakeConsumer = worker.consumer  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3)])
    first = triton.calls[-1][1]
    dispatch(worker, [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3, 6)])
    triton.answer()  # the second batch is scored first
    step(worker)
    producer.ack_all()
    step(worker)
    assert consumer.stored == {}, "batch 2 is acknowledged but batch 1 is not even scored"
    triton.calls.pop()
    triton.calls[-1] = (triton.calls[-1][0], first)
    triton.answer()
    step(worker)
    producer.ack_all()
    step(worker)
    assert consumer.stored == {(TOPIC, 0): 6}


def test_poison_goes_to_the_dlq_and_its_ack_counts_as_output(worker: Worker) -> None:
    producer: FakeProducer = worker.producer  # type: ignore[assignment]
    consumer: FakeConsumer = worker.consumer  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 1, 40, b"{broken", key=b"k1"), FakeMessage(TOPIC, 1, 41, b"[]", key=b"k2")])
    assert [s[0] for s in producer.sent] == [worker.s.topic_dlq] * 2
    _topic, value, key, headers, _ = producer.sent[0]
    assert (value, key) == (b"{broken", b"k1")
    assert dict(headers)["dlq.offset"] == b"40" and dict(headers)["dlq.partition"] == b"1"
    step(worker)
    assert consumer.stored == {}
    producer.ack_all()
    step(worker)
    assert consumer.stored == {(TOPIC, 1): 42}


def test_triton_failure_pauses_and_success_resumes_without_losing_the_batch(worker: Worker) -> None:
    producer: FakeProducer = worker.producer  # type: ignore[assignment]
    triton: FakeTriton = worker.triton  # type: ignore[assignment]
    consumer: FakeConsumer = worker.consumer  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(4)])
    triton.fail()
    step(worker)
    assert worker.paused and consumer.paused == {0, 1}
    step(worker)  # the retry is due (backoff 1 ms)
    assert len(triton.calls) == 2, "retried"
    triton.fail()
    step(worker)
    step(worker)
    assert worker.paused and len(triton.calls) == 3
    triton.answer()
    step(worker)
    assert not worker.paused and consumer.paused == set()
    producer.ack_all()
    step(worker)
    assert consumer.stored == {(TOPIC, 0): 4}


def test_failed_delivery_is_produced_again_before_the_offset_moves(worker: Worker) -> None:
    producer: FakeProducer = worker.producer  # type: ignore[assignment]
    triton: FakeTriton = worker.triton  # type: ignore[assignment]
    consumer: FakeConsumer = worker.consumer  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 0, 0, tx(0)), FakeMessage(TOPIC, 0, 1, tx(1))])
    triton.answer()
    step(worker)
    producer.fail_next = 1
    producer.ack_all()
    step(worker)
    assert consumer.stored == {}
    assert len(producer.sent) == 3, "the failed verdict was produced again"
    producer.ack_all()
    step(worker)
    assert consumer.stored == {(TOPIC, 0): 2}


def test_revoked_partitions_are_dropped_and_not_produced(worker: Worker) -> None:
    producer: FakeProducer = worker.producer  # type: ignore[assignment]
    triton: FakeTriton = worker.triton  # type: ignore[assignment]
    consumer: FakeConsumer = worker.consumer  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 0, 0, tx(0)), FakeMessage(TOPIC, 1, 0, tx(100))])
    worker._forget({(TOPIC, 1)})  # what on_revoke ends with (the drain could not finish: Triton slow)
    triton.answer()
    step(worker)
    assert [s[2] for s in producer.sent] == [b"tx0"], "the revoked partition's row is left to its new owner"
    producer.ack_all()
    step(worker)
    assert consumer.stored == {(TOPIC, 0): 1}


def test_redelivered_offsets_already_in_flight_are_ignored(worker: Worker) -> None:
    triton: FakeTriton = worker.triton  # type: ignore[assignment]
    dispatch(worker, [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3)])
    dispatch(worker, [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(2, 5)])  # fetch restarted behind us
    assert len(triton.calls[-1][0]) == 2
