"""A steady stream of small batches of marked trips to ``POST /transactions``, every answer recorded.

Chaos runs and the broker-restart test both need to know, for each trip, whether the gateway accepted it
and when the request went out, to check afterwards that every accepted trip got its verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from operations.embedded.warmup import TRIP


@dataclass(frozen=True)
class Answer:
    """One request: its transaction ids, the answer's status (0: no HTTP answer) and when it went out."""

    ids: tuple[str, ...]
    started: float  # epoch seconds, comparable with the verdict collector's ``seen_at``
    status: int


@dataclass
class Load:
    """Posts ``batch`` trips with ids ``prefix + n`` per request until stopped; records every answer."""

    url: str
    prefix: str
    batch: int = 5
    pause_s: float = 0.01
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        n = 0
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                ids = tuple(f"{self.prefix}{n + i}" for i in range(self.batch))
                n += self.batch
                started = time.time()
                try:
                    body = [dict(TRIP, transaction_id=i) for i in ids]
                    status = client.post(f"{self.url}/transactions", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                    time.sleep(0.05)  # refused at once: do not spin
                self.answers.append(Answer(ids, started, status))
                time.sleep(self.pause_s)

    def accepted(self, after: float = 0.0) -> list[str]:
        """Ids of the trips answered 202 in requests sent at or after ``after`` (epoch seconds)."""
        return [i for a in list(self.answers) if a.status == 202 and a.started >= after for i in a.ids]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 0.1 s until it is true; :class:`TimeoutError` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
