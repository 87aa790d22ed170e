"""Pure flow control: when to pause the assigned partitions and when to resume them.

Two causes pause: Triton is down (nothing fetched can be scored, so nothing more is fetched: memory stays
bounded and the messages wait in Kafka), or the pipeline stayed full for ``pause_after_s`` (the broker
acknowledges slower than we consume). Both must clear before resuming. Triton counts as up again only
after a call *submitted after the outage began* succeeds: an older call may just have been lucky.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TritonHealth:
    down: bool = False
    down_since: float = 0.0

    def failed(self, now: float) -> bool:
        """A Triton call failed; True when this starts an outage."""
        if self.down:
            return False
        self.down, self.down_since = True, now
        return True

    def answered(self, submitted_at: float) -> bool:
        """A call succeeded; True when it ends the outage."""
        if self.down and submitted_at > self.down_since:
            self.down = False
            return True
        return False

    def nothing_to_retry(self) -> None:
        """No failed batch is left (its partitions were revoked): the next batch is the probe."""
        self.down = False


@dataclass
class FlowControl:
    max_in_flight: int  # batches at Triton
    max_unacked: int  # batches whose outputs await acknowledgement
    pause_after_s: float
    paused: bool = False
    full_since: float | None = None

    def has_capacity(self, scoring: int, producing: int) -> bool:
        return scoring < self.max_in_flight and producing < self.max_unacked

    def accepting(self, scoring: int, producing: int) -> bool:
        return not self.paused and self.has_capacity(scoring, producing)

    def decide(self, now: float, scoring: int, producing: int, triton_down: bool) -> tuple[bool, str] | None:
        """``(paused, why)`` when the partitions should change state now, else None."""
        capacity = self.has_capacity(scoring, producing)
        if capacity:
            self.full_since = None
        elif self.full_since is None:
            self.full_since = now
        stuck = self.full_since is not None and now - self.full_since >= self.pause_after_s
        if not self.paused and (triton_down or stuck):
            return True, "Triton unavailable" if triton_down else "pipeline full (Triton or broker slow)"
        if self.paused and not triton_down and capacity:
            return False, "Triton available, pipeline has room"
        return None
