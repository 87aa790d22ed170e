"""The services' garbage-collector settling: start-up heap frozen, young collections spaced out."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from taxifraud.heap import GEN0_THRESHOLD, settle_after_startup


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_freezes_what_survives_startup_and_raises_gen0_threshold(restored_gc: None) -> None:
    survivor = [[] for _ in range(1000)]
    assert gc.get_freeze_count() == 0
    frozen = settle_after_startup()
    assert frozen >= len(survivor)  # (other threads may free frozen objects meanwhile: no exact count)
    # frozen objects are out of every generation: later collections no longer walk them
    assert not any(obj is survivor for obj in gc.get_objects())
    assert gc.get_threshold()[0] == GEN0_THRESHOLD


def test_cycles_made_after_startup_are_still_collected(restored_gc: None) -> None:
    settle_after_startup()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    del a, b
    assert gc.collect() >= 2
