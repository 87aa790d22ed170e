"""The operations endpoints: ``GET /health`` (the seed's), ``/healthz``, ``/readyz``, ``/metrics``.

None of them is behind the API key: probes and scrapers must work without one.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Depends, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .health import BrokerProbe, health_body
from .metrics import render_metrics
from .readiness import Readiness


def _json(status: int, content: object) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _state(name: str) -> object:
    def get(request: Request) -> object:
        value = getattr(request.app.state, name, None)
        if value is None:
            raise HTTPException(503, "the gateway is starting", headers={"Retry-After": "1"})
        return value

    return get


BrokerProbeDep = Annotated[BrokerProbe, Depends(_state("broker_probe"))]
ReadinessDep = Annotated[Readiness, Depends(_state("readiness"))]


async def health(probe: BrokerProbeDep) -> Response:
    """The seed's health check: 200 ``healthy`` while the broker answers (``kafka_connected``), else 503."""
    status, body = health_body(await probe.result())
    return _json(status, body)


async def healthz() -> Response:
    """Liveness: the process answers. Deliberately checks nothing else, so a broker outage never restarts us."""
    return _json(200, {"status": "ok"})


async def readyz(readiness: ReadinessDep) -> Response:
    """Readiness, and ready means warm: 200 ``ready`` once the broker answers, our topic exists and a produce
    went through (and, with /score on, a Triton round trip); 200 ``degraded: triton`` while only Triton is
    missing (transactions are still accepted); 503 ``warming up`` or ``not ready`` otherwise."""
    status, body = await readiness.check()
    return _json(status, body)


async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
