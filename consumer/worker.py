"""The thin loop around the stages: poll, error branch, hand batches on, store offsets only after acks.

Shaped like confluent-kafka's ``examples/consumer.py`` (poll, error branch, manual offset store, close in
``finally``). Everything between receiving a batch and storing its offsets is in :class:`consumer.core.Core`
and the stage modules it calls (:mod:`consumer.pipeline` names them in order); this module owns the
clients and what only a client can do:

* **Overlap.** Triton calls run on an asyncio loop in a helper thread (:mod:`consumer.scoring`), so up to
  ``CONSUMER_MAX_IN_FLIGHT_BATCHES`` batches are being scored while this thread decodes the next one and
  produces the previous one's outputs (asynchronously, with delivery callbacks).
* **At-least-once.** Offsets the core hands back are stored; stored offsets are committed every
  ``CONSUMER_COMMIT_INTERVAL_MS`` and synchronously on shutdown and revocation, so a crash replays at most
  the batches in flight plus one commit interval; replayed verdicts carry the same ``transaction_id``.
* **Faults.** While Triton is down the partitions are paused (nothing more is fetched) and resumed after
  a success. SIGTERM/SIGINT finish the batches in flight, commit and close; a rebalance does the same for
  the revoked partitions, so the partitions' next owner starts where this one stopped.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from prometheus_client import start_http_server

from consumer.core import Core
from consumer.metrics import ConsumerMetrics
from consumer.model_follow import ModelFollower
from consumer.monitoring import DriftMonitor, update_lag
from consumer.offsets import TopicPartitionKey
from consumer.retry import backoff, until_ready
from consumer.scoring import TritonCaller
from consumer.settings import Settings
from consumer.sink import OutputSink
from taxifraud.config import DEFAULT_MODEL_VERSION
from taxifraud.heap import settle_after_startup
from taxifraud.kafka import consumer_config, ensure_topics, producer_config, receive
from taxifraud.logs import configure_logging
from taxifraud.model_meta import ModelMeta

log = logging.getLogger(__name__)
#: librdkafka's own log lines (connection refused, ...) go through logging, not raw to stderr.
RDKAFKA_LOG = logging.getLogger("consumer.rdkafka")

#: consume() timeout while batches are being scored or acknowledged. The loop notices a finished Triton
#: call or a delivery report only between consume() calls, so waiting the full CONSUMER_BATCH_WAIT_MS
#: there added up to two such waits to every message's processing time at moderate load.
BUSY_WAIT_S = 0.001


class Worker:
    """The consume/score/produce loop; see the module docstring. Call :meth:`run`."""

    def __init__(self, settings: Settings, meta: ModelMeta, metrics: ConsumerMetrics) -> None:
        self.s = settings
        self.metrics = metrics
        self.client_id = settings.consumer_client_id or f"consumer-{socket.gethostname()}-{os.getpid()}"
        self.stopping = threading.Event()
        self.triton = TritonCaller(settings)
        live = settings.triton_model_version or DEFAULT_MODEL_VERSION
        self.models = ModelFollower(settings, live, meta, metrics, self._triton_ready)
        self.drift = DriftMonitor(meta.baseline, settings.consumer_psi_window)
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self.core: Core | None = None
        self.pause_new = False
        self.fatal = False
        self.next_lag = 0.0
        self.next_psi = 0.0
        self.batch_wait_s = settings.consumer_batch_wait_ms / 1000.0

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
            self.core = Core(
                self.s, self.metrics, self.triton, OutputSink(self.producer, self.stopping), self.models, self.drift
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
            self.models.start(self.client_id, RDKAFKA_LOG)
            settle_after_startup()  # keep full GC passes over the start-up heap out of the p99 (taxifraud.heap)
            try:
                self._loop(self.consumer, self.producer, self.core)
                self._drain(self.s.consumer_drain_timeout_s)
                self._commit()
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
            self.models.close()
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
        """Topics, then Triton, each retried with backoff (a missing dependency is a wait, never a crash loop)."""
        wait = backoff(self.s.consumer_retry_backoff_ms / 1000.0, self.s.consumer_retry_backoff_max_ms / 1000.0)

        def topics() -> bool:
            if not broker_reachable(self.s.kafka_bootstrap_servers):
                # Checked with a plain socket first: librdkafka would log every refused connect.
                raise ConnectionError(f"no broker accepts connections at {self.s.kafka_bootstrap_servers}")
            ensure_topics(self.s, timeout=5.0)
            return True

        def triton() -> bool:
            self.triton.connect(timeout=self.s.triton_timeout_s + 1)
            log.info("Triton ready at %s (max_batch_size=%d)", self.s.triton_grpc_url, self.triton.max_batch_size)
            return True

        if until_ready(topics, "broker", self.stopping, wait) is None:
            return False
        return until_ready(triton, "Triton", self.stopping, wait) is not None

    def _triton_ready(self, version: str) -> str | None:
        return self.triton.version_ready(version, timeout=self.s.triton_timeout_s)

    # ------------------------------------------------------------------ main loop

    def _loop(self, consumer: Consumer, producer: Producer, core: Core) -> None:
        batch_max = self.s.consumer_batch_max
        while not self.stopping.is_set():
            now = time.monotonic()
            core.advance(now)
            producer.poll(0)
            self._store(core.finish())
            self._apply_flow(core.flow_step(now))
            self._periodic(now)
            paused = core.flow.paused
            if not core.accepting() and not paused:
                self._wait_briefly(core, producer)
                continue
            # While paused, consume() returns nothing but still serves rebalances and keeps us in the group.
            if paused:
                timeout = 0.05
            elif core.busy():
                timeout = min(self.batch_wait_s, BUSY_WAIT_S)
            else:
                timeout = self.batch_wait_s
            try:
                msgs = receive(consumer, batch_max, timeout)
            except KafkaException as exc:
                core.consume_error(exc.args[0] if exc.args else KafkaError(KafkaError._FAIL))
                self.stopping.wait(0.5)
                continue
            if msgs:
                core.dispatch(msgs)

    def _wait_briefly(self, core: Core, producer: Producer) -> None:
        """Pipeline full: wait for the oldest Triton call or for delivery reports, whichever helps."""
        running = core.running()
        if len(core.scoring) >= core.flow.max_in_flight and running:
            concurrent.futures.wait(running, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
        else:
            producer.poll(0.01)

    def _apply_flow(self, decision: tuple[bool, str] | None) -> None:
        if decision is not None:
            self._set_paused(*decision)

    def _set_paused(self, paused: bool, why: str) -> None:
        consumer, core = self._consumer(), self._core()
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
        core.flow.paused = paused
        self.metrics.paused.set(1 if paused else 0)
        log.warning("%s %d partitions: %s", "paused" if paused else "resumed", len(assignment), why)

    def _periodic(self, now: float) -> None:
        self.models.follow(now)
        if self.pause_new and self._core().flow.paused:
            self.pause_new = False
            self._set_paused(True, "new partitions while Triton is unavailable")
        if now >= self.next_lag:
            self.next_lag = now + self.s.consumer_lag_interval_s
            update_lag(self._consumer(), self.metrics)
        if now >= self.next_psi:
            self.next_psi = now + self.s.consumer_psi_interval_s
            self.drift.publish(self.metrics)

    # ------------------------------------------------------------------ offsets

    def _store(self, to_store: dict[TopicPartitionKey, int]) -> None:
        if not to_store:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in to_store.items()]
        try:
            self._consumer().store_offsets(offsets=offsets)
        except KafkaException as exc:  # e.g. the partition was revoked in between: it is redelivered
            log.info("store_offsets: %s", exc)

    def _commit(self, tps: set[TopicPartitionKey] | None = None) -> None:
        """Synchronously commit the stored offsets (of ``tps``, or of every tracked partition)."""
        tracker = self._core().tracker
        offsets = []
        for tp in tps if tps is not None else tracker.partitions():
            stored = tracker.stored(tp)
            if stored is not None:
                offsets.append(TopicPartition(tp[0], tp[1], stored))
        if not offsets:
            return
        try:
            self._consumer().commit(offsets=offsets, asynchronous=False)
            log.info("committed %s", ", ".join(f"{o.topic}[{o.partition}]@{o.offset}" for o in offsets))
        except KafkaException as exc:
            log.warning("commit failed (%s); the auto-commit or the next owner replays from the last one", exc)

    # ------------------------------------------------------------------ drain, rebalance

    def _drain(self, timeout: float) -> None:
        """Finish what is in flight: scored batches produced, outputs acknowledged, offsets stored.

        Batches whose Triton call already failed are not waited for (Triton is down; their messages are
        simply not stored and come back on replay, to this consumer or the partition's next owner).
        """
        producer, core = self._producer(), self._core()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            core.advance(time.monotonic(), resubmit=False)
            producer.poll(0)
            self._store(core.finish())
            running = core.running()
            if not running and not core.producing:
                break
            if running:
                concurrent.futures.wait(running, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
            else:
                producer.poll(0.02)
        producer.flush(max(0.0, deadline - time.monotonic()))
        self._store(core.finish())
        if core.producing or core.running():
            log.warning(
                "drain timed out: %d batches unscored, %d unacknowledged (they will be replayed)",
                len(core.scoring),
                len(core.producing),
            )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", _fmt(partitions))
        if self.core is not None and self.core.flow.paused and partitions:
            # Applied on the next loop turn, once the assignment is in place: it cannot be paused before.
            self.pause_new = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(p.topic, p.partition) for p in partitions}
        log.info("revoked %s: draining and committing", _fmt(partitions))
        if self.fatal or self.core is None:
            self._forget(tps)
            return
        try:
            self._drain(min(self.s.consumer_drain_timeout_s, 10.0))
            self._commit(tps & set(self.core.tracker.partitions()))
        except Exception:  # never let a rebalance fail half-way: the new owner replays what we did not commit
            log.exception("draining revoked partitions failed; they will be replayed from the last commit")
        finally:
            self._forget(tps)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s (session expired): dropping in-flight state, no commit", _fmt(partitions))
        self._forget({(p.topic, p.partition) for p in partitions})

    def _forget(self, tps: set[TopicPartitionKey]) -> None:
        if self.core is not None:
            self.core.forget(tps)
        for tp in tps:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(tp[0], str(tp[1]))

    # ------------------------------------------------------------------ helpers

    def _consumer(self) -> Consumer:
        assert self.consumer is not None
        return self.consumer

    def _producer(self) -> Producer:
        assert self.producer is not None
        return self.producer

    def _core(self) -> Core:
        assert self.core is not None
        return self.core


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
    configure_logging(settings.consumer_log_level)
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
