"""Pure: which offset each partition may store, given which outputs the broker has acknowledged.

At-least-once hinges on this: an offset is stored only when the outputs of that message *and of every
earlier message received from its partition* are acknowledged. Outputs are acknowledged out of order
(verdicts of one batch go to many verdict partitions, alerts and DLQ records elsewhere), so each
partition keeps its received messages as an ordered queue of *units* (the messages of one partition
within one consumed batch) and the storable offset is one past the last message of the longest
completed prefix.

Revocation drops a partition's queue: units still in flight become orphans whose completion changes
nothing, and if the partition comes back, it starts a fresh queue from the committed offset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

TopicPartitionKey = tuple[str, int]


class Unit:
    """Messages ``first..last`` (inclusive, in receive order) of one partition, completed together."""

    __slots__ = ("done", "first", "last", "owner")

    def __init__(self, owner: PartitionQueue, first: int, last: int) -> None:
        self.owner = owner
        self.first = first
        self.last = last
        self.done = False

    def __repr__(self) -> str:
        return f"Unit({self.first}..{self.last}, done={self.done})"


class PartitionQueue:
    """Units of one partition in receive order."""

    __slots__ = ("pending", "revoked", "stored", "tp")

    def __init__(self, tp: TopicPartitionKey) -> None:
        self.tp = tp
        self.pending: deque[Unit] = deque()
        self.stored: int | None = None  # last offset handed out for storing (next offset to read)
        self.revoked = False


class OffsetTracker:
    """Per-partition contiguous completion tracking; see the module docstring."""

    def __init__(self) -> None:
        self._queues: dict[TopicPartitionKey, PartitionQueue] = {}

    def register(self, tp: TopicPartitionKey, first: int, last: int) -> Unit:
        """Record that messages ``first..last`` of ``tp`` were received (call in receive order)."""
        queue = self._queues.get(tp)
        if queue is None:
            queue = self._queues[tp] = PartitionQueue(tp)
        if queue.pending and first <= queue.pending[-1].last:
            raise ValueError(f"{tp}: offsets must increase; got {first} after {queue.pending[-1].last}")
        unit = Unit(queue, first, last)
        queue.pending.append(unit)
        return unit

    def complete(self, unit: Unit) -> tuple[TopicPartitionKey, int] | None:
        """Mark ``unit`` done; return ``(tp, offset to store)`` if the completed prefix grew, else None."""
        unit.done = True
        queue = unit.owner
        if queue.revoked:  # the partition was revoked meanwhile: its messages will be redelivered
            return None
        advanced: int | None = None
        while queue.pending and queue.pending[0].done:
            advanced = queue.pending.popleft().last + 1
        if advanced is None:
            return None
        queue.stored = advanced
        return queue.tp, advanced

    def drop(self, tps: Iterable[TopicPartitionKey]) -> None:
        """Forget revoked partitions; their in-flight units become orphans."""
        for tp in tps:
            queue = self._queues.pop(tp, None)
            if queue is not None:
                queue.revoked = True
                queue.pending.clear()

    def is_current(self, unit: Unit) -> bool:
        """False once the unit's partition was revoked (its outputs need not be produced at all)."""
        return not unit.owner.revoked

    def last_registered(self, tp: TopicPartitionKey) -> int | None:
        """Highest offset received from ``tp`` and still tracked (None if nothing is in flight)."""
        queue = self._queues.get(tp)
        return queue.pending[-1].last if queue and queue.pending else None

    def stored(self, tp: TopicPartitionKey) -> int | None:
        """The last offset handed out for storing (the next offset to read), if any."""
        queue = self._queues.get(tp)
        return queue.stored if queue else None

    def pending_count(self, tp: TopicPartitionKey) -> int:
        """Units received from ``tp`` whose offsets cannot be stored yet."""
        queue = self._queues.get(tp)
        return len(queue.pending) if queue else 0

    def partitions(self) -> list[TopicPartitionKey]:
        return list(self._queues)
