"""The pipeline's per-batch accounting: a batch completes only when every output is acknowledged."""

from __future__ import annotations

import numpy as np

from consumer.batch import Batch
from consumer.decode import decode_batch
from consumer.offsets import OffsetTracker
from tests.consumer.fakes import FakeError, FakeMessage


def make_batch(sink: list[Batch]) -> tuple[Batch, OffsetTracker]:
    tracker = OffsetTracker()
    unit = tracker.register(("t", 0), 0, 2)
    batch = Batch(1, [], decode_batch([]), [unit], sink)
    return batch, tracker


def test_batch_completes_after_its_last_acknowledgement_only() -> None:
    sink: list[Batch] = []
    batch, _ = make_batch(sink)
    batch.pending = 3
    ack = FakeMessage("t", 0, 0, b"")
    batch.on_delivery(None, ack)
    assert not batch.mark_sent()
    batch.on_delivery(None, ack)
    assert sink == []
    batch.on_delivery(None, ack)
    assert sink == [batch]


def test_failed_delivery_is_kept_for_reproduction_not_counted_as_done() -> None:
    sink: list[Batch] = []
    batch, _ = make_batch(sink)
    batch.pending = 1
    batch.outputs_sent = True
    failed = FakeMessage("t", 0, 0, b"")
    batch.on_delivery(FakeError(), failed)
    assert batch.redo == [failed] and batch.pending == 1 and sink == []


def test_batch_is_dead_once_all_its_partitions_are_revoked() -> None:
    batch, tracker = make_batch([])
    assert batch.live()
    tracker.drop([("t", 0)])
    assert not batch.live()
    assert isinstance(batch.decoded.rows, np.ndarray)
