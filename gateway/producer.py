"""An asyncio face on the confluent-kafka producer: ``await`` until the broker has acknowledged.

Why it is built this way
------------------------
* The gateway may only answer 202 for data the broker has stored, so every request awaits the delivery
  reports of its own messages. A per-request ``flush()`` would wait for *everyone's* messages and block
  the event loop; instead each request gets one asyncio future, completed from the delivery callbacks.
* Delivery callbacks only run inside ``poll()``. A dedicated thread sits in ``poll()`` (which releases the
  GIL while it waits), so an acknowledgement reaches its request within microseconds instead of at the
  next tick of some polling task; the thread hands each poll's results to the loop with one
  ``call_soon_threadsafe`` (one wake-up per poll, not per request).
* librdkafka's own ``message.timeout.ms`` is set to ``GATEWAY_PRODUCE_TIMEOUT_S``: a message that is not
  acknowledged in time is *expired by librdkafka itself* and never sent later, so a 503 for a timeout does
  not hide a write that lands afterwards when the broker comes back. (A message already on the wire when
  it expires may still have been stored: the client's retry then creates a duplicate, which is the normal
  at-least-once contract; clients that send their own ``transaction_id`` make it recognisable.)
* In-flight messages are bounded per process (``GATEWAY_MAX_IN_FLIGHT``): a request whose messages would
  not fit is refused *before* any of them is queued, so a 503 ``queue_full`` never half-writes a batch.
* A producer that failed fatally (idempotence state lost) or keeps timing out is replaced by a fresh one,
  so the gateway recovers from a broker that came back without its state, without a restart.
* Readiness asks whether a produce can go through without a cold start (:meth:`AsyncProducer.warm`): the
  idempotent producer must hold its producer id (the first produce of a fresh producer otherwise waits
  for it, about a second); librdkafka's statistics say when it does, so no message is written to find out.
* ``linger.ms`` defaults to 0 here (``GATEWAY_KAFKA_LINGER_MS``), unlike the shared config: every request
  waits for its ack, so linger is pure latency, and under load messages batch anyway while earlier
  requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from taxifraud.kafka import producer_config

from .settings import Settings

log = logging.getLogger(__name__)

#: How much longer than librdkafka's own message timeout a request waits before the sweeper fails it.
#: librdkafka scans for expired messages about once a second, so its timeout report can be that late.
TIMEOUT_GRACE_S = 1.5

#: Rebuild the producer after this many requests in a row timed out (see ``_rebuild_if_broken``) ...
STALE_AFTER_TIMEOUTS = 3
#: ... but not more often than this.
REBUILD_INTERVAL_S = 5.0

#: A refused login or TLS handshake older than this no longer explains a timeout.
AUTH_ERROR_MEMORY_S = 30.0

#: librdkafka error codes that mean "the broker (or its TLS) refused us", not "the broker is down".
AUTH_ERROR_CODES = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }
)

#: How often librdkafka reports its statistics; only read for the idempotent producer's state (readiness).
STATISTICS_INTERVAL_MS = 200
#: The statistics' idempotent-producer state once the broker has given us a producer id.
PID_ASSIGNED = re.compile(r'"idemp_state":\s*"Assigned"')

#: ``produce()``'s default partition (librdkafka's RD_KAFKA_PARTITION_UA): the configured partitioner picks it.
UNASSIGNED_PARTITION = -1

#: (topic, key, value) of one message.
Outgoing = tuple[str, bytes | None, bytes]


class ProduceFailed(Exception):
    """The broker did not store the messages; ``reason`` is a ``gateway_produce_failures_total`` label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _reason(err: KafkaError) -> str:
    code = err.code()
    if code == KafkaError._MSG_TIMED_OUT:
        return "timeout"
    if code == KafkaError._QUEUE_FULL:
        return "queue_full"
    return "broker_error"


class _Acks:
    """Counts the delivery reports of one request's messages; on the last one it is queued as done.

    ``on_delivery`` runs on the poll thread only, so the counter needs no lock. The future is touched
    only on the event loop, by :meth:`resolve`.
    """

    __slots__ = ("deadline", "done", "error", "future", "remaining")

    def __init__(self, future: asyncio.Future[None], count: int, done: list[_Acks], deadline: float) -> None:
        self.future = future
        self.remaining = count
        self.done = done
        self.deadline = deadline
        self.error: KafkaError | None = None

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        if self.remaining == 0:
            self.done.append(self)

    def resolve(self) -> None:
        if self.future.done():  # the request was cancelled (client went away) or expired by the sweeper
            return
        if self.error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(ProduceFailed(_reason(self.error), f"broker did not store: {self.error.str()}"))


def _resolve_all(batch: list[_Acks]) -> None:
    for acks in batch:
        acks.resolve()


