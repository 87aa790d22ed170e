"""The streaming worker: consume a batch -> score on Triton -> produce verdicts/alerts/DLQ -> store offsets.

Shaped like confluent-kafka's ``examples/consumer.py`` (poll, error branch, manual offset store, close in
``finally``), with two additions that carry the throughput and the guarantee:

* **Overlap.** The main thread owns the consumer, the producer and all pipeline state. Triton calls run
  on an asyncio loop in a helper thread (:mod:`consumer.scoring`), so up to
  ``CONSUMER_MAX_IN_FLIGHT_BATCHES`` batches are being scored while the main thread decodes the next
  batch and produces the previous one's verdicts. Produce is asynchronous with delivery callbacks.
* **At-least-once.** A batch's offsets become storable only when *every* output of the batch (verdict,
  alert, DLQ record) is acknowledged by the broker, and :class:`consumer.offsets.OffsetTracker` stores a
  partition's offset only past the longest prefix of such batches. Stored offsets are committed every
  ``CONSUMER_COMMIT_INTERVAL_MS`` and synchronously on shutdown and revocation, so a crash replays at
  most the batches in flight plus one commit interval; replayed verdicts carry the same
  ``transaction_id`` and are recognisable as duplicates.

Faults: a failed Triton call is retried with exponential backoff while all assigned partitions are
paused (bounded memory: nothing more is fetched) and resumed after the first success. A failed delivery
is re-produced. Poison messages go to the DLQ and count as that message's output. SIGTERM/SIGINT finish
the batches in flight, commit and close; a rebalance does the same for the revoked partitions.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import logging
import os
import random
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import start_http_server

from consumer.decode import Decoded, decode_batch
from consumer.dlq import dlq_headers
from consumer.drift import RollingBins, baseline_bins, psi
from consumer.metrics import ConsumerMetrics
from consumer.offsets import OffsetTracker, Unit
from consumer.scoring import ScoreResult, TritonCaller
from consumer.settings import Settings
from taxifraud import wire
from taxifraud.config import DEFAULT_MODEL_VERSION
from taxifraud.heap import settle_after_startup
from taxifraud.kafka import consumer_config, ensure_topics, producer_config, receive
from taxifraud.model_control import ControlReader
from taxifraud.model_meta import ModelMeta
from taxifraud.reasons import reason_family
from taxifraud.triton_client import TritonUnavailable
from taxifraud.verdicts import build_alert, build_verdicts

log = logging.getLogger(__name__)
#: librdkafka's own log lines (connection refused, ...) go through logging, not raw to stderr.
RDKAFKA_LOG = logging.getLogger("consumer.rdkafka")

#: How often the model-control topic is read for a live/shadow switch (between batches, never inside one).
CONTROL_INTERVAL_S = 0.1

#: How long a delivery failure waits before the record is produced again.
REDELIVERY_BACKOFF_S = 1.0

#: consume() timeout while batches are being scored or acknowledged. The loop notices a finished Triton
#: call or a delivery report only between consume() calls, so waiting the full CONSUMER_BATCH_WAIT_MS
#: there added up to two such waits to every message's processing time at moderate load.
BUSY_WAIT_S = 0.001


class Batch:
    """One consume() result on its way through the pipeline; completes when all its outputs are acked."""

    __slots__ = (
        "alert_families",
        "attempts",
        "decoded",
        "dlq_kinds",
        "future",
        "msgs",
        "n_fraud",
        "n_verdicts",
        "outputs_sent",
        "pending",
        "received_mono",
        "redo",
        "retry_at",
        "seq",
        "shadow_agreement",
        "sink",
        "submitted",
        "units",
    )

    def __init__(self, seq: int, msgs: list[Message], decoded: Decoded, units: list[Unit], sink: list[Batch]):
        self.seq = seq
        self.msgs = msgs
        self.decoded = decoded
        self.units = units
        self.sink = sink  # where the batch reports itself once its last output is acknowledged
        self.received_mono = time.monotonic()
        self.future: concurrent.futures.Future[ScoreResult] | None = None
        self.submitted = 0.0  # monotonic time of the latest Triton call for this batch
        self.attempts = 0
        self.retry_at = 0.0
        self.pending = 0  # produced, not yet acknowledged
        self.outputs_sent = False
        self.redo: list[Message] = []  # deliveries that failed: produce again
        self.n_verdicts = 0
        self.n_fraud = 0
        self.alert_families: collections.Counter[str] = collections.Counter()
        self.dlq_kinds: collections.Counter[str] = collections.Counter()
        #: (live version, shadow version, agreement) -> shadow verdicts, counted once acknowledged
        self.shadow_agreement: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report (runs inside producer.poll/flush on the main thread)."""
        if err is not None:
            self.redo.append(msg)
            return
        self.pending -= 1
        if self.pending == 0 and self.outputs_sent:
            self.sink.append(self)

    def live(self) -> bool:
        """False when every partition of the batch was revoked: nothing of it needs producing any more."""
        return any(not u.owner.revoked for u in self.units)


