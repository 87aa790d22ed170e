"""ScoreBatcher: concurrent /score requests share Triton calls, each gets its own verdicts in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.batcher import ScoreBatcher
from gateway.scoring import ScoringUnavailable


class FakeService:
    """Scores each transaction as its own id; records the size of every call; can be told to fail."""

    def __init__(self, fail: Exception | None = None, poison: str | None = None) -> None:
        self.calls: list[int] = []
        self.fail = fail
        self.poison = poison
        self.release = asyncio.Event()

    async def score(self, transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append(len(transactions))
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        if any(tx["transaction_id"] == self.poison for tx in transactions):
            raise ValueError("bad row")
        return [{"transaction_id": tx["transaction_id"]} for tx in transactions]


def _txs(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"transaction_id": f"{prefix}{i}"} for i in range(n)]


async def _run(service: FakeService, requests: list[list[dict[str, Any]]], max_rows: int = 100) -> list[Any]:
    """The first request alone, then the others while its call is in flight."""
    batcher = ScoreBatcher(service, max_rows)  # type: ignore[arg-type]
    tasks = [asyncio.ensure_future(batcher.score(requests[0]))]
    for _ in range(3):
        await asyncio.sleep(0)
    assert service.calls == [len(requests[0])]  # in flight
    tasks += [asyncio.ensure_future(batcher.score(r)) for r in requests[1:]]
    await asyncio.sleep(0)
    service.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_requests_queued_during_a_call_share_the_next_one() -> None:
    service = FakeService()
    requests = [_txs("a", 1), _txs("b", 2), _txs("c", 3)]
    results = asyncio.run(_run(service, requests))
    assert results == [[{"transaction_id": tx["transaction_id"]} for tx in r] for r in requests]
    assert service.calls == [1, 5]  # the first went alone, the two that came meanwhile together


def test_a_call_never_exceeds_max_rows_unless_one_request_does() -> None:
    service = FakeService()
    results = asyncio.run(_run(service, [_txs("a", 1), _txs("b", 3), _txs("c", 3), _txs("d", 9)], max_rows=4))
    assert [len(r) for r in results] == [1, 3, 3, 9]
    assert service.calls == [1, 3, 3, 9]


def test_requests_queued_together_go_in_one_call() -> None:
    async def scenario() -> None:
        service = FakeService()
        service.release.set()
        batcher = ScoreBatcher(service, 100)  # type: ignore[arg-type]
        await asyncio.gather(*(batcher.score(_txs(p, 2)) for p in "abc"))
        assert service.calls == [6]

    asyncio.run(scenario())


def test_triton_failure_fails_every_request_of_the_call() -> None:
    service = FakeService(fail=ScoringUnavailable("Triton unavailable: down"))
    results = asyncio.run(_run(service, [_txs("a", 1), _txs("b", 1)]))
    assert all(isinstance(r, ScoringUnavailable) and "down" in str(r) for r in results)


def test_one_broken_request_does_not_fail_the_others() -> None:
    service = FakeService(poison="c0")
    results = asyncio.run(_run(service, [_txs("a", 1), _txs("b", 1), _txs("c", 1), _txs("d", 1)]))
    assert results[0] == [{"transaction_id": "a0"}]
    assert results[1] == [{"transaction_id": "b0"}]
    assert isinstance(results[2], ValueError)
    assert results[3] == [{"transaction_id": "d0"}]


def test_a_cancelled_request_is_skipped() -> None:
    async def scenario() -> list[Any]:
        service = FakeService()
        batcher = ScoreBatcher(service, 100)  # type: ignore[arg-type]
        first = asyncio.ensure_future(batcher.score(_txs("a", 1)))
        for _ in range(3):
            await asyncio.sleep(0)
        gone = asyncio.ensure_future(batcher.score(_txs("b", 1)))
        kept = asyncio.ensure_future(batcher.score(_txs("c", 1)))
        await asyncio.sleep(0)
        gone.cancel()
        service.release.set()
        out = await asyncio.gather(first, kept)
        assert service.calls == [1, 1]
        return list(out)

    assert asyncio.run(scenario()) == [[{"transaction_id": "a0"}], [{"transaction_id": "c0"}]]


@pytest.mark.parametrize("n", [1, 7])
def test_alone_a_request_is_sent_at_once(n: int) -> None:
    service = FakeService()
    assert asyncio.run(_run(service, [_txs("x", n)])) == [[{"transaction_id": f"x{i}"} for i in range(n)]]
    assert service.calls == [n]
