"""``GET /health``: the seed's health answer, with ``kafka_connected`` measured, not assumed.

``kafka_connected`` is true when the broker answered a metadata request within
``GATEWAY_READINESS_TIMEOUT_S``, the same request ``/readyz`` makes (:meth:`AsyncProducer.broker_check`).
One request at a time runs, in a thread, and its answer is reused for :data:`CACHE_S`, so a client
polling ``/health`` in a tight loop costs the broker at most one metadata request per second. A request
that gives up waiting does not cancel the shared check.

``status`` is ``"healthy"`` (200) when the broker is reachable, the transactions topic exists and the
producer has not failed fatally, i.e. a ``POST /transactions`` now would be stored; otherwise
``"unhealthy"`` with 503 and ``error`` saying why. Unlike ``/healthz`` (liveness: never restart the
gateway because the broker is down) this depends on the broker, so it is for clients and people, not a
liveness probe.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import Callable
from typing import Any

from taxifraud.verdicts import utc_now_rfc3339

#: How long one broker check's answer is reused.
CACHE_S = 1.0


def _version() -> str:
    try:
        return importlib.metadata.version("taxifraud")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


VERSION = _version()


class BrokerProbe:
    """Runs ``check(timeout)`` (blocking) in a thread, one at a time; reuses its result for ``cache_s``."""

    def __init__(self, check: Callable[[float], dict[str, Any]], timeout: float, cache_s: float = CACHE_S) -> None:
        self._check = check
        self._timeout = timeout
        self._cache_s = cache_s
        self._result: dict[str, Any] | None = None
        self._at = 0.0
        self._running: asyncio.Future[dict[str, Any]] | None = None

    async def result(self) -> dict[str, Any]:
        if self._result is not None and time.monotonic() - self._at < self._cache_s:
            return self._result
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._running)

    async def _run(self) -> dict[str, Any]:
        try:
            result = await asyncio.to_thread(self._check, self._timeout)
        except Exception as exc:  # a check that raises is a failed check, not a 500
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            self._running = None
        self._result, self._at = result, time.monotonic()
        return result


def health_body(check: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status code and body of ``GET /health`` for one broker check result."""
    connected = bool(check.get("brokers"))  # only a metadata answer carries the broker count
    healthy = bool(check.get("ok")) and connected
    body: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": utc_now_rfc3339(),
        "version": VERSION,
        "kafka_connected": connected,
    }
    if not healthy:
        body["error"] = str(check.get("error") or "broker check failed")
    return (200 if healthy else 503), body
