"""``taxifraud replay``: send taxi trips into the system at a chosen rate, with labelled injected fraud.

Sources: real TLC files as TLC publishes them (CSV or Parquet, any of TLC's column spellings or ours, read
by :mod:`operations.trip_files`) or the calibrated generator (:mod:`operations.traffic`) when no file is
given. Targets: the HTTP gateway (what clients do) or
straight to Kafka (to load the consumer alone). Every trip gets a ``transaction_id`` that encodes
nothing; the labels (which ids carry injected fraud, and of which family) stay with the caller, so
the system under test cannot peek at them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

from operations.fraud_injection import FAMILIES, inject
from operations.traffic import TripGenerator
from operations.trip_files import read_trips
from taxifraud.config import KafkaSettings

log = logging.getLogger(__name__)

GENERATOR_POOL = 20_000


# -- sources ------------------------------------------------------------------------------------
@dataclass
class LabelledTrips:
    """An endless or bounded stream of (transaction, fraud family or None).

    ``take`` runs on the sending thread while a live view may read from another one, so the labels
    are kept private behind a lock: readers get counts (:meth:`counts`) or a copy (:attr:`labels`),
    never the dict that ``take`` is still filling.
    """

    source: Iterator[dict[str, Any]]
    fraud_rate: float
    seed: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._labels: dict[str, str | None] = {}
        self._injected = 0
        self._accepted: list[str] = []

    def take(self, n: int) -> list[dict[str, Any]]:
        out = []
        labels: list[tuple[str, str | None]] = []
        for trip in itertools.islice(self.source, n):
            tx_id = f"{self.run_id}-{next(self._counter)}"
            family: str | None = None
            if self._rng.random() < self.fraud_rate:
                family = FAMILIES[int(self._rng.integers(len(FAMILIES)))]
                trip = inject(trip, family, self._rng)
            trip = {**trip, "transaction_id": tx_id}
            labels.append((tx_id, family))
            out.append(trip)
        with self._lock:
            self._labels.update(labels)
            self._injected += sum(1 for _, family in labels if family)
        return out

    @property
    def labels(self) -> dict[str, str | None]:
        """A copy of transaction id -> injected family (None: left as it was), taken under the lock."""
        with self._lock:
            return dict(self._labels)

    def counts(self) -> tuple[int, int]:
        """(trips taken, of which with injected fraud), consistent with each other."""
        with self._lock:
            return len(self._labels), self._injected

    def mark_accepted(self, batch: list[dict[str, Any]]) -> None:
        """Record that the gateway acknowledged these trips (``send_http``'s ``on_accepted``)."""
        with self._lock:
            self._accepted.extend(str(tx["transaction_id"]) for tx in batch)

    def accepted_ids(self) -> set[str]:
        with self._lock:
            return set(self._accepted)


def trip_source(data: list[str] | None, seed: int) -> Iterator[dict[str, Any]]:
    """Trips from files (cycled, so a run can outlast them) or from the calibrated generator."""
    if data:
        paths = [Path(p) for p in data]
        return itertools.cycle(itertools.chain.from_iterable(read_trips(p) for p in paths))
    # Generating a trip costs ~100 us of Python; a load generator that must outrun the system under
    # test cycles through a pre-generated pool instead (ids, and injected fraud, still differ per send).
    return itertools.cycle(list(TripGenerator.from_file(seed=seed).trips(GENERATOR_POOL)))


# -- targets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayCounts:
    """One consistent reading of :class:`ReplayStats`, safe to hand to another thread."""

    sent: int
    accepted: int
    rejected: int
    errors: int
    started: float
    finished: float
    error_samples: tuple[str, ...]


@dataclass
class ReplayStats:
    """Counters of one replay. Written by the sending thread through the methods below (under a lock);
    read from other threads only through :meth:`snapshot`. Plain attribute reads are for after the
    sender has finished."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0
    request_seconds: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def snapshot(self) -> ReplayCounts:
        with self._lock:
            return ReplayCounts(
                self.sent,
                self.accepted,
                self.rejected,
                self.errors,
                self.started,
                self.finished,
                tuple(self.error_samples),
            )

    def add_sent(self, n: int) -> None:
        with self._lock:
            self.sent += n

    def add_accepted(self, n: int, seconds: float | None = None) -> None:
        with self._lock:
            self.accepted += n
            if seconds is not None:
                self.request_seconds.append(seconds)

    def add_rejected(self, n: int, text: str, seconds: float | None = None) -> None:
        with self._lock:
            self.rejected += n
            if seconds is not None:
                self.request_seconds.append(seconds)
        self.record_error(text)

    def record_error(self, text: str, seconds: float | None = None) -> None:
        with self._lock:
            self.errors += 1
            if seconds is not None:
                self.request_seconds.append(seconds)
            if len(self.error_samples) < 5:
                self.error_samples.append(text)

    def finish(self) -> None:
        with self._lock:
            self.finished = time.monotonic()


async def send_http(
    batches: Iterator[list[dict[str, Any]]],
    gateway_url: str,
    rate: float,
    concurrency: int,
    stats: ReplayStats,
    api_key: str | None = None,
    on_accepted: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """POST batches to ``/transactions``, paced to ``rate`` transactions/s (0: as fast as possible).

    aiohttp, as the bench's load generators: httpx's connection pool costs several times its CPU per
    request, and on a small host that CPU is taken from the stack being measured."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    url = f"{gateway_url.rstrip('/')}/transactions"
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as client:

        async def post(batch: list[dict[str, Any]]) -> None:
            body = orjson.dumps(batch[0] if len(batch) == 1 else batch)
            t0 = time.perf_counter()
            try:
                async with client.post(url, data=body) as resp:
                    status, text = resp.status, (await resp.read()).decode(errors="replace")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                stats.record_error(f"{type(exc).__name__}: {exc}")
                return
            finally:
                sem.release()
            seconds = time.perf_counter() - t0
            if status == 202:
                if on_accepted:
                    on_accepted(batch)
                stats.add_accepted(len(batch), seconds)
            elif status < 500:
                stats.add_rejected(len(batch), f"{status}: {text[:200]}", seconds)
            else:
                stats.record_error(f"{status}: {text[:200]}", seconds)

        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        sent = 0
        for batch in batches:
            if rate > 0:
                due = start + sent / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sem.acquire()
            sent += len(batch)
            stats.add_sent(len(batch))
            task = asyncio.create_task(post(batch))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    stats.finish()


def send_kafka(
    batches: Iterator[list[dict[str, Any]]], settings: KafkaSettings, topic: str, rate: float, stats: ReplayStats
) -> None:
    """Produce trips straight to the transactions topic (bypassing the gateway), stamped like it does."""
    from confluent_kafka import Producer

    from taxifraud.verdicts import utc_now_rfc3339

    producer = Producer(
        {
            **settings.kafka_client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
        }
    )

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            stats.add_accepted(1)
        else:
            stats.record_error(str(err))

    start = time.monotonic()
    sent = 0
    for batch in batches:
        if rate > 0:
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stamp = utc_now_rfc3339()
        for tx in batch:
            tx["ingested_at"] = stamp
            while True:
                try:
                    producer.produce(topic, orjson.dumps(tx), key=tx["transaction_id"], on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
        sent += len(batch)
        stats.add_sent(len(batch))
        producer.poll(0)
    producer.flush(60)
    stats.finish()


def batches_for(
    trips: LabelledTrips, batch_size: int, count: int | None, duration: float | None, rate: float
) -> Iterator[list[dict[str, Any]]]:
    """Batches until ``count`` trips were taken or ``duration`` seconds passed."""
    taken = 0
    deadline = time.monotonic() + duration if duration else None
    while (count is None or taken < count) and (deadline is None or time.monotonic() < deadline):
        n = batch_size if count is None else min(batch_size, count - taken)
        batch = trips.take(n)
        if not batch:
            return
        taken += len(batch)
        yield batch


def run_replay(
    *,
    data: list[str] | None = None,
    count: int | None = None,
    duration: float | None = None,
    rate: float = 1000.0,
    fraud_rate: float = 0.05,
    batch: int = 50,
    concurrency: int = 8,
    to: str = "http",
    gateway: str = "http://127.0.0.1:8000",
    api_key: str | None = None,
    labels: str | None = None,
    seed: int = 0,
    run_id: str | None = None,
) -> int:
    """``taxifraud replay``: send trips, print one summary line; exit status 1 when any send failed.
    Without ``count`` or ``duration`` it sends 10,000 trips."""
    if count is None and duration is None:
        count = 10_000
    trips = LabelledTrips(trip_source(data, seed), fraud_rate, seed=seed)
    if run_id:
        trips.run_id = run_id
    stats = ReplayStats()
    cpu_ready = time.process_time()  # the trip pool exists: what follows is the cost of sending
    first_request_at = time.time()
    batches = batches_for(trips, batch, count, duration, rate)
    if to == "http":
        asyncio.run(send_http(batches, gateway, rate, concurrency, stats, api_key))
    else:
        settings = KafkaSettings()
        send_kafka(batches, settings, settings.topic_transactions, rate, stats)
    elapsed = max(stats.finished - stats.started, 1e-9)
    cpu_sending = time.process_time() - cpu_ready
    _, injected = trips.counts()
    # The summary is this command's output (``make bench`` parses the "sent ..." line), so it goes to stdout.
    summary = [
        f"sent {stats.sent}, accepted {stats.accepted}, rejected {stats.rejected}, errors {stats.errors} "
        f"in {elapsed:.1f}s ({stats.accepted / elapsed:,.0f}/s); {injected} with injected fraud; "
        f"{cpu_sending:.3f} s CPU sending from {first_request_at:.3f}",
        *(f"  error: {sample}" for sample in stats.error_samples),
    ]
    sys.stdout.write("\n".join(summary) + "\n")
    if labels:
        Path(labels).write_text(orjson.dumps(trips.labels).decode())
    return 0 if stats.errors == 0 else 1
