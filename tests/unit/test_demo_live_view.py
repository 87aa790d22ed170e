"""The demo's live view reads the replay's and the collector's state only through their owners' locks.

``make demo`` once crashed 40 s into its replay with ``RuntimeError: dictionary changed size during
iteration``: the live view iterated the labels dict that the replay thread was still filling. These
tests hammer the live view from one thread while other threads write as fast as they can, with the
interpreter switching threads every microsecond. The last test runs the old reading pattern under the
same hammer and shows that it does fail there, so the others passing means something.
"""

from __future__ import annotations

import io
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from rich.console import Console

from operations.demo import live_table, take_snapshot
from operations.replay import LabelledTrips, ReplayStats
from operations.verdict_collector import VerdictCollector

TRIP = {"trip_distance": 2.0, "fare_amount": 10.0, "duration_minutes": 12.0, "total_amount": 10.0}
HAMMER_S = 3.0
REASONS = ["fare $400.00 for 1.0 mi", "speed 90 mph", "total does not add up", "tip 80% of fare", "tolls $50"]


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every microsecond (default 5 ms): a race that needs bad luck needs none here."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _verdict(i: int) -> dict[str, object]:
    return {
        "transaction_id": f"run-{i}",
        "is_fraud": i % 20 == 0,
        "score": 0.1 + (i % 7),
        "reasons": [REASONS[i % len(REASONS)]] if i % 20 == 0 else [],
        "ingested_at": "2026-11-28T11:50:00.123456Z",
        "scored_at": "2026-11-28T11:50:00.133456Z",
    }


def _hammer(read: Callable[[], object], writers: list[Callable[[threading.Event], None]], seconds: float) -> int:
    """Run ``read`` in a loop on this thread while every writer runs on its own; re-raise what ``read`` raises."""
    stop = threading.Event()
    threads = [threading.Thread(target=w, args=(stop,), daemon=True) for w in writers]
    for t in threads:
        t.start()
    reads = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            read()
            reads += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    return reads


def _writers(trips: LabelledTrips, stats: ReplayStats, collector: VerdictCollector) -> list[Callable[..., None]]:
    def replay(stop: threading.Event) -> None:  # what the replay thread does: take trips, count answers
        while not stop.is_set():
            batch = trips.take(20)
            stats.add_sent(len(batch))
            trips.mark_accepted(batch)
            stats.add_accepted(len(batch), 0.001)

    def collect(stop: threading.Event) -> None:  # what the collector thread does with each verdict
        for i in itertools.count():
            if stop.is_set():
                return
            collector._record(_verdict(i), time.time())

    return [replay, collect]


def _parts() -> tuple[LabelledTrips, ReplayStats, VerdictCollector]:
    trips = LabelledTrips(itertools.repeat(TRIP), fraud_rate=0.05, seed=3, run_id="run")
    return trips, ReplayStats(), VerdictCollector("127.0.0.1:1", "verdicts", prefix="run")  # never started


@pytest.mark.usefixtures("fast_switching")
def test_live_view_survives_concurrent_writers() -> None:
    trips, stats, collector = _parts()
    console = Console(file=io.StringIO(), width=120)

    def read() -> None:
        snap = take_snapshot(stats, trips, collector)
        assert 0 <= snap.injected <= snap.taken
        assert 0 <= snap.alerts <= snap.verdicts
        console.print(live_table(snap))

    reads = _hammer(read, _writers(trips, stats, collector), HAMMER_S)
    assert reads > 10
    taken, injected = trips.counts()
    assert taken > 1000 and injected > 0
    assert collector.count() > 1000


@pytest.mark.usefixtures("fast_switching")
def test_report_readers_survive_concurrent_writers() -> None:
    """What the report and the wait at the end read (copies, sets, top reasons), also under writers."""
    trips, stats, collector = _parts()

    def read() -> None:
        labels = trips.labels
        assert sum(1 for f in labels.values() if f) <= len(labels)
        assert collector.wait_for(trips.accepted_ids() & {"run-0"}, timeout=0) <= {"run-0"}
        assert all(v.score > 0 for v in collector.snapshot().values())
        collector.top_reasons(5)
        assert stats.snapshot().accepted <= stats.snapshot().sent

    assert _hammer(read, _writers(trips, stats, collector), HAMMER_S) > 3


@pytest.mark.usefixtures("fast_switching")
def test_the_old_pattern_fails_under_the_same_hammer() -> None:
    """Iterating the producer's own dict, as the old live view did, raises within seconds here."""
    trips, stats, collector = _parts()
    live_labels = trips._labels  # the container the replay thread fills (what the old code iterated)

    def old_read() -> None:
        sum(1 for f in live_labels.values() if f)

    with pytest.raises(RuntimeError, match="changed size during iteration"):
        _hammer(old_read, _writers(trips, stats, collector), 20.0)
