"""Reads the verdicts topic in a background thread and keeps what a report needs.

Used by ``taxifraud demo`` and ``taxifraud bench``: per transaction id, the first verdict seen (later
copies are counted as duplicates), and the latency from the gateway's ``ingested_at`` to the moment
the verdict was read here (event -> verdict visible to a downstream reader).
"""

from __future__ import annotations

import functools
import gc
import threading
import time
import uuid
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from taxifraud.families import reason_families
from taxifraud.kafka import FETCH_WAIT_MAX_MS, receive


@functools.lru_cache(maxsize=4096)
def _epoch(rfc3339: str) -> float:
    """Epoch seconds of a stamp. Cached: one HTTP request's transactions share their ``ingested_at`` and one
    consumer batch its ``scored_at``, so a few distinct stamps cover thousands of verdicts."""
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Seen:
    is_fraud: bool
    score: float
    reasons: list[str]
    latency_s: float | None  # ingested_at -> read here
    scored_latency_s: float | None  # ingested_at -> scored_at (consumer clock)
    seen_at: float


@dataclass(frozen=True)
class CollectorView:
    """One consistent reading of a :class:`VerdictCollector`, safe to hand to another thread."""

    verdicts: int
    alerts: int
    duplicates: int
    recent_latencies_s: tuple[float, ...]  # of the last RECENT first verdicts that carried ingested_at
    top_reasons: tuple[tuple[str, int], ...]


#: First verdicts whose latency :meth:`VerdictCollector.view` reports (a rolling window for a live view).
RECENT = 2000


@dataclass
class VerdictCollector:
    """Everything it keeps is written by its own thread under ``_lock``; other threads read it only
    through the methods below (copies or counts taken under the same lock), never the live containers.
    """

    bootstrap: str
    topic: str
    prefix: str = ""  # only ids starting with this (one run's ids) are kept
    client_config: dict[str, Any] | None = None  # security settings (KafkaSettings.kafka_client_config())

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="verdict-collector", daemon=True)
        self._ready = threading.Event()
        self._failure: str | None = None  # why the positions could not be fixed (set before _ready)
        self._verdicts: dict[str, Seen] = {}
        self._duplicates = 0
        self._alerts = 0
        self._reason_counts: Counter[str] = Counter()
        self._recent: deque[float] = deque(maxlen=RECENT)
        self._read_latencies = array("d")  # of first verdicts since the last take_read_latencies()

    def start(self) -> VerdictCollector:
        """Start reading at the topic's current end; returns once those positions are fixed.

        Everything produced to the topic after ``start()`` returns is seen, whatever else the broker
        holds from earlier runs (which is skipped, not read).
        """
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"verdict collector: no positions on {self.topic!r} at {self.bootstrap} within 60 s")
        if self._failure is not None:
            raise RuntimeError(f"verdict collector: {self._failure}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def count(self) -> int:
        with self._lock:
            return len(self._verdicts)

    def snapshot(self) -> dict[str, Seen]:
        """A copy of transaction id -> first verdict seen."""
        with self._lock:
            return dict(self._verdicts)

    @property
    def duplicates(self) -> int:
        with self._lock:
            return self._duplicates

    def top_reasons(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most frequent reason families over all first verdicts."""
        with self._lock:
            return self._reason_counts.most_common(n)

    def view(self, top: int = 4) -> CollectorView:
        """Counts and the recent latency window, cheap enough to take several times a second."""
        with self._lock:
            return CollectorView(
                verdicts=len(self._verdicts),
                alerts=self._alerts,
                duplicates=self._duplicates,
                recent_latencies_s=tuple(self._recent),
                top_reasons=tuple(self._reason_counts.most_common(top)),
            )

    def take_read_latencies(self) -> array[float]:
        """The read latencies (s) of the first verdicts recorded since the last call, in arrival order.

        A window in O(its size): a long run samples its latency every few seconds without walking every
        verdict it has kept, which would hold the interpreter while the reads being timed wait.
        """
        with self._lock:
            taken, self._read_latencies = self._read_latencies, array("d")
        return taken

    def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """Wait until every id has a verdict; return the ids still missing at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                # Only this run's ids are kept, each once: fewer of them than asked for means some are still
                # missing, without a set difference over a million ids five times a second.
                missing = ids - self._verdicts.keys() if len(self._verdicts) >= len(ids) else ids
            if not missing:
                return set()
            time.sleep(0.2)
        with self._lock:
            return ids - self._verdicts.keys()

    def _run(self) -> None:
        consumer = Consumer(
            {
                **(self.client_config or {}),
                "bootstrap.servers": self.bootstrap,
                "group.id": f"collector-{uuid.uuid4().hex[:8]}",  # never joined: partitions are assigned
                "auto.offset.reset": "earliest",  # only if a partition's end moved below our position
                "enable.auto.commit": False,
                "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
            }
        )
        try:
            # Every partition at its current end, assigned directly: no group join to wait for, and no
            # "latest" offset resolved only later, after the first verdicts may already have gone by.
            try:
                consumer.assign(self._end_positions(consumer))
            except Exception as exc:
                self._failure = f"cannot read {self.topic!r} at {self.bootstrap}: {exc}"
                return
            finally:
                self._ready.set()
            while not self._stop.is_set():
                messages = receive(consumer, 5000, 0.1)  # at once when there are any: reading adds no wait
                now = time.time()
                for msg in messages:
                    if msg.error():
                        continue
                    self._record(orjson.loads(msg.value() or b"null"), now)
                if messages:
                    # What is kept only accumulates (a million records in a long run); frozen, it is never
                    # walked by the full collections that would otherwise stall this thread for a quarter
                    # of a second per million records, late in a run, while the reads it stamps wait.
                    gc.freeze()
        finally:
            consumer.close()

    def _end_positions(self, consumer: Consumer) -> list[TopicPartition]:
        meta = consumer.list_topics(self.topic, timeout=20)
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise RuntimeError(f"topic unavailable ({topic.error if topic is not None else 'not in metadata'})")
        positions = []
        for p in sorted(topic.partitions):
            _, end = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            positions.append(TopicPartition(self.topic, p, end))
        return positions

    def _record(self, v: dict[str, Any], now: float) -> None:
        tx_id = str(v.get("transaction_id"))
        if self.prefix and not tx_id.startswith(self.prefix):
            return
        ingested = v.get("ingested_at")
        scored = v.get("scored_at")
        latency = now - _epoch(ingested) if ingested else None
        scored_latency = _epoch(scored) - _epoch(ingested) if ingested and scored else None
        reasons = list(v.get("reasons") or [])
        seen = Seen(bool(v["is_fraud"]), float(v["score"]), reasons, latency, scored_latency, now)
        with self._lock:
            if tx_id in self._verdicts:
                self._duplicates += 1
                return
            self._verdicts[tx_id] = seen
            if seen.is_fraud:
                self._alerts += 1
            if latency is not None:
                self._recent.append(latency)
                self._read_latencies.append(latency)
            self._reason_counts.update(reason_families(v))