class AsyncProducer:
    """One idempotent (acks=all) producer per process, shared by all requests of that process."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        self.timeout_s = settings.gateway_produce_timeout_s
        self.max_in_flight = settings.gateway_max_in_flight
        self._overrides = overrides
        self._generation = 0
        self._fatal: KafkaError | None = None
        self._auth_error: tuple[float, str] | None = None  # (when, what) the broker last refused our credentials
        self._timeouts_in_a_row = 0
        self._built_at = time.monotonic()
        self._pid_assigned = False  # of the current producer, from librdkafka's statistics
        self._acked = False  # a message of this process was acknowledged
        self._producer = self._build()
        self._retiring: list[Producer] = []  # replaced producers, polled until their reports are out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll_forever, name="kafka-delivery-poll", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: list[_Acks] = []  # completed on the poll thread, handed to the loop after each poll
        self._pending: deque[_Acks] = deque()  # in deadline order (one timeout for all), for the sweeper
        self._sweeper: asyncio.Task[None] | None = None

    def _build(self) -> Producer:
        self._generation += 1
        generation = self._generation
        conf = producer_config(
            self.settings,
            **{
                "client.id": "taxifraud-gateway",
                "message.timeout.ms": max(1, int(self.timeout_s * 1000)),
                # Every request waits for its ack, so linger is pure added latency; messages still batch
                # under load, because they queue while earlier requests are in flight.
                "linger.ms": self.settings.gateway_kafka_linger_ms,
                # The hard cap behind our own pre-check; a batch arriving while others are queued fits.
                "queue.buffering.max.messages": self.max_in_flight + self.settings.gateway_max_batch,
                "error_cb": lambda err: self._on_error(generation, err),
                "statistics.interval.ms": STATISTICS_INTERVAL_MS,
                "stats_cb": lambda stats: self._on_stats(generation, stats),
                # librdkafka's own log lines go through logging (delivered by the poll thread), not stderr.
                "logger": logging.getLogger("gateway.kafka"),
                **self._overrides,
            },
        )
        self._built_at = time.monotonic()
        return Producer(conf)

    def start(self) -> AsyncProducer:
        """Start the poll thread and the deadline sweeper; call from the event loop that will ``send``."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        self._sweeper = self._loop.create_task(self._sweep_forever(), name="kafka-ack-sweeper")
        return self

    def _on_stats(self, generation: int, stats: str) -> None:
        if generation == self._generation:
            self._pid_assigned = PID_ASSIGNED.search(stats) is not None

    def warm(self) -> bool:
        """A produce now pays no cold start: a message was acknowledged, or the producer holds its id."""
        return self._acked or self._pid_assigned

    def _on_error(self, generation: int, err: KafkaError) -> None:
        """Client-level errors (broker down, ...): librdkafka retries by itself; only fatal ones stick.

        Connection failures are already logged by librdkafka's logger, so only "all brokers down" is
        repeated here at warning level.
        """
        if err.code() in AUTH_ERROR_CODES:
            # A wrong password or certificate looks like a timeout to each request; remember why.
            self._auth_error = (time.monotonic(), err.str())
            log.error("Kafka broker refused the gateway's credentials: %s", err.str())
        if err.fatal():
            if generation == self._generation and self._fatal is None:
                log.error("Kafka producer fatal error, it will be rebuilt: %s", err.str())
                self._fatal = err
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            log.warning("Kafka producer: %s", err.str())
        else:
            log.debug("Kafka producer: %s", err.str())

    def _poll_forever(self) -> None:
        """The only place delivery callbacks run: the current producer, then any retiring ones."""
        while not self._stop.is_set():
            producer = self._producer
            retiring = list(self._retiring)
            self._poll(producer, 0.05 if retiring else 0.1)
            for old in retiring:
                self._poll(old, 0)
                if len(old) == 0:
                    self._retiring.remove(old)
            self._hand_over()

    def _hand_over(self) -> None:
        """Resolve this poll's completed requests on the loop: one wake-up per poll, not one per request."""
        if not self._done or self._loop is None:
            return
        batch = self._done[:]  # appended to on this thread only, so copy-and-clear is safe
        self._done.clear()
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(_resolve_all, batch)

    async def _sweep_forever(self) -> None:
        """Safety net behind librdkafka's own timeout: fail requests whose report never came.

        Deadlines are checked here, twice a second, instead of by a timer per request: ``wait_for``
        would push and cancel a timer on the loop's heap for every request, which at thousands of
        requests per second costs more than the rest of the request.
        """
        pending = self._pending
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            while pending and (pending[0].future.done() or pending[0].deadline <= now):
                acks = pending.popleft()
                if not acks.future.done():
                    log.error("no delivery report within %.1fs despite message.timeout.ms", self.timeout_s)
                    acks.future.set_exception(
                        ProduceFailed("timeout", f"broker did not acknowledge within {self.timeout_s:g}s")
                    )

    def _poll(self, producer: Producer, timeout: float) -> None:
        try:
            producer.poll(timeout)
        except KafkaException as exc:
            # poll() *raises* fatal errors (e.g. the broker lost our idempotent producer id); the thread
            # must survive them, and the next send() rebuilds the producer.
            err = exc.args[0] if exc.args else None
            if producer is self._producer and isinstance(err, KafkaError) and err.fatal():
                if self._fatal is None:
                    log.error("Kafka producer fatal error, it will be rebuilt: %s", err.str())
                self._fatal = err
                self._stop.wait(0.1)  # do not spin on a producer that keeps raising
        except Exception:
            log.exception("unexpected error in a delivery callback")

    def _rebuild_if_broken(self) -> None:
        """Start a fresh producer after a fatal error, or when acks stopped coming although we keep trying.

        The second case covers a broker that lost our idempotent producer state without saying so
        fatally (seen with an in-memory broker restarted under us): librdkafka then bumps epochs forever
        and every message times out. A new producer costs about a second (new producer id), so this
        happens at most once per ``REBUILD_INTERVAL_S``.
        """
        if self._fatal is None:
            if self._timeouts_in_a_row < STALE_AFTER_TIMEOUTS:
                return
            if time.monotonic() - self._built_at < max(REBUILD_INTERVAL_S, 3 * self.timeout_s):
                return
            log.warning("%d produce timeouts in a row; rebuilding the Kafka producer", self._timeouts_in_a_row)
        old = self._producer
        self._pid_assigned = self._acked = False
        self._producer, self._fatal, self._timeouts_in_a_row = self._build(), None, 0
        # Fail its pending messages now (their requests get 503); the poll thread delivers the reports.
        old.purge(in_queue=True, in_flight=True)
        self._retiring.append(old)

    def in_flight(self) -> int:
        """Messages queued or awaiting acknowledgement."""
        return len(self._producer)

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Produce ``messages`` and return once the broker acknowledged all of them.

        Raises :class:`ProduceFailed` with reason ``queue_full`` (nothing was queued), ``timeout`` (not
        acknowledged within ``GATEWAY_PRODUCE_TIMEOUT_S``) or ``broker_error``.
        """
        self._rebuild_if_broken()
        count = len(messages)
        if count == 0:
            return
        producer = self._producer
        if len(producer) + count > self.max_in_flight:
            raise ProduceFailed(
                "queue_full", f"{len(producer)} messages already awaiting the broker (GATEWAY_MAX_IN_FLIGHT)"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acks = _Acks(future, count, self._done, time.monotonic() + self.timeout_s + TIMEOUT_GRACE_S)
        produce, on_delivery = producer.produce, acks.on_delivery
        try:
            for topic, key, value in messages:
                # Positional: keyword parsing was a fifth of produce()'s cost (partition -1 = the partitioner).
                produce(topic, value, key, UNASSIGNED_PARTITION, on_delivery)
        except BufferError as exc:
            # Only reachable in a race with other requests; messages queued so far may still be stored.
            future.cancel()
            raise ProduceFailed("queue_full", f"producer queue full: {exc}") from None
        except KafkaException as exc:
            future.cancel()
            raise ProduceFailed("broker_error", f"cannot produce: {exc}") from None
        self._pending.append(acks)
        try:
            await future
        except ProduceFailed as exc:
            if exc.reason == "timeout":
                self._timeouts_in_a_row += 1
                refused = self.recent_auth_error()
                if refused is not None:
                    raise ProduceFailed("authentication", f"broker refused our credentials: {refused}") from None
            raise
        self._timeouts_in_a_row = 0
        self._auth_error = None
        self._acked = True

    def recent_auth_error(self) -> str | None:
        """Why the broker last refused our login or TLS handshake, if that happened recently."""
        if self._auth_error is None or time.monotonic() - self._auth_error[0] > AUTH_ERROR_MEMORY_S:
            return None
        return self._auth_error[1]

    def broker_check(self, timeout: float) -> dict[str, Any]:
        """Blocking metadata request (run it in a thread): is the broker reachable, does our topic exist?"""
        try:
            meta = self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            refused = self.recent_auth_error()
            if refused is not None:
                return {"ok": False, "error": f"authentication failed: {refused}"}
            return {"ok": False, "error": str(exc.args[0].str() if exc.args else exc)}
        topic = self.settings.topic_transactions
        info: dict[str, Any] = {"ok": True, "brokers": len(meta.brokers), "topic": topic}
        if topic not in meta.topics:
            info.update(ok=False, error=f"topic {topic!r} does not exist")
        elif self._fatal is not None:
            info.update(ok=False, error=f"producer fatal error: {self._fatal.str()}")
        return info

    async def close(self, timeout: float | None = None) -> int:
        """Deliver what is queued (bounded), stop the poll thread; returns messages left undelivered."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        return await asyncio.to_thread(self._close, self.timeout_s if timeout is None else timeout)

    def _close(self, timeout: float) -> int:
        self._stop.set()  # first: callbacks must not run on two threads at once
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        left = self._producer.flush(timeout)  # runs the last callbacks on this thread
        self._hand_over()
        # Stop librdkafka's threads now, not whenever the objects are collected.
        for producer in (self._producer, *self._retiring):
            producer.close()
        if left:
            log.warning("%d messages were still unacknowledged at shutdown", left)
        return int(left)
