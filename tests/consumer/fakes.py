"""Fakes for the pure-logic tests of the consumer: a Kafka message, a producer that acknowledges on
demand, and a Triton whose calls the test answers or fails. They implement the small protocols the
core depends on (:class:`consumer.core.Scorer`, :class:`consumer.sink.Producing`), nothing more."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import numpy as np
import orjson

from consumer.scoring import ScoreResult
from taxifraud import wire
from taxifraud.model_meta import ModelMeta
from taxifraud.triton_client import TritonUnavailable

TOPIC = "transactions"

META = ModelMeta(
    model_version="test-1", threshold=1.0, feature_names=["fare", "distance", "duration"], reason_min_z=4.0, baseline={}
)


class FakeError:
    def fatal(self) -> bool:
        return False

    def __str__(self) -> str:
        return "Local: Message timed out"


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
        self.err: Any = None

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
        return self.err


class FakeProducer:
    """Records produce() calls; acknowledges them only when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any, Any]] = []
        self.unacked: list[tuple[Any, FakeMessage]] = []
        self.fail_next = 0

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Any = None,
        headers: Any = None,
    ) -> None:
        self.sent.append((topic, value, key, headers, on_delivery))
        self.unacked.append((on_delivery, FakeMessage(topic, 0, len(self.sent), value, key, headers)))

    def ack_all(self) -> None:
        pending, self.unacked = self.unacked, []
        for callback, msg in pending:
            if self.fail_next > 0:
                self.fail_next -= 1
                msg.err = FakeError()
                callback(FakeError(), msg)
            else:
                callback(None, msg)

    def poll(self, timeout: float = 0) -> int:
        return 0


class FakeTriton:
    """submit() returns futures that the test resolves (success or TritonUnavailable)."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, concurrent.futures.Future[ScoreResult]]] = []
        self.versions: list[tuple[str | None, str | None]] = []

    def submit(
        self, rows: np.ndarray, version: str | None = None, shadow: str | None = None
    ) -> concurrent.futures.Future[ScoreResult]:
        fut: concurrent.futures.Future[ScoreResult] = concurrent.futures.Future()
        self.calls.append((rows, fut))
        self.versions.append((version, shadow))
        return fut

    def answer(self, fraud_rows: tuple[int, ...] = (), shadow_fraud_rows: tuple[int, ...] | None = None) -> None:
        rows, fut = self.calls[-1]
        shadow = self.versions[-1][1]
        shadow_outputs = outputs(len(rows), shadow_fraud_rows) if shadow and shadow_fraud_rows is not None else None
        fut.set_result(
            ScoreResult(
                outputs(len(rows), fraud_rows),
                0.001,
                (len(rows),),
                shadow_version=shadow,
                shadow_outputs=shadow_outputs,
                shadow_error=None if shadow_outputs is not None else "shadow down",
            )
        )

    def fail(self) -> None:
        self.calls[-1][1].set_exception(TritonUnavailable("connection refused"))


def outputs(n: int, fraud_rows: tuple[int, ...]) -> dict[str, np.ndarray]:
    k = len(META.feature_names)
    flags = np.zeros((n, 1), bool)
    flags[list(fraud_rows)] = True
    errors = np.zeros((n, k), np.float32)
    errors[:, 0] = 9.0  # "fare" far off: gives flagged rows a reason
    return {
        wire.OUTPUT_SCORE: np.where(flags, 5.0, 0.5).astype(np.float32),
        wire.OUTPUT_IS_FRAUD: flags,
        wire.OUTPUT_FEATURE_ERRORS: errors,
        wire.OUTPUT_FEATURE_EXPECTED: np.zeros((n, k), np.float32),
    }


def tx(i: int) -> bytes:
    return orjson.dumps(
        {"transaction_id": f"tx{i}", "trip_distance": 1.5, "fare_amount": 8.0, "duration_minutes": 9.0, "i": i}
    )
