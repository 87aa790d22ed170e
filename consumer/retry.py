"""Every retry delay of the consumer, from one library (tenacity): exponential, capped, jittered.

Two uses: waiting for a dependency at start-up (the broker's topics, Triton), where a missing one is a
wait and never a crash loop; and the per-batch retry after a failed Triton call, where the main loop
must stay free (it keeps serving the group and acknowledgements), so it asks only for the delay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_not_exception_type, wait_exponential, wait_random
from tenacity.wait import wait_base

log = logging.getLogger(__name__)

T = TypeVar("T")


class Stopped(Exception):
    """A stop was requested while waiting for a dependency."""


def backoff(first_s: float, max_s: float) -> wait_base:
    """``first_s``, doubling per attempt up to ``max_s``, plus up to ``first_s`` of jitter (spreads restarts)."""
    return wait_exponential(multiplier=first_s, max=max_s) + wait_random(0, first_s)


class Backoff:
    """The delay before retry number ``attempt`` of a batch, from the same tenacity strategy."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self.wait = backoff(first_s, max_s)
        self._state = RetryCallState(Retrying(), None, (), {})

    def delay(self, attempt: int) -> float:
        self._state.attempt_number = max(1, attempt)
        return float(self.wait(self._state))


def until_ready(attempt: Callable[[], T], what: str, stopping: threading.Event, wait: wait_base) -> T | None:
    """``attempt()`` until it returns, sleeping ``wait`` between failures; None once ``stopping`` is set."""

    def guarded() -> T:
        if stopping.is_set():
            raise Stopped
        return attempt()

    def sleep(seconds: float) -> None:
        stopping.wait(seconds)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s not ready (%s); retrying in %.1fs", what, exc, delay)

    retrying = Retrying(
        wait=wait, sleep=sleep, retry=retry_if_not_exception_type(Stopped), before_sleep=before_sleep, reraise=True
    )
    try:
        return retrying(guarded)
    except Stopped:
        return None
