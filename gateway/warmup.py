"""Start-up warm-up, so that ready means warm (:mod:`gateway.readiness`).

A fresh gateway's first produce waits for the idempotent producer's id (about a second) and its first
``/score`` pays Triton's connection and first inference; measured, the first minute after start was the
slowest of all. Start-up therefore waits (up to ``GATEWAY_WARMUP_TIMEOUT_S``) until the producer holds
its id and one Triton round trip has gone through ``/score``'s own path, before uvicorn takes requests.
Nothing is written to Kafka for it: the warm-up trip's verdict is no decision anyone asked for, so it
has no audit record. A broker that does not answer skips the wait (the gateway starts, unready, as
before); a Triton that is not there yet is retried every second in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from taxifraud.verdicts import utc_now_rfc3339

from . import schema
from .handlers import Gateway
from .responses import SHORT_EXAMPLE
from .scoring import ScoringUnavailable

log = logging.getLogger(__name__)

RETRY_S = 1.0


async def warm_scoring(gw: Gateway) -> None:
    """One ``/score`` round trip through Triton (no audit record), retried until it succeeds."""
    assert gw.scoring is not None
    trips, _ = schema.parse_transactions(orjson.dumps(SHORT_EXAMPLE), 1)
    while not gw.warm.scored:
        schema.stamp(trips, utc_now_rfc3339())
        try:
            await gw.scoring.score(trips)
        except ScoringUnavailable as exc:
            log.debug("warm-up: /score not available yet: %s", exc)
            await asyncio.sleep(RETRY_S)
            continue
        gw.warm.scored = True
        log.info("warm-up: a Triton round trip went through /score")


async def wait_until_warm(gw: Gateway, timeout: float) -> None:
    """Return once the producer holds its id and (with /score on) Triton answered, or after ``timeout``."""
    if timeout <= 0:
        return
    deadline = time.monotonic() + timeout
    check = await asyncio.to_thread(gw.producer.broker_check, min(timeout, gw.settings.gateway_readiness_timeout_s))
    if not check.get("ok"):
        log.warning("warm-up skipped, the broker is not ready: %s", check.get("error"))
        return
    while time.monotonic() < deadline:
        if gw.producer.warm() and gw.audit.warm():
            gw.warm.produced = True
        if gw.warm.produced and (gw.scoring is None or gw.warm.scored):
            log.info("warm-up done")
            return
        await asyncio.sleep(0.02)
    log.warning("warm-up incomplete after %gs: produce %s, /score %s", timeout, gw.warm.produced, gw.warm.scored)
