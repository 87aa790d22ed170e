"""When to restart a crashed service, and when to stop trying: pure logic, no processes, no clock.

A service that dies is restarted after a delay that doubles with each recent crash (so a crash loop does
not burn the two cores the healthy services need), up to a cap on restarts within a sliding window; past
the cap the service "keeps failing" and the supervisor stops the stack, naming it. Crashes older than the
window are forgotten, so a service that crashes once a day is restarted every time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff with a cap on restarts per window (compose's ``restart: on-failure`` made finite)."""

    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    multiplier: float = 2.0
    max_restarts: int = 5
    window_s: float = 300.0

    def __post_init__(self) -> None:
        if self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("need 0 <= initial_delay_s <= max_delay_s")
        if self.multiplier < 1 or self.max_restarts < 0 or self.window_s <= 0:
            raise ValueError("need multiplier >= 1, max_restarts >= 0, window_s > 0")

    def delay(self, recent_restarts: int) -> float:
        """Seconds to wait before the next restart, given how many restarts the window already holds."""
        return float(min(self.max_delay_s, self.initial_delay_s * self.multiplier**recent_restarts))


@dataclass(frozen=True)
class Restart:
    """Restart the service once ``delay_s`` seconds have passed; ``attempt`` counts within the window."""

    delay_s: float
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    """The service keeps failing: stop the stack and say why."""

    reason: str


@dataclass
class RestartHistory:
    """The crashes of one service, judged by a :class:`RestartPolicy` (times are monotonic seconds)."""

    service: str
    policy: RestartPolicy
    restarts: deque[float] = field(default_factory=deque)

    def _forget_old(self, now: float) -> None:
        while self.restarts and now - self.restarts[0] > self.policy.window_s:
            self.restarts.popleft()

    def on_failure(self, now: float) -> Restart | GiveUp:
        """The service died (or a restart of it failed) at ``now``: restart it later, or give up."""
        self._forget_old(now)
        recent = len(self.restarts)
        if recent >= self.policy.max_restarts:
            return GiveUp(
                f"{self.service} failed {recent + 1} times within {self.policy.window_s:.0f}s "
                f"(restarted {recent} times, the most allowed)"
            )
        self.restarts.append(now)
        return Restart(self.policy.delay(recent), recent + 1)
