"""``GET /readyz``: ready means warm, and a missing Triton degrades the gateway instead of failing it.

* **ready** (200): the broker answers metadata requests, our topic exists, and a produce can go through
  without a cold start: each idempotent producer (``/score``'s audit one too) holds its producer id, or a
  message was acknowledged. With ``/score`` on, a Triton round trip has also succeeded through ``/score``'s
  path and Triton still serves the model. The first request after "ready" therefore pays no connection
  set-up, no producer-id handshake, no first inference.
* **degraded: triton** (200): everything above but Triton. ``POST /transactions`` still works (the
  transactions wait in Kafka for the consumer), so the gateway stays in rotation; ``/score`` answers 503.
* **warming up** / **not ready** (503): the broker is not there yet, or the producers are not warm yet.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .handlers import Gateway


def readiness_body(checks: dict[str, dict[str, Any]], scoring_enabled: bool) -> tuple[int, dict[str, Any]]:
    """Status code and body of ``/readyz`` for the checks' results (pure, so the rules are tested alone)."""
    broker = checks["broker"]
    if not broker.get("ok"):
        status = "not ready"
    elif not broker.get("warm"):
        status = "warming up"
    elif scoring_enabled and not (checks["triton"].get("ok") and checks["triton"].get("warm")):
        return 200, {"status": "degraded: triton", "checks": checks}
    else:
        return 200, {"status": "ready", "checks": checks}
    return 503, {"status": status, "checks": checks}


class Readiness:
    """Runs the broker and Triton checks concurrently, each within ``GATEWAY_READINESS_TIMEOUT_S``."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def _triton(self) -> dict[str, Any]:
        gw = self.gw
        assert gw.scoring is not None
        timeout = gw.settings.gateway_readiness_timeout_s
        try:
            result = await asyncio.wait_for(gw.scoring.readiness(), timeout)
        except TimeoutError:
            result = {"ok": False, "error": f"no answer from Triton within {timeout:g}s"}
        result["warm"] = gw.warm.scored
        return result

    async def _broker(self) -> dict[str, Any]:
        gw = self.gw
        result = await asyncio.to_thread(gw.producer.broker_check, gw.settings.gateway_readiness_timeout_s)
        if gw.producer.warm() and gw.audit.warm():
            gw.warm.produced = True
        result["warm"] = gw.warm.produced
        return result

    async def check(self) -> tuple[int, dict[str, Any]]:
        jobs: dict[str, Any] = {"broker": self._broker()}
        if self.gw.scoring is not None:
            jobs["triton"] = self._triton()
        checks = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
        return readiness_body(checks, self.gw.scoring is not None)
