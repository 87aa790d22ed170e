"""Reads the verdicts topic in a background thread and keeps what a report needs.

Used by ``taxifraud demo`` and ``taxifraud bench``: per transaction id, the first verdict seen (later
copies are counted as duplicates), and the latency from the gateway's ``ingested_at`` to the moment
the verdict was read here (event -> verdict visible to a downstream reader).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from confluent_kafka import Consumer

from taxifraud.reasons import reason_family


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()


@dataclass
class Seen:
    is_fraud: bool
    score: float
    reasons: list[str]
    latency_s: float | None  # ingested_at -> read here
    scored_latency_s: float | None  # ingested_at -> scored_at (consumer clock)
    seen_at: float


@dataclass
class VerdictCollector:
    bootstrap: str
    topic: str
    prefix: str = ""  # only ids starting with this (one run's ids) are kept
    verdicts: dict[str, Seen] = field(default_factory=dict)
    duplicates: int = 0
    reason_counts: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)  # wall-clock second of each first verdict

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="verdict-collector", daemon=True)
        self._ready = threading.Event()

    def start(self) -> VerdictCollector:
        self._thread.start()
        self._ready.wait(30)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def count(self) -> int:
        with self._lock:
            return len(self.verdicts)

    def snapshot(self) -> dict[str, Seen]:
        with self._lock:
            return dict(self.verdicts)

    def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """Wait until every id has a verdict; return the ids still missing at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                missing = ids - self.verdicts.keys()
            if not missing:
                return set()
            time.sleep(0.2)
        with self._lock:
            return ids - self.verdicts.keys()

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"collector-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "fetch.wait.max.ms": 10,
            }
        )
        assigned = threading.Event()
        consumer.subscribe([self.topic], on_assign=lambda c, parts: assigned.set())
        try:
            while not self._stop.is_set():
                messages = consumer.consume(num_messages=5000, timeout=0.1)
                if assigned.is_set():
                    self._ready.set()
                now = time.time()
                for msg in messages:
                    if msg.error():
                        continue
                    self._record(orjson.loads(msg.value() or b"null"), now)
        finally:
            consumer.close()

    def _record(self, v: dict[str, Any], now: float) -> None:
        tx_id = str(v.get("transaction_id"))
        if self.prefix and not tx_id.startswith(self.prefix):
            return
        ingested = v.get("ingested_at")
        scored = v.get("scored_at")
        latency = now - _epoch(ingested) if ingested else None
        scored_latency = _epoch(scored) - _epoch(ingested) if ingested and scored else None
        with self._lock:
            if tx_id in self.verdicts:
                self.duplicates += 1
                return
            self.verdicts[tx_id] = Seen(
                bool(v["is_fraud"]), float(v["score"]), list(v.get("reasons") or []), latency, scored_latency, now
            )
            self.arrivals.append(now)
            for reason in v.get("reasons") or []:
                self.reason_counts[reason_family(reason)] += 1
