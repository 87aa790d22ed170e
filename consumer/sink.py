"""The producing edge: hands a batch's output records to the producer and produces failed ones again.

Each record counts as pending on its batch until its delivery report; a failed delivery is kept on the
batch and produced again after :data:`REDELIVERY_BACKOFF_S` (a fatal producer error ends the process,
whose unstored offsets are then replayed). A full local queue is drained by polling, never dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from confluent_kafka import KafkaException

from consumer.batch import Batch
from consumer.outputs import Output

log = logging.getLogger(__name__)

#: How long a delivery failure waits before the record is produced again.
REDELIVERY_BACKOFF_S = 1.0


class FatalError(RuntimeError):
    """The client cannot continue (e.g. a fatal idempotent-producer error): exit non-zero, restart."""


class Producing(Protocol):
    """What the sink uses of confluent-kafka's ``Producer``."""

    def produce(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        *,
        on_delivery: Any = ...,
        headers: Any = ...,
    ) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...


class OutputSink:
    def __init__(self, producer: Producing, stopping: threading.Event) -> None:
        self.producer = producer
        self.stopping = stopping

    def send(self, batch: Batch, records: Iterable[Output]) -> None:
        for record in records:
            self.produce(batch, record)

    def produce(self, batch: Batch, record: Output) -> None:
        producer = self.producer
        topic, value, key, headers = record
        while True:
            try:
                if headers is None:
                    producer.produce(topic, value, key, on_delivery=batch.on_delivery)
                else:
                    producer.produce(topic, value, key, on_delivery=batch.on_delivery, headers=headers)
                batch.pending += 1
                return
            except BufferError:  # local queue full: let deliveries drain, then try again
                producer.poll(0.05)
            except KafkaException as exc:
                if exc.args and exc.args[0].fatal():
                    raise FatalError(str(exc)) from exc
                log.warning("produce to %s failed (%s); retrying", topic, exc)
                self.stopping.wait(0.1)
                producer.poll(0)

    def redo_failed(self, batches: Iterable[Batch], now: float) -> None:
        """Produce again the records whose delivery failed, once their batch's redelivery delay is over."""
        for batch in batches:
            if not batch.redo or batch.retry_at > now:
                continue
            failed, batch.redo = batch.redo, []
            log.warning("re-producing %d records whose delivery failed: %s", len(failed), failed[0].error())
            for msg in failed:
                err = msg.error()
                if err is not None and err.fatal():
                    raise FatalError(str(err))
                batch.pending -= 1  # the failed attempt; produce() counts the new one
                self.produce(batch, Output(msg.topic() or "", msg.value(), msg.key(), msg.headers()))
            batch.retry_at = now + REDELIVERY_BACKOFF_S
