"""The collector's latency windows: each first verdict's read latency is handed out once, in one window.

The soak samples its p99 from these windows every few seconds while the collector thread records; a
verdict counted in two windows, or in none, would bend the p99 it reports.
"""

from __future__ import annotations

import threading

import pytest

from operations.verdict_collector import VerdictCollector

INGESTED = "2026-11-28T11:50:00.000000Z"
INGESTED_EPOCH = 1795866600.0


def _verdict(i: int, ingested: str | None = INGESTED) -> dict[str, object]:
    return {"transaction_id": f"run-{i}", "is_fraud": False, "score": 0.5, "reasons": [], "ingested_at": ingested}


def _collector() -> VerdictCollector:
    return VerdictCollector("127.0.0.1:1", "verdicts", prefix="run")  # never started: _record is driven here


def test_a_window_holds_the_first_verdicts_since_the_last_take() -> None:
    collector = _collector()
    collector._record(_verdict(1), INGESTED_EPOCH + 0.010)
    collector._record(_verdict(2), INGESTED_EPOCH + 0.020)
    collector._record(_verdict(1), INGESTED_EPOCH + 0.500)  # a duplicate: counted, never timed again
    collector._record(_verdict(3, ingested=None), INGESTED_EPOCH + 0.030)  # no stamp: no latency
    collector._record({**_verdict(4), "transaction_id": "other-4"}, INGESTED_EPOCH + 0.040)  # another run's id

    assert list(collector.take_read_latencies()) == pytest.approx([0.010, 0.020], abs=1e-6)
    assert list(collector.take_read_latencies()) == []
    collector._record(_verdict(5), INGESTED_EPOCH + 0.007)
    assert list(collector.take_read_latencies()) == pytest.approx([0.007], abs=1e-6)
    assert collector.duplicates == 1
    assert collector.count() == 4


def test_windows_taken_while_recording_partition_the_verdicts() -> None:
    collector = _collector()
    n = 50_000
    windows: list[int] = []
    done = threading.Event()

    def record() -> None:
        for i in range(n):
            collector._record(_verdict(i), INGESTED_EPOCH + (i % 100) / 1e3)
        done.set()

    writer = threading.Thread(target=record)
    writer.start()
    while not done.is_set():
        windows.append(len(collector.take_read_latencies()))
    writer.join()
    windows.append(len(collector.take_read_latencies()))

    assert sum(windows) == n == collector.count()
    assert sum(1 for w in windows if w) > 1  # the takes really ran while the writer recorded
