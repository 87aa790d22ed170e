"""Coalesces concurrent ``POST /score`` requests into one Triton call.

Why: each Triton round trip costs the gateway a gRPC call, a numpy encode and a verdict build whatever
its size, and on two shared cores those fixed costs, paid once per request, were what saturated
``/score`` below 1,000 requests/s. Here a request that arrives while a call is in flight waits for the
next one, which carries every request that queued meanwhile; an idle gateway sends a lone request at
once, so batching adds no delay of its own. Verdicts come back to each request in its own order.

A Triton failure fails every request of that call (each answers 503). Any other error (which would be a
bug: the input was validated) is retried request by request, so one request can never fail another.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .metrics import span
from .scoring import ScoreService, ScoringUnavailable

Transactions = list[dict[str, Any]]


class ScoreBatcher:
    """One per process, in front of its :class:`ScoreService`; at most ``max_calls`` Triton calls at once."""

    def __init__(self, service: ScoreService, max_rows: int, max_calls: int = 1) -> None:
        self.service = service
        self.max_rows = max_rows
        self.max_calls = max_calls
        self._queue: list[tuple[Transactions, asyncio.Future[Transactions]]] = []
        self._calls = 0

    async def score(self, transactions: Transactions) -> Transactions:
        """Verdicts for ``transactions``, in order; raises :class:`ScoringUnavailable` like the service."""
        future: asyncio.Future[Transactions] = asyncio.get_running_loop().create_future()
        self._queue.append((transactions, future))
        if self._calls < self.max_calls:
            self._calls += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Transactions, asyncio.Future[Transactions]]]:
        """The queued requests that fit one call (always at least one)."""
        taken, rows = 0, 0
        for transactions, _ in self._queue:
            if taken and rows + len(transactions) > self.max_rows:
                break
            taken += 1
            rows += len(transactions)
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [(t, f) for t, f in self._take() if not f.done()]  # done: its client went away
                if batch:
                    await self._call(batch)
        finally:
            self._calls -= 1

    async def _call(self, batch: list[tuple[Transactions, asyncio.Future[Transactions]]]) -> None:
        rows = [tx for transactions, _ in batch for tx in transactions]
        start = time.perf_counter()
        try:
            verdicts = await self.service.score(rows)
        except ScoringUnavailable as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(ScoringUnavailable(str(exc)))
            return
        except Exception as exc:
            if len(batch) == 1:
                _, future = batch[0]
                if not future.done():
                    future.set_exception(exc)  # a 500, as it would be without batching
                return
            for one in batch:  # find the request that broke it; the others must not pay for it
                await self._call([one])
            return
        span("score_triton", time.perf_counter() - start)
        offset = 0
        for transactions, future in batch:
            end = offset + len(transactions)
            if not future.done():
                future.set_result(verdicts[offset:end])
            offset = end

    # --- the rest of the service, unchanged ---

    async def start(self) -> None:
        await self.service.start()

    async def readiness(self) -> dict[str, Any]:
        return await self.service.readiness()

    async def close(self) -> None:
        await self.service.close()
