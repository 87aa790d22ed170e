"""Offset tracking: a partition's offset is stored only past a fully acknowledged prefix."""

from __future__ import annotations

import random

import pytest

from consumer.offsets import OffsetTracker

TP = ("transactions", 0)
TP1 = ("transactions", 1)


def test_in_order_completion_advances_one_past_the_last_message() -> None:
    t = OffsetTracker()
    a = t.register(TP, 0, 9)
    b = t.register(TP, 10, 19)
    assert t.complete(a) == (TP, 10)
    assert t.complete(b) == (TP, 20)
    assert t.stored(TP) == 20


def test_out_of_order_completion_waits_for_the_gap() -> None:
    t = OffsetTracker()
    a, b, c = t.register(TP, 0, 4), t.register(TP, 5, 9), t.register(TP, 10, 14)
    assert t.complete(c) is None
    assert t.complete(b) is None
    assert t.stored(TP) is None
    assert t.complete(a) == (TP, 15)  # the whole prefix at once
    assert t.pending_count(TP) == 0


def test_partitions_are_independent() -> None:
    t = OffsetTracker()
    a0, a1 = t.register(TP, 100, 110), t.register(TP1, 7, 7)
    b0 = t.register(TP, 111, 120)
    assert t.complete(a1) == (TP1, 8)
    assert t.complete(b0) is None
    assert t.complete(a0) == (TP, 121)


def test_gaps_in_offsets_are_fine() -> None:
    """Offsets need not be contiguous (compaction, transaction markers): receive order is what counts."""
    t = OffsetTracker()
    a, b = t.register(TP, 3, 3), t.register(TP, 8, 12)
    assert t.complete(b) is None
    assert t.complete(a) == (TP, 13)


def test_revoked_partition_forgets_and_orphans_complete_silently() -> None:
    t = OffsetTracker()
    a = t.register(TP, 0, 9)
    t.drop([TP])
    assert not t.is_current(a)
    assert t.complete(a) is None
    assert t.stored(TP) is None
    # Reassigned later: a fresh queue from the committed offset, unaffected by the orphan.
    b = t.register(TP, 0, 4)
    assert t.is_current(b)
    assert t.complete(b) == (TP, 5)


def test_offsets_must_increase_within_a_partition() -> None:
    t = OffsetTracker()
    t.register(TP, 10, 20)
    assert t.last_registered(TP) == 20
    with pytest.raises(ValueError):
        t.register(TP, 15, 30)


def test_random_completion_order_never_stores_past_an_unacknowledged_unit() -> None:
    rng = random.Random(7)
    t = OffsetTracker()
    units = []
    offset = 0
    for _ in range(200):
        size = rng.randint(1, 50)
        units.append(t.register(TP, offset, offset + size - 1))
        offset += size
    done: set[int] = set()
    last_stored = 0
    for i in rng.sample(range(len(units)), len(units)):
        result = t.complete(units[i])
        done.add(i)
        if result is not None:
            _, stored = result
            assert stored > last_stored
            last_stored = stored
        # invariant: every unit below the stored offset is done
        for j, u in enumerate(units):
            if u.last < last_stored:
                assert j in done
    assert last_stored == offset
