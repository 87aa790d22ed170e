"""One consumed batch on its way through the stages, and the rule that completes it.

A batch completes when the broker has acknowledged *every* output it produced (verdicts, alerts, shadow
verdicts, DLQ records); only then may its offsets be stored (:mod:`consumer.offsets`). The counters that
feed the metrics are kept here and added to the metrics on completion, so a metric counts what the
broker holds, never what was merely attempted.
"""

from __future__ import annotations

import collections
import concurrent.futures
import time
from typing import Any, Protocol

from consumer.decode import Decoded
from consumer.offsets import Unit
from consumer.scoring import ScoreResult


class Record(Protocol):
    """What the pipeline reads of a Kafka message (confluent-kafka's ``Message`` has it)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def headers(self) -> Any: ...
    def error(self) -> Any: ...


class Batch:
    """One consume() result; see the module docstring."""

    __slots__ = (
        "alert_families",
        "attempts",
        "decode_s",
        "decoded",
        "dlq_kinds",
        "first_submitted",
        "future",
        "msgs",
        "n_fraud",
        "n_verdicts",
        "outputs_at",
        "outputs_sent",
        "pending",
        "received_mono",
        "received_wall",
        "redo",
        "retry_at",
        "scored_at",
        "seq",
        "shadow_agreement",
        "sink",
        "submitted",
        "triton_s",
        "units",
    )

    def __init__(
        self, seq: int, msgs: list[Any], decoded: Decoded, units: list[Unit], sink: list[Batch], decode_s: float = 0.0
    ) -> None:
        self.seq = seq
        self.msgs = msgs
        self.decoded = decoded
        self.units = units
        self.sink = sink  # where the batch reports itself once its last output is acknowledged
        self.received_mono = time.monotonic() - decode_s
        self.received_wall = time.time() - decode_s
        self.decode_s = decode_s
        self.future: concurrent.futures.Future[ScoreResult] | None = None
        self.first_submitted = 0.0  # monotonic time of the first Triton call (consumer_wait ends there)
        self.submitted = 0.0  # monotonic time of the latest Triton call for this batch
        self.attempts = 0
        self.retry_at = 0.0
        self.triton_s = 0.0  # the successful live call
        self.scored_at = 0.0  # monotonic time the successful call returned
        self.outputs_at = 0.0  # monotonic time the last output was handed to the producer
        self.pending = 0  # produced, not yet acknowledged
        self.outputs_sent = False
        self.redo: list[Any] = []  # deliveries that failed: produce again
        self.n_verdicts = 0
        self.n_fraud = 0
        self.alert_families: collections.Counter[str] = collections.Counter()
        self.dlq_kinds: collections.Counter[str] = collections.Counter()
        #: (live version, shadow version, agreement) -> shadow verdicts, counted once acknowledged
        self.shadow_agreement: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def on_delivery(self, err: Any, msg: Any) -> None:
        """Delivery report (runs inside producer.poll/flush on the main thread)."""
        if err is not None:
            self.redo.append(msg)
            return
        self.pending -= 1
        if self.pending == 0 and self.outputs_sent:
            self.sink.append(self)

    def mark_sent(self) -> bool:
        """Every output is handed to the producer; True when they are all acknowledged already."""
        self.outputs_sent = True
        self.outputs_at = time.monotonic()
        return self.pending == 0

    def live(self) -> bool:
        """False when every partition of the batch was revoked: nothing of it needs producing any more."""
        return any(not u.owner.revoked for u in self.units)
