"""The warm-up's sender against a local HTTP server: every trip is sent again until it is accepted, and a
gateway that never accepts ends in :class:`WarmupFailed` naming the trip, not in a hang."""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
import pytest
from aiohttp import web

from operations.embedded.warmup import TRIP, WarmupFailed, _send_all


async def _serve(refusals: int | None) -> tuple[web.AppRunner, str, Counter[str]]:
    """A ``/transactions`` that answers 503 to each trip's first ``refusals`` tries (``None``: always)."""
    tries: Counter[str] = Counter()

    async def transactions(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        assert request.content_type == "application/json"
        assert {k: v for k, v in body.items() if k != "transaction_id"} == TRIP
        tid = body["transaction_id"]
        tries[tid] += 1
        if refusals is None or tries[tid] <= refusals:
            return web.json_response({"reason": "starting"}, status=503)
        return web.json_response({"transaction_id": tid}, status=202)

    app = web.Application()
    app.router.add_post("/transactions", transactions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/transactions", tries


def test_each_trip_is_sent_again_until_the_gateway_accepts_it() -> None:
    async def scenario() -> Counter[str]:
        runner, url, tries = await _serve(refusals=2)
        try:
            await _send_all(url, [f"warmup-t-{i}" for i in range(40)], 400.0, True, timeout=30)
        finally:
            await runner.cleanup()
        return tries

    tries = asyncio.run(scenario())
    assert tries == Counter({f"warmup-t-{i}": 3 for i in range(40)})


def test_a_gateway_that_never_accepts_fails_the_warm_up_with_the_trip_named() -> None:
    async def scenario() -> None:
        runner, url, _ = await _serve(refusals=None)
        try:
            await _send_all(url, ["warmup-never-0"], 100.0, True, timeout=1.0)
        finally:
            await runner.cleanup()

    with pytest.raises(WarmupFailed, match=r"warmup-never-0: HTTP 503"):
        asyncio.run(scenario())