class FatalError(RuntimeError):
    """The client cannot continue (e.g. a fatal idempotent-producer error): exit non-zero, restart."""


class Worker:
    """The consume/score/produce loop; see the module docstring. Call :meth:`run`."""

    def __init__(self, settings: Settings, meta: ModelMeta, metrics: ConsumerMetrics) -> None:
        self.s = settings
        self.meta = meta
        self.metrics = metrics
        self.client_id = settings.consumer_client_id or f"consumer-{socket.gethostname()}-{os.getpid()}"
        self.stopping = threading.Event()
        self.tracker = OffsetTracker()
        self.triton = TritonCaller(settings)
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self.scoring: collections.deque[Batch] = collections.deque()  # consumed, not yet scored
        self.producing: set[Batch] = set()  # scored, outputs not all acknowledged
        self.completed: list[Batch] = []  # filled by delivery callbacks
        self.to_store: dict[tuple[str, int], int] = {}
        self.seq = 0
        self.paused = False
        self.pause_new = False
        self.fatal = False
        self.triton_down = False
        self.down_since = 0.0
        self.full_since: float | None = None
        self.next_lag = 0.0
        self.next_psi = 0.0
        self.last_error_log = 0.0
        self.batch_wait_s = settings.consumer_batch_wait_ms / 1000.0
        self.drift = self._drift_windows()
        # Model lifecycle (taxifraud.model_control): the live and shadow versions, switched between batches.
        self.live = settings.triton_model_version or DEFAULT_MODEL_VERSION
        self.shadow: str | None = None
        self.metas: dict[str, ModelMeta] = {self.live: meta}
        self.control: ControlReader | None = None
        self.next_control = 0.0

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        """Blocking; returns the process exit code."""
        self.triton.start()
        try:
            if not self._wait_for_dependencies():
                return 0  # asked to stop before we started consuming
            self.producer = Producer(
                producer_config(
                    self.s,
                    **{
                        "client.id": self.client_id,
                        # A batch's verdicts are produced in one tight loop, so they batch without
                        # waiting; 1 ms only lets that loop finish before the first request goes out.
                        "linger.ms": 1,
                        "batch.num.messages": 10000,
                        "queue.buffering.max.messages": 1_000_000,
                        "queue.buffering.max.kbytes": 1_048_576,
                    },
                ),
                logger=RDKAFKA_LOG,
            )
            self.consumer = Consumer(
                consumer_config(
                    self.s,
                    self.s.consumer_group_id,
                    **{
                        "client.id": self.client_id,
                        "fetch.wait.max.ms": self.s.consumer_fetch_wait_max_ms,
                        "auto.commit.interval.ms": self.s.consumer_commit_interval_ms,
                        "enable.partition.eof": False,
                    },
                ),
                logger=RDKAFKA_LOG,
            )
            self.consumer.subscribe(
                [self.s.topic_transactions],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            log.info(
                "consumer %s joined group %s on %s", self.client_id, self.s.consumer_group_id, self.s.topic_transactions
            )
            self._start_control()
            settle_after_startup()  # keep full GC passes over the start-up heap out of the p99 (taxifraud.heap)
            try:
                self._loop()
                self._shutdown()
                return 0
            except Exception:
                # Whatever it was, offsets past it were never stored: exit non-zero and let the supervisor
                # restart us; the unacknowledged tail is replayed.
                self.fatal = True
                log.exception("unrecoverable error; exiting without storing unacknowledged offsets")
                return 1
        finally:
            if self.consumer is not None:
                try:
                    self.consumer.close()  # leaves the group now, instead of blocking it for a session
                except Exception:
                    log.exception("closing the consumer failed")
            if self.control is not None:
                self.control.close()
            if self.producer is not None:
                self.producer.flush(5)
            self.triton.stop()

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if not self.stopping.is_set():
            log.info(
                "stop requested%s: finishing the batches in flight",
                f" by signal {signum}" if signum is not None else "",
            )
        self.stopping.set()

    def _wait_for_dependencies(self) -> bool:
        """Topics and Triton, retried with backoff (a missing dependency is a wait, never a crash loop)."""
        delay = self.s.consumer_retry_backoff_ms / 1000.0
        while not self.stopping.is_set():
            try:
                if not broker_reachable(self.s.kafka_bootstrap_servers):
                    # Checked with a plain socket first: librdkafka would log every refused connect.
                    raise ConnectionError(f"no broker accepts connections at {self.s.kafka_bootstrap_servers}")
                ensure_topics(self.s, timeout=5.0)
                break
            except Exception as exc:
                log.warning("broker not ready (%s); retrying in %.1fs", exc, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.s.consumer_retry_backoff_max_ms / 1000.0)
        delay = self.s.consumer_retry_backoff_ms / 1000.0
        while not self.stopping.is_set():
            try:
                self.triton.connect(timeout=self.s.triton_timeout_s + 1)
                log.info("Triton ready at %s (max_batch_size=%d)", self.s.triton_grpc_url, self.triton.max_batch_size)
                return True
            except TritonUnavailable as exc:
                log.warning("Triton not ready (%s); retrying in %.1fs", exc, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.s.consumer_retry_backoff_max_ms / 1000.0)
        return False

    # ------------------------------------------------------------------ main loop

    def _loop(self) -> None:
        consumer = self._consumer()
        producer = self._producer()
        batch_max = self.s.consumer_batch_max
        while not self.stopping.is_set():
            now = time.monotonic()
            self._advance_scoring(now)
            producer.poll(0)
            self._finish_completed()
            self._flow_control(now)
            self._periodic(now)
            if not self._accepting() and not self.paused:
                self._wait_briefly()
                continue
            # While paused, consume() returns nothing but still serves rebalances and keeps us in the group.
            if self.paused:
                timeout = 0.05
            elif self.scoring or self.producing:
                timeout = min(self.batch_wait_s, BUSY_WAIT_S)
            else:
                timeout = self.batch_wait_s
            try:
                msgs = receive(consumer, batch_max, timeout)
            except KafkaException as exc:
                self._consume_error(exc.args[0] if exc.args else KafkaError(KafkaError._FAIL))
                self.stopping.wait(0.5)
                continue
            if msgs:
                self._dispatch(msgs)

    def _accepting(self) -> bool:
        return not self.paused and self._has_capacity()

    def _wait_briefly(self) -> None:
        """Pipeline full: wait for the oldest Triton call or for delivery reports, whichever helps."""
        running = [b.future for b in self.scoring if b.future is not None]
        if len(self.scoring) >= self.s.consumer_max_in_flight_batches and running:
            concurrent.futures.wait(running, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
        else:
            self._producer().poll(0.01)

    def _has_capacity(self) -> bool:
        return (
            len(self.scoring) < self.s.consumer_max_in_flight_batches
            and len(self.producing) < self.s.consumer_max_unacked_batches
        )

    def _flow_control(self, now: float) -> None:
        """Pause while Triton is down or the pipeline stayed full (broker slow); resume once both clear."""
        if self.triton_down and not self.scoring:
            # Nothing left to retry (e.g. its partitions were revoked): the next batch is the probe.
            self.triton_down = False
        capacity = self._has_capacity()
        if capacity:
            self.full_since = None
        elif self.full_since is None:
            self.full_since = now
        stuck = self.full_since is not None and now - self.full_since >= self.s.consumer_backpressure_pause_s
        if not self.paused and (self.triton_down or stuck):
            self._set_paused(
                True, "Triton unavailable" if self.triton_down else "pipeline full (Triton or broker slow)"
            )
        elif self.paused and not self.triton_down and capacity:
            self._set_paused(False, "Triton available, pipeline has room")

    def _set_paused(self, paused: bool, why: str) -> None:
        consumer = self._consumer()
        assignment = consumer.assignment()
        try:
            if paused:
                if assignment:
                    consumer.pause(assignment)
            elif assignment:
                consumer.resume(assignment)
        except KafkaException as exc:
            log.warning("pause/resume failed: %s", exc)
            return
        self.paused = paused
        self.metrics.paused.set(1 if paused else 0)
        log.warning("%s %d partitions: %s", "paused" if paused else "resumed", len(assignment), why)

    # ------------------------------------------------------------------ consume -> decode -> score

    def _dispatch(self, msgs: list[Message]) -> None:
        good: list[Message] = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                good.append(msg)
            else:
                self._consume_error(err)
        if not good:
            return
        self.metrics.consumed.inc(len(good))
        spans: dict[tuple[str, int], list[int]] = {}
        keep: list[Message] = []
        for msg in good:
            tp: tuple[str, int] = (msg.topic(), msg.partition())  # type: ignore[assignment]
            offset: int = msg.offset()  # type: ignore[assignment]
            span = spans.get(tp)
            if span is None:
                stored = self.tracker.last_registered(tp)
                if stored is not None and offset <= stored:
                    continue  # already in flight (a fetch restarted behind us): not a new message
                spans[tp] = [offset, offset]
            elif offset <= span[1]:
                continue
            else:
                span[1] = offset
            keep.append(msg)
        if not keep:
            return
        units = [self.tracker.register(tp, first, last) for tp, (first, last) in spans.items()]

        def fallback_id(i: int) -> str:
            m = keep[i]
            return f"{m.topic()}-{m.partition()}-{m.offset()}"

        decoded = decode_batch([m.value() for m in keep], fallback_id)
        self.seq += 1
        batch = Batch(self.seq, keep, decoded, units, self.completed)
        for poison in decoded.poison:
            msg = keep[poison.index]
            self._produce(
                batch,
                self.s.topic_dlq,
                msg.value(),
                msg.key(),
                dlq_headers(poison.error, poison.stage, msg.topic() or "", msg.partition() or 0, msg.offset() or 0),
            )
            batch.dlq_kinds[poison.kind] += 1
        if decoded.poison:
            log.debug("batch %d: %d poison messages to %s", batch.seq, len(decoded.poison), self.s.topic_dlq)
        if len(decoded.transactions):
            self._submit(batch)
            self.scoring.append(batch)
        else:
            self._outputs_sent(batch)

    def _consume_error(self, err: KafkaError) -> None:
        if err.fatal():
            raise FatalError(str(err))
        now = time.monotonic()
        if now - self.last_error_log > 5:
            self.last_error_log = now
            log.warning("consume error (librdkafka retries): %s", err)

    def _advance_scoring(self, now: float, resubmit: bool = True) -> None:
        """Harvest finished Triton calls; schedule retries for failed ones and resubmit those due."""
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
                verdicts = build_verdicts(
                    batch.decoded.transactions, batch.decoded.rows, result.outputs, self._meta(result.version)
                )
            except (ValueError, IndexError, KeyError, OSError) as exc:
                # Triton serves a model that model_meta.json does not describe (e.g. re-exported while
                # running): a deployment fault, not a data fault. Retry like an outage, re-reading the meta.
                self._model_mismatch(batch, exc)
                continue
            self.scoring.remove(batch)
            # Only a call made after the outage began proves recovery (older ones may just have been lucky).
            if self.triton_down and batch.submitted > self.down_since:
                self.triton_down = False
                log.warning("Triton is answering again (batch %d after %d retries)", batch.seq, batch.attempts)
            self._record_triton(result)
            self._produce_outputs(batch, result, verdicts)

    def _submit(self, batch: Batch) -> None:
        """Send the batch to the live version (and the shadow one) as they are now: a switch that arrives
        later applies to later batches only, so no batch is scored twice or held back by a switch."""
        batch.submitted = time.monotonic()
        batch.future = self.triton.submit(batch.decoded.rows, self.live, self.shadow)

    def _score_failed(self, batch: Batch, exc: BaseException) -> None:
        batch.attempts += 1
        batch.future = None
        base = self.s.consumer_retry_backoff_ms / 1000.0
        cap = self.s.consumer_retry_backoff_max_ms / 1000.0
        delay = min(cap, base * 2 ** min(batch.attempts - 1, 20)) * random.uniform(0.8, 1.2)
        batch.retry_at = time.monotonic() + delay
        self.metrics.triton_errors.inc()
        if not self.triton_down or batch.attempts == 1 or batch.attempts % 10 == 0:
            log.warning(
                "Triton call failed for batch %d (attempt %d, retry in %.2fs): %s",
                batch.seq,
                batch.attempts,
                delay,
                exc,
            )
        if not self.triton_down:
            self.down_since = time.monotonic()
        self.triton_down = True

    def _record_triton(self, result: ScoreResult) -> None:
        self.metrics.triton_duration.observe(result.seconds)
        for rows in result.chunks:
            self.metrics.batch_size.observe(rows)

    # ------------------------------------------------------------------ produce -> acknowledge -> store

    def _model_mismatch(self, batch: Batch, exc: Exception) -> None:
        log.error(
            "model outputs do not match %s/model_meta.json (%s); re-reading it and retrying",
            self.s.model_repository,
            exc,
        )
        try:
            self.metas.clear()  # every version's metadata is read again on its next use
            self.meta = self._meta(self.live)
        except (OSError, ValueError, KeyError) as load_exc:
            log.error("cannot re-read model metadata: %s", load_exc)
        self._score_failed(batch, exc)

    def _produce_outputs(self, batch: Batch, result: ScoreResult, verdicts: list[dict[str, Any]]) -> None:
        decoded = batch.decoded
        txs = decoded.transactions
        skip = self._revoked_rows(batch)
        topic_verdicts, topic_alerts = self.s.topic_verdicts, self.s.topic_alerts
        produce = self._produce
        dumps = orjson.dumps
        for i, verdict in enumerate(verdicts):
            if skip is not None and skip[i]:
                continue
            key = verdict["transaction_id"].encode()
            produce(batch, topic_verdicts, dumps(verdict), key)
            if verdict["is_fraud"]:
                produce(batch, topic_alerts, dumps(build_alert(verdict, txs[i])), key)
                reasons = verdict["reasons"]
                batch.alert_families[reason_family(reasons[0]) if reasons else "unknown"] += 1
                batch.n_fraud += 1
            batch.n_verdicts += 1
        if result.shadow_version is not None:
            self._produce_shadow(batch, result, verdicts, skip)
        scores = np.asarray(result.outputs[wire.OUTPUT_SCORE], dtype=np.float64).reshape(-1)
        self.metrics.score.observe_many(scores)
        self._observe_drift(decoded.rows, scores)
        self._outputs_sent(batch)

    def _produce_shadow(
        self, batch: Batch, result: ScoreResult, verdicts: list[dict[str, Any]], skip: np.ndarray | None
    ) -> None:
        """The shadow version's verdicts of the same rows to ``TOPIC_VERDICTS_SHADOW``, and their agreement
        with the live ones. They count as outputs of the batch (at least once, like the live verdicts)."""
        shadow = result.shadow_version or ""
        if result.shadow_outputs is None:
            self.metrics.shadow_errors.inc()
            log.warning("shadow version %s failed for batch %d: %s", shadow, batch.seq, result.shadow_error)
            return
        decoded = batch.decoded
        try:
            shadow_verdicts = build_verdicts(
                decoded.transactions, decoded.rows, result.shadow_outputs, self._meta(shadow)
            )
        except (ValueError, IndexError, KeyError, OSError) as exc:
            self.metrics.shadow_errors.inc()
            log.warning("shadow version %s: outputs do not match its model_meta.json (%s)", shadow, exc)
            return
        live_name = verdicts[0]["model_version"] if verdicts else ""
        shadow_name = shadow_verdicts[0]["model_version"] if shadow_verdicts else ""
        topic = self.s.topic_verdicts_shadow
        for i, (live, other) in enumerate(zip(verdicts, shadow_verdicts, strict=True)):
            if skip is not None and skip[i]:
                continue
            other["live_is_fraud"] = live["is_fraud"]
            self._produce(batch, topic, orjson.dumps(other), live["transaction_id"].encode())
            if live["is_fraud"] == other["is_fraud"]:
                agreement = "agree_fraud" if live["is_fraud"] else "agree_legit"
            else:
                agreement = "live_only" if live["is_fraud"] else "shadow_only"
            batch.shadow_agreement[(live_name, shadow_name, agreement)] += 1

    def _revoked_rows(self, batch: Batch) -> np.ndarray | None:
        """Mask of rows whose partition was revoked since consumption (the new owner re-scores them)."""
        gone = {u.owner.tp for u in batch.units if u.owner.revoked}
        if not gone:
            return None
        msgs = batch.msgs
        return np.array([(msgs[j].topic(), msgs[j].partition()) in gone for j in batch.decoded.index.tolist()])

    def _produce(
        self,
        batch: Batch,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Any = None,
    ) -> None:
        producer = self._producer()
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

    def _outputs_sent(self, batch: Batch) -> None:
        batch.outputs_sent = True
        if batch.pending == 0:
            self.completed.append(batch)
        else:
            self.producing.add(batch)

    def _finish_completed(self) -> None:
        """Account batches whose outputs are all acknowledged and store the offsets they unlock."""
        self._redo_failed_deliveries()
        if not self.completed:
            return
        now_mono, now_wall = time.monotonic(), time.time()
        m = self.metrics
        for batch in self.completed:
            self.producing.discard(batch)
            for unit in batch.units:
                advanced = self.tracker.complete(unit)
                if advanced is not None:
                    self.to_store[advanced[0]] = advanced[1]
            n = len(batch.msgs)
            m.processing.observe(now_mono - batch.received_mono, n)
            m.event_to_verdict.observe_many(now_wall - batch.decoded.ingested_at)
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
        self._store()

    def _redo_failed_deliveries(self) -> None:
        now = time.monotonic()
        for batch in list(self.producing):
            if not batch.redo:
                continue
            if batch.retry_at > now:
                continue
            failed, batch.redo = batch.redo, []
            log.warning("re-producing %d records whose delivery failed: %s", len(failed), failed[0].error())
            for msg in failed:
                err = msg.error()
                if err is not None and err.fatal():
                    raise FatalError(str(err))
                batch.pending -= 1  # the failed attempt; _produce counts the new one
                self._produce(batch, msg.topic() or "", msg.value(), msg.key(), msg.headers())
            batch.retry_at = now + REDELIVERY_BACKOFF_S

    def _store(self) -> None:
        if not self.to_store:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.to_store.items()]
        self.to_store.clear()
        try:
            self._consumer().store_offsets(offsets=offsets)
        except KafkaException as exc:  # e.g. the partition was revoked in between: it is redelivered
            log.info("store_offsets: %s", exc)

    def _commit(self, tps: set[tuple[str, int]] | None = None) -> None:
        """Synchronously commit the stored offsets (of ``tps``, or of every tracked partition)."""
        offsets = []
        for tp in tps if tps is not None else self.tracker.partitions():
            stored = self.tracker.stored(tp)
            if stored is not None:
                offsets.append(TopicPartition(tp[0], tp[1], stored))
        if not offsets:
            return
        try:
            self._consumer().commit(offsets=offsets, asynchronous=False)
            log.info("committed %s", ", ".join(f"{o.topic}[{o.partition}]@{o.offset}" for o in offsets))
        except KafkaException as exc:
            log.warning("commit failed (%s); the auto-commit or the next owner replays from the last one", exc)

    # ------------------------------------------------------------------ drain, rebalance, shutdown

    def _drain(self, timeout: float) -> None:
        """Finish what is in flight: scored batches produced, outputs acknowledged, offsets stored.

        Batches whose Triton call already failed are not waited for (Triton is down; their messages are
        simply not stored and come back on replay).
        """
        producer = self._producer()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._advance_scoring(time.monotonic(), resubmit=False)
            producer.poll(0)
            self._finish_completed()
            running = [b.future for b in self.scoring if b.future is not None]
            if not running and not self.producing:
                break
            if running:
                concurrent.futures.wait(running, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
            else:
                producer.poll(0.02)
        remaining = max(0.0, deadline - time.monotonic())
        producer.flush(remaining)
        self._finish_completed()
        if self.producing or any(b.future is not None for b in self.scoring):
            log.warning(
                "drain timed out: %d batches unscored, %d unacknowledged (they will be replayed)",
                len(self.scoring),
                len(self.producing),
            )

    def _shutdown(self) -> None:
        self._drain(self.s.consumer_drain_timeout_s)
        self._commit()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", _fmt(partitions))
        if self.paused and partitions:
            # Applied on the next loop turn, once the assignment is in place: it cannot be paused before.
            self.pause_new = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(p.topic, p.partition) for p in partitions}
        log.info("revoked %s: draining and committing", _fmt(partitions))
        if self.fatal:
            self._forget(tps)
            return
        try:
            if self.producer is not None:
                self._drain(min(self.s.consumer_drain_timeout_s, 10.0))
            self._commit(tps & set(self.tracker.partitions()))
        except Exception:  # never let a rebalance fail half-way: the new owner replays what we did not commit
            log.exception("draining revoked partitions failed; they will be replayed from the last commit")
        finally:
            self._forget(tps)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s (session expired): dropping in-flight state, no commit", _fmt(partitions))
        self._forget({(p.topic, p.partition) for p in partitions})

    def _forget(self, tps: set[tuple[str, int]]) -> None:
        self.tracker.drop(tps)
        for tp in tps:
            self.to_store.pop(tp, None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(tp[0], str(tp[1]))
        for batch in list(self.scoring):
            if not batch.live():
                if batch.future is not None:
                    batch.future.cancel()
                self.scoring.remove(batch)

    # ------------------------------------------------------------------ model lifecycle

    def _meta(self, version: str) -> ModelMeta:
        """``model_meta.json`` of a Triton version ("" = the configured one), read once per version."""
        version = version or self.s.triton_model_version or DEFAULT_MODEL_VERSION
        meta = self.metas.get(version)
        if meta is None:
            meta = self.metas[version] = ModelMeta.load(self.s.model_repository, self.s.triton_model_name, version)
        return meta

    def _start_control(self) -> None:
        """Read the model-control topic (one partition, compacted) from its start: the latest record wins."""
        self.control = ControlReader(self.s, self.s.triton_model_name, self.client_id, logger=RDKAFKA_LOG)
        self.metrics.model_version.labels(role="live", version=self.live).set(1)

    def _follow_control(self) -> None:
        latest = self.control.poll() if self.control is not None else None
        if latest is None or latest.roles() == (self.live, self.shadow):
            return
        try:  # both versions' metadata must be readable before anything is sent to them
            self._meta(latest.live)
            if latest.shadow is not None:
                self._meta(latest.shadow)
        except (OSError, ValueError, KeyError) as exc:
            log.error("model control %s ignored: cannot read model_meta.json (%s)", latest.record(), exc)
            return
        log.warning(
            "model control (%s): live %s -> %s, shadow %s -> %s, from the next batch",
            latest.action,
            self.live or "default",
            latest.live,
            self.shadow,
            latest.shadow,
        )
        self.metrics.model_version.clear()
        self.metrics.model_version.labels(role="live", version=latest.live).set(1)
        if latest.shadow is not None:
            self.metrics.model_version.labels(role="shadow", version=latest.shadow).set(1)
        self.live, self.shadow = latest.live, latest.shadow

    # ------------------------------------------------------------------ periodic metrics

    def _periodic(self, now: float) -> None:
        if now >= self.next_control:
            self.next_control = now + CONTROL_INTERVAL_S
            self._follow_control()
        if self.pause_new and self.paused:
            self.pause_new = False
            self._set_paused(True, "new partitions while Triton is unavailable")
        if now >= self.next_lag:
            self.next_lag = now + self.s.consumer_lag_interval_s
            self._update_lag()
        if now >= self.next_psi:
            self.next_psi = now + self.s.consumer_psi_interval_s
            self._update_psi()

    def _update_lag(self) -> None:
        consumer = self._consumer()
        try:
            assignment = consumer.assignment()
            if not assignment:
                return
            for tp in consumer.position(assignment):
                low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=True)
                if high < 0:
                    low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
                position = tp.offset if tp.offset >= 0 else low
                self.metrics.lag.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, high - position))
        except KafkaException as exc:
            log.debug("lag update failed: %s", exc)

    def _drift_windows(self) -> dict[str, tuple[RollingBins, np.ndarray, int | None]]:
        """Rolling windows for the features (and ``score``) that the baseline gives bins for."""
        windows: dict[str, tuple[RollingBins, np.ndarray, int | None]] = {}
        for name, edges, expected in baseline_bins(self.meta.baseline):
            column = None if name == "score" else wire.COLUMN_INDEX.get(name)
            if name != "score" and column is None:
                continue
            windows[name] = (RollingBins(edges, self.s.consumer_psi_window), expected, column)
        return windows

    def _observe_drift(self, rows: np.ndarray, scores: np.ndarray) -> None:
        for _name, (window, _expected, column) in self.drift.items():
            window.add(scores if column is None else rows[:, column])

    def _update_psi(self) -> None:
        for name, (window, expected, column) in self.drift.items():
            if window.count < 100:
                continue
            value = psi(expected, window.counts())
            if column is None:
                self.metrics.score_psi.set(value)
            else:
                self.metrics.feature_psi.labels(feature=name).set(value)

    # ------------------------------------------------------------------ helpers

    def _consumer(self) -> Consumer:
        assert self.consumer is not None
        return self.consumer

    def _producer(self) -> Producer:
        assert self.producer is not None
        return self.producer


def broker_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when at least one bootstrap address accepts a TCP connection."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        host = host.split("://")[-1].strip("[]") or "127.0.0.1"
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def _fmt(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"


def run(settings: Settings) -> int:
    """Run the worker until SIGTERM/SIGINT; returns the exit code (0 after a clean stop)."""
    logging.basicConfig(
        level=settings.consumer_log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    meta = ModelMeta.load(
        settings.model_repository, settings.triton_model_name, settings.triton_model_version or DEFAULT_MODEL_VERSION
    )
    metrics = ConsumerMetrics(meta.threshold)
    if settings.consumer_metrics_port:
        start_http_server(settings.consumer_metrics_port, addr=settings.consumer_metrics_host)
        log.info("metrics on :%d/metrics", settings.consumer_metrics_port)
    worker = Worker(settings, meta, metrics)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, worker.request_stop)
    try:
        return worker.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
