"""The pipeline's state between the stages: batches at Triton, batches awaiting acknowledgements, offsets.

No Kafka client and no Triton client live here: Triton is a :class:`Scorer` (submit rows, get a future),
the producer is a :class:`Sink`, and what this returns (offsets to store, pause or resume) the worker
applies to its consumer. So the rules that carry the guarantees are unit-tested without a broker:

* a batch's offsets become storable only once every output of it is acknowledged, and a partition's
  offset moves only past the longest prefix of such batches (:mod:`consumer.offsets`);
* a failed Triton call is retried with backoff (:mod:`consumer.retry`) while the partitions are paused
  (:mod:`consumer.flow`), and nothing of the batch is lost or produced twice by this process;
* rows of a revoked partition are left to the partition's new owner.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from consumer.batch import Batch, Record
from consumer.flow import FlowControl, TritonHealth
from consumer.intake import admit, decode, dlq_outputs, split_errors
from consumer.metrics import ConsumerMetrics
from consumer.monitoring import DriftMonitor
from consumer.offsets import OffsetTracker, TopicPartitionKey
from consumer.outputs import Output
from consumer.pipeline import Topics, outputs, scored
from consumer.requests import score_request
from consumer.retry import Backoff
from consumer.scoring import ScoreResult
from consumer.settings import Settings
from consumer.sink import FatalError
from consumer.spans import observe_spans
from consumer.verdicts import ModelMismatch
from taxifraud import wire
from taxifraud.model_meta import ModelMeta
from taxifraud.triton_client import TritonUnavailable

log = logging.getLogger(__name__)


class Scorer(Protocol):
    def submit(
        self, rows: np.ndarray, version: str | None = None, shadow: str | None = None
    ) -> concurrent.futures.Future[ScoreResult]: ...


class Sink(Protocol):
    def send(self, batch: Batch, records: Iterable[Output]) -> None: ...
    def redo_failed(self, batches: Iterable[Batch], now: float) -> None: ...


class Models(Protocol):
    def roles(self) -> tuple[str, str | None]: ...
    def meta(self, version: str) -> ModelMeta: ...
    def reload(self) -> None: ...


class Core:
    """See the module docstring; the worker calls :meth:`dispatch`, :meth:`advance`, :meth:`finish`,
    :meth:`flow_step` and :meth:`forget`, all on its one thread."""

    def __init__(
        self,
        settings: Settings,
        metrics: ConsumerMetrics,
        scorer: Scorer,
        sink: Sink,
        models: Models,
        drift: DriftMonitor,
    ) -> None:
        self.metrics = metrics
        self.scorer = scorer
        self.sink = sink
        self.models = models
        self.drift = drift
        self.topics = Topics.of(settings)
        self.tracker = OffsetTracker()
        self.scoring: collections.deque[Batch] = collections.deque()  # consumed, not yet scored
        self.producing: set[Batch] = set()  # scored, outputs not all acknowledged
        self.completed: list[Batch] = []  # filled by delivery callbacks
        self.seq = 0
        self.flow = FlowControl(
            settings.consumer_max_in_flight_batches,
            settings.consumer_max_unacked_batches,
            settings.consumer_backpressure_pause_s,
        )
        self.health = TritonHealth()
        self.backoff = Backoff(
            settings.consumer_retry_backoff_ms / 1000.0, settings.consumer_retry_backoff_max_ms / 1000.0
        )
        self._last_error_log = 0.0

    # ------------------------------------------------------------------ in

    def dispatch(self, msgs: Sequence[Record]) -> None:
        """Stage 1 and 2 for one consume() result: decode, DLQ the poison, submit the rest to Triton."""
        good, errors = split_errors(msgs)
        for err in errors:
            self.consume_error(err)
        if not good:
            return
        self.metrics.consumed.inc(len(good))
        keep, units = admit(good, self.tracker)
        if not keep:
            return
        self.seq += 1
        batch = decode(self.seq, keep, units, self.completed)
        poison = dlq_outputs(batch, self.topics.dlq)
        if poison:
            self.sink.send(batch, poison)
            log.debug("batch %d: %d poison messages to %s", batch.seq, len(poison), self.topics.dlq)
        if self._submit(batch):
            self.scoring.append(batch)
        else:
            self._outputs_sent(batch)

    def consume_error(self, err: Any) -> None:
        if err.fatal():
            raise FatalError(str(err))
        now = time.monotonic()
        if now - self._last_error_log > 5:
            self._last_error_log = now
            log.warning("consume error (librdkafka retries): %s", err)

    def _submit(self, batch: Batch) -> bool:
        request = score_request(batch, self.models.roles())
        if request is None:
            return False
        batch.submitted = time.monotonic()
        batch.first_submitted = batch.first_submitted or batch.submitted
        batch.future = self.scorer.submit(request.rows, request.live, request.shadow)
        return True

    # ------------------------------------------------------------------ Triton -> outputs

    def advance(self, now: float, resubmit: bool = True) -> None:
        """Harvest finished Triton calls into outputs; schedule retries for failed ones, resubmit those due."""
        for batch in list(self.scoring):
            fut = batch.future
            if fut is None:
                if resubmit and now >= batch.retry_at:
                    self._submit(batch)
                continue
            if not fut.done():
                continue
            try:
                result = fut.result()
            except (TritonUnavailable, concurrent.futures.CancelledError) as exc:
                self._score_failed(batch, exc)
                continue
            try:
                item = scored(batch, result, self.models.meta, self.topics)
            except ModelMismatch as exc:
                # Triton serves a model that model_meta.json does not describe (e.g. re-exported while
                # running): a deployment fault, not a data fault. Retry like an outage, re-reading the meta.
                log.error("model outputs do not match its model_meta.json (%s); re-reading it and retrying", exc)
                self.models.reload()
                self._score_failed(batch, exc)
                continue
            self.scoring.remove(batch)
            if self.health.answered(batch.submitted):
                log.warning("Triton is answering again (batch %d after %d retries)", batch.seq, batch.attempts)
            batch.triton_s, batch.scored_at = result.seconds, result.finished_at or time.monotonic()
            self.metrics.triton_duration.observe(result.seconds)
            for rows in result.chunks:
                self.metrics.batch_size.observe(rows)
            records = outputs(item)
            if item.shadow_failed:
                self.metrics.shadow_errors.inc()
            self.sink.send(batch, records)
            scores = np.asarray(result.outputs[wire.OUTPUT_SCORE], dtype=np.float64).reshape(-1)
            self.metrics.score.observe_many(scores)
            self.drift.observe(batch.decoded.rows, scores)
            self._outputs_sent(batch)

    def _score_failed(self, batch: Batch, exc: BaseException) -> None:
        batch.attempts += 1
        batch.future = None
        delay = self.backoff.delay(batch.attempts)
        batch.retry_at = time.monotonic() + delay
        self.metrics.triton_errors.inc()
        was_down = self.health.down
        self.health.failed(time.monotonic())
        if not was_down or batch.attempts == 1 or batch.attempts % 10 == 0:
            log.warning(
                "Triton call failed for batch %d (attempt %d, retry in %.2fs): %s",
                batch.seq,
                batch.attempts,
                delay,
                exc,
            )

    def _outputs_sent(self, batch: Batch) -> None:
        if batch.mark_sent():
            self.completed.append(batch)
        else:
            self.producing.add(batch)

    # ------------------------------------------------------------------ acks -> offsets

    def finish(self) -> dict[TopicPartitionKey, int]:
        """Account the batches whose outputs are all acknowledged; returns the offsets they make storable."""
        now = time.monotonic()
        self.sink.redo_failed(list(self.producing), now)
        to_store: dict[TopicPartitionKey, int] = {}
        if not self.completed:
            return to_store
        now_wall = time.time()
        m = self.metrics
        for batch in self.completed:
            self.producing.discard(batch)
            for unit in batch.units:
                advanced = self.tracker.complete(unit)
                if advanced is not None:
                    to_store[advanced[0]] = advanced[1]
            m.processing.observe(now - batch.received_mono, len(batch.msgs))
            m.event_to_verdict.observe_many(now_wall - batch.decoded.ingested_at)
            observe_spans(m.spans, batch, now)
            if batch.n_verdicts:
                m.verdicts.labels(is_fraud="true").inc(batch.n_fraud)
                m.verdicts.labels(is_fraud="false").inc(batch.n_verdicts - batch.n_fraud)
            for family, count in batch.alert_families.items():
                m.alerts.labels(reason=family).inc(count)
            for kind, count in batch.dlq_kinds.items():
                m.dlq.labels(error=kind).inc(count)
            for (live, shadow, agreement), count in batch.shadow_agreement.items():
                m.shadow_verdicts.labels(live_version=live, shadow_version=shadow, agreement=agreement).inc(count)
        self.completed.clear()
        return to_store

    # ------------------------------------------------------------------ flow, rebalance

    def flow_step(self, now: float) -> tuple[bool, str] | None:
        """``(paused, why)`` when the partitions should be paused or resumed now (the worker applies it)."""
        if self.health.down and not self.scoring:
            self.health.nothing_to_retry()
        return self.flow.decide(now, len(self.scoring), len(self.producing), self.health.down)

    def accepting(self) -> bool:
        return self.flow.accepting(len(self.scoring), len(self.producing))

    def busy(self) -> bool:
        return bool(self.scoring or self.producing)

    def running(self) -> list[concurrent.futures.Future[ScoreResult]]:
        """Triton calls in flight (batches waiting for a retry are not: Triton is down for them)."""
        return [b.future for b in self.scoring if b.future is not None]

    def forget(self, tps: set[TopicPartitionKey]) -> None:
        """Drop revoked or lost partitions; batches left with none of their partitions are cancelled."""
        self.tracker.drop(tps)
        for batch in list(self.scoring):
            if not batch.live():
                if batch.future is not None:
                    batch.future.cancel()
                self.scoring.remove(batch)
