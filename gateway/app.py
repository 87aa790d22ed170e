"""The HTTP gateway: accepts taxi transactions and puts them on Kafka, or scores them synchronously.

Endpoints
---------
``POST /transactions`` (alias ``POST /transaction``)
    One transaction object or a JSON array of them (rules: :mod:`gateway.schema`). Each gets a
    ``transaction_id`` (kept if sent, else uuid4 hex) and ``ingested_at``, and is produced to
    ``TOPIC_TRANSACTIONS`` keyed by ``taxi_id`` (else ``transaction_id``). 202
    ``{"accepted": n, "transaction_ids": [...]}`` comes only after the broker acknowledged *every*
    message; 503 (``Retry-After``) when it did not within ``GATEWAY_PRODUCE_TIMEOUT_S``, too many
    messages are in flight, or too many requests are (``overloaded``). 401 without a valid ``X-API-Key``
    when ``GATEWAY_API_KEYS`` is set; 413 for a body above ``GATEWAY_MAX_BODY_BYTES`` or a batch above
    ``GATEWAY_MAX_BATCH``; 422 for invalid data.
``POST /api/v1/transaction`` (the seed's path)
    Exactly ``POST /transactions`` (same body, auth, limits, errors, and 202 only after the broker's ack);
    the 202 body carries the seed's ``TransactionResponse`` fields as well as ours:
    ``{"accepted", "transaction_ids", "status": "accepted", "transaction_id", "message", "timestamp"}``.
``POST /score``
    Same input; scores on Triton right away and answers 200 ``{"verdicts": [...]}``. The transactions are
    *not* put on the transactions topic (the consumer would score them again); instead each verdict,
    with ``"source": "score"`` and the transaction, goes to ``TOPIC_VERDICTS`` and each fraud alert to
    ``TOPIC_ALERTS``, as the audit trail. The answer waits for those to be acknowledged: a decision that
    was not recorded is answered 503, like a Triton failure (503 ``scoring`` with ``Retry-After``).
``POST /labels``
    One analyst label ``{"transaction_id", "label": "fraud" | "legit", "analyst"?, "note"?}`` or an array of
    them (rules: :mod:`taxifraud.labels`), produced to the compacted ``TOPIC_LABELS`` keyed by
    ``transaction_id`` with ``labelled_at``; 202 ``{"accepted", "transaction_ids", "labelled_at"}`` only after
    the broker's ack. Same auth, limits and 503s as ``POST /transactions``.
``GET /health`` (the seed's ``HealthResponse``)
    ``{"status": "healthy", "timestamp", "version", "kafka_connected": true}`` with 200 while the broker
    answers metadata requests (checked at most once a second, :mod:`gateway.health`); ``"unhealthy"``,
    ``kafka_connected: false`` (unless only the topic is missing) and ``error`` with 503 otherwise.
``GET /healthz``, ``GET /readyz``, ``GET /metrics``, ``GET /docs``
    Liveness; readiness (ready means warm; ``degraded: triton`` while only Triton is missing,
    :mod:`gateway.readiness`); Prometheus metrics; Swagger UI served from local files. These and
    ``/health`` are never behind the API key.

Every route is declared once, in :mod:`gateway.routes`; the write endpoints are plain ASGI handlers
(:mod:`gateway.handlers`) answered before FastAPI's router (:mod:`gateway.fastpath`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from taxifraud.heap import settle_after_startup
from taxifraud.lifecycle import die_with_parent_if_asked

from . import openapi
from .batcher import ScoreBatcher
from .docs import install_docs
from .fastpath import FastPathMiddleware
from .handlers import Gateway
from .health import BrokerProbe
from .metrics import MetricsMiddleware
from .producer import AsyncProducer
from .readiness import Readiness
from .routes import fast_paths, metric_routes, routers
from .scoring import ScoreService
from .settings import Settings, load_settings
from .warmup import wait_until_warm, warm_scoring

log = logging.getLogger(__name__)


@asynccontextmanager
async def _serving(app: FastAPI, settings: Settings | None) -> AsyncIterator[None]:
    """Build the clients, warm them up, serve, and close them in reverse order."""
    die_with_parent_if_asked()  # a uvicorn worker must not outlive the supervisor that forked it
    s = settings if settings is not None else load_settings()
    app.state.settings = s
    app.openapi_schema = None  # regenerate with these settings (batch limit, auth)
    producer = AsyncProducer(s).start()
    scoring = ScoreBatcher(ScoreService(s), s.gateway_score_max_rows) if s.gateway_score_enabled else None
    # /score's audit records get a producer of their own: the caller is waiting for their ack, so they
    # must not sit out the linger that /transactions may use to form bigger batches for the consumer.
    audit = (
        AsyncProducer(s, **{"client.id": "taxifraud-gateway-audit", "linger.ms": s.gateway_audit_linger_ms}).start()
        if scoring is not None
        else producer
    )
    keys = s.api_keys()
    log.info(
        "gateway up: broker %s, topic %s, auth %s, /score %s",
        s.kafka_bootstrap_servers,
        s.topic_transactions,
        f"on ({len(keys)} keys)" if keys else "off",
        f"on (Triton {s.triton_grpc_url})" if scoring else "off",
    )
    if scoring is not None:
        await scoring.start()
    gw = Gateway(settings=s, producer=producer, audit=audit, scoring=scoring, api_keys=keys)
    warming = asyncio.get_running_loop().create_task(warm_scoring(gw)) if scoring is not None else None
    await wait_until_warm(gw, s.gateway_warmup_timeout_s)
    app.state.gateway = gw
    app.state.readiness = Readiness(gw)
    app.state.broker_probe = BrokerProbe(producer.broker_check, s.gateway_readiness_timeout_s)
    settle_after_startup()  # full GC passes over the start-up heap were the p99 (taxifraud.heap)
    try:
        yield
    finally:
        if warming is not None:
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming
        if scoring is not None:
            await scoring.close()
        if audit is not producer:
            await audit.close()
        await producer.close()
        log.info("gateway stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway. Without ``settings`` they are read from the environment at start-up (lifespan),
    so importing this module never fails on configuration; ``uvicorn gateway.app:app`` works as is."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _serving(app, settings):
            yield

    app = FastAPI(
        title="taxifraud gateway",
        version="1.0",
        description=(__doc__ or "").split("\n\n")[0],
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    if settings is not None:
        app.state.settings = settings
    for router in routers():
        app.include_router(router)
    install_docs(app)
    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    app.add_middleware(FastPathMiddleware, paths=fast_paths())
    app.add_middleware(MetricsMiddleware, routes=metric_routes())  # added last = outermost: counts the fast path too
    return app


#: For ``uvicorn gateway.app:app``: settings are read from the environment when the app starts.
app = create_app()
