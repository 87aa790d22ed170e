"""``receive``: a message that is already there is never held back to fill a batch."""

from __future__ import annotations

from typing import Any

from taxifraud.kafka import receive


class QueueConsumer:
    """consume()/poll() over a list, recording how long each call was allowed to wait."""

    def __init__(self, queued: list[str], arrives_during_poll: list[str] | None = None) -> None:
        self.queued = list(queued)
        self.arrives = list(arrives_during_poll or [])
        self.waits: list[tuple[str, float]] = []

    def consume(self, n: int, timeout: float) -> list[Any]:
        self.waits.append(("consume", timeout))
        out, self.queued = self.queued[:n], self.queued[n:]
        return out

    def poll(self, timeout: float) -> Any:
        self.waits.append(("poll", timeout))
        self.queued += self.arrives
        self.arrives = []
        return self.queued.pop(0) if self.queued else None


def test_queued_messages_come_at_once_without_waiting() -> None:
    c = QueueConsumer(["a", "b", "c"])
    assert receive(c, 1024, 0.005) == ["a", "b", "c"]
    assert c.waits == [("consume", 0)]


def test_batch_max_is_respected() -> None:
    c = QueueConsumer([str(i) for i in range(10)])
    assert receive(c, 4, 0.005) == ["0", "1", "2", "3"]


def test_idle_waits_for_the_first_message_then_takes_what_came_with_it() -> None:
    c = QueueConsumer([], arrives_during_poll=["x", "y"])
    assert receive(c, 1024, 0.005) == ["x", "y"]
    assert c.waits == [("consume", 0), ("poll", 0.005), ("consume", 0)]


def test_nothing_arrives() -> None:
    c = QueueConsumer([])
    assert receive(c, 1024, 0.005) == []
    assert receive(c, 1024, 0) == []
