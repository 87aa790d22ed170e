"""Overload: beyond GATEWAY_MAX_CONCURRENT_REQUESTS the gateway refuses early (503 overloaded, Retry-After),
and every transaction it answered 202 is on the topic while none it refused is."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from gw_helpers import SEED_BODY, read_topic, serve_in_thread

from gateway.app import create_app
from gateway.settings import Settings

REQUESTS = 300


async def _burst(base_url: str) -> list[tuple[str, httpx.Response]]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def one(i: int) -> tuple[str, httpx.Response]:
            tx_id = f"burst-{i}"
            return tx_id, await client.post("/transactions", json={**SEED_BODY, "transaction_id": tx_id})

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


@pytest.mark.integration
def test_overload_is_refused_early_and_nothing_accepted_is_lost(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(gateway_max_concurrent_requests=2)
    with serve_in_thread(create_app(settings)) as base_url:
        answers = asyncio.run(_burst(base_url))
        metrics = httpx.get(f"{base_url}/metrics").text
    accepted = [tx for tx, r in answers if r.status_code == 202]
    refused = [(tx, r) for tx, r in answers if r.status_code != 202]
    assert accepted and refused, "the burst should have been partly accepted and partly refused"
    for _, resp in refused:
        assert resp.status_code == 503, resp.text
        assert resp.json()["reason"] == "overloaded"
        assert "GATEWAY_MAX_CONCURRENT_REQUESTS" in resp.json()["detail"]
        assert resp.headers["retry-after"] == "1"
    overloaded = [line for line in metrics.splitlines() if line.startswith("gateway_overloaded_requests_total ")]
    assert overloaded and float(overloaded[0].split()[1]) == len(refused)
    stored = [m["transaction_id"] for m in read_topic(settings, settings.topic_transactions, REQUESTS, timeout=8)]
    assert sorted(stored) == sorted(accepted)  # every 202 stored once; no refused request stored
