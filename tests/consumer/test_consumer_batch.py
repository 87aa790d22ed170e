"""The pipeline's per-batch accounting: a batch completes only when every output is acknowledged."""

from __future__ import annotations

from typing import Any

import numpy as np

from consumer.decode import decode_batch
from consumer.offsets import OffsetTracker
from consumer.worker import Batch


class FakeError:
    def fatal(self) -> bool:
        return False


def make_batch(sink: list[Batch]) -> tuple[Batch, OffsetTracker]:
    tracker = OffsetTracker()
    unit = tracker.register(("t", 0), 0, 2)
    batch = Batch(1, [], decode_batch([]), [unit], sink)
    return batch, tracker


def test_batch_completes_after_its_last_acknowledgement_only() -> None:
    sink: list[Batch] = []
    batch, _ = make_batch(sink)
    batch.pending = 3
    batch.on_delivery(None, Any)  # type: ignore[arg-type]
    batch.outputs_sent = True
    batch.on_delivery(None, Any)  # type: ignore[arg-type]
    assert sink == []
    batch.on_delivery(None, Any)  # type: ignore[arg-type]
    assert sink == [batch]


def test_failed_delivery_is_kept_for_reproduction_not_counted_as_done() -> None:
    sink: list[Batch] = []
    batch, _ = make_batch(sink)
    batch.pending = 1
    batch.outputs_sent = True
    failed = object()
    batch.on_delivery(FakeError(), failed)  # type: ignore[arg-type]
    assert batch.redo == [failed] and batch.pending == 1 and sink == []


def test_batch_is_dead_once_all_its_partitions_are_revoked() -> None:
    batch, tracker = make_batch([])
    assert batch.live()
    tracker.drop([("t", 0)])
    assert not batch.live()
    assert isinstance(batch.decoded.rows, np.ndarray)
