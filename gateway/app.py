"""The HTTP gateway: accepts taxi transactions and puts them on Kafka, or scores them synchronously.

Endpoints
---------
``POST /transactions`` (alias ``POST /transaction``)
    One transaction object or a JSON array of them (rules: :mod:`gateway.schema`). Each gets a
    ``transaction_id`` (kept if sent, else uuid4 hex) and ``ingested_at``, and is produced to
    ``TOPIC_TRANSACTIONS`` keyed by ``taxi_id`` (else ``transaction_id``). 202
    ``{"accepted": n, "transaction_ids": [...]}`` comes only after the broker acknowledged *every*
    message; 503 (``Retry-After``) when it did not within ``GATEWAY_PRODUCE_TIMEOUT_S`` or too many
    messages are in flight. 401 without a valid ``X-API-Key`` when ``GATEWAY_API_KEYS`` is set; 413 for a
    body above ``GATEWAY_MAX_BODY_BYTES`` or a batch above ``GATEWAY_MAX_BATCH``; 422 for invalid data.
``POST /api/v1/transaction`` (the seed's path)
    Exactly ``POST /transactions`` (same body, auth, limits, errors, and 202 only after the broker's ack);
    the 202 body carries the seed's ``TransactionResponse`` fields as well as ours:
    ``{"accepted", "transaction_ids", "status": "accepted", "transaction_id", "message", "timestamp"}``.
``POST /score``
    Same input; scores on Triton right away and answers 200 ``{"verdicts": [...]}``. The transactions are
    *not* put on the transactions topic (the consumer would score them again); instead each verdict,
    with ``"source": "score"`` and the transaction, goes to ``TOPIC_VERDICTS`` and each fraud alert to
    ``TOPIC_ALERTS``, as the audit trail. The answer waits for those to be acknowledged: a decision that
    was not recorded is answered 503, like a Triton failure.
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
    Liveness; readiness (broker metadata, and Triton when ``/score`` is enabled, each reported);
    Prometheus metrics; Swagger UI served from local files. These and ``/health`` are never behind the API
    key.

The write endpoints are plain ASGI handlers (:mod:`gateway.handlers`): raw body, pydantic ``TypeAdapter``
validation, ``orjson`` responses, and both are answered by a middleware before FastAPI's router, because
FastAPI's per-request machinery would otherwise cost as much as all of the real work.
The OpenAPI document still describes every body and response exactly (see :func:`_openapi`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from taxifraud import labels
from taxifraud.heap import settle_after_startup
from taxifraud.lifecycle import die_with_parent_if_asked

from . import schema
from .docs import install_docs
from .handlers import (
    ClientGone,
    FastHandler,
    FastPathMiddleware,
    Gateway,
    Reply,
    handle_labels,
    handle_score,
    handle_seed_transaction,
    handle_transactions,
)
from .health import BrokerProbe, health_body
from .metrics import MetricsMiddleware, render_metrics
from .producer import AsyncProducer
from .scoring import ScoreService
from .settings import Settings, load_settings

log = logging.getLogger(__name__)

WRITE_PATHS = ("/transactions", "/transaction", "/api/v1/transaction", "/score", "/labels")
#: The seed's own example request body, as its ``POST /api/v1/transaction`` documented it.
SEED_API_EXAMPLE: dict[str, Any] = {
    "transaction_id": "550e8400-e29b-41d4-a716-446655440000",
    "pickup_datetime": "2023-01-01T00:26:10",
    "dropoff_datetime": "2023-01-01T00:37:11",
    "passenger_count": 1,
    "trip_distance": 2.58,
    "fare_amount": 24.18,
    "payment_type": 1,
    "vendor_id": 2,
}


# --- response shapes, for the OpenAPI document (responses themselves are built as orjson bytes) ---


class Accepted(BaseModel):
    accepted: int = Field(description="transactions stored by the broker")
    transaction_ids: list[str] = Field(description="in request order")


class SeedAccepted(Accepted):
    """Ours plus the seed's ``TransactionResponse``, for the seed's ``POST /api/v1/transaction``."""

    status: Literal["accepted"]
    transaction_id: str | None = Field(description="the transaction's id; null for an array (see transaction_ids)")
    message: str
    timestamp: str = Field(description="when the gateway stamped the transaction(s): their ingested_at, RFC 3339 UTC")


class HealthResponse(BaseModel):
    """The seed's ``HealthResponse``, plus ``error`` when unhealthy."""

    status: Literal["healthy", "unhealthy"]
    timestamp: str = Field(description="RFC 3339 UTC")
    version: str = Field(description="version of the taxifraud package serving this")
    kafka_connected: bool = Field(description="the broker answered a metadata request (checked at most once a second)")
    error: str | None = Field(None, description="unhealthy only: why")


class Issue(BaseModel):
    loc: list[str | int] = Field(description='where: ["body", <index in a batch>, <field>]')
    msg: str = Field(description="the rule that was broken")
    type: str


class Problem(BaseModel):
    detail: str | list[Issue]
    reason: str | None = Field(None, description="503 only: timeout, queue_full, broker_error, scoring")


class Verdict(BaseModel):
    transaction_id: str
    is_fraud: bool
    score: float
    threshold: float
    reasons: list[str]
    model_version: str
    ingested_at: str
    scored_at: str


class LabelsAccepted(BaseModel):
    accepted: int = Field(description="labels stored by the broker")
    transaction_ids: list[str] = Field(description="the labelled transactions, in request order")
    labelled_at: str = Field(description="the labels' timestamp, RFC 3339 UTC")


class Scored(BaseModel):
    verdicts: list[Verdict] = Field(description="in request order")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or invalid X-API-Key (only when GATEWAY_API_KEYS is set)"},
    413: {"model": Problem, "description": "body above GATEWAY_MAX_BODY_BYTES or batch above GATEWAY_MAX_BATCH"},
    422: {"model": Problem, "description": "invalid transaction(s); detail names each field and rule"},
    503: {
        "model": Problem,
        "description": "not stored / not scored: broker or Triton unavailable; retry after Retry-After seconds",
    },
}


def _json(status: int, content: Any) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _response(reply: Reply) -> Response:
    headers = {"Retry-After": str(reply.retry_after)} if reply.retry_after is not None else None
    return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)


async def _fast_path_handler(handler: FastHandler, request: Request) -> Response:
    """Run a fast-path handler from its FastAPI route (reached only when the middleware did not answer)."""
    try:
        return _response(await handler(request.app.state.gateway, request.scope, request.receive))
    except ClientGone:
        return Response(status_code=400)  # nobody is listening any more


# --- endpoints ---


async def post_transactions(request: Request) -> Response:
    """Validate, stamp and produce transactions; 202 only once the broker has acknowledged all of them.

    Normally answered by :class:`gateway.handlers.FastPathMiddleware` before this route is reached; this
    route documents the endpoint and runs the very same handler otherwise.
    """
    return await _fast_path_handler(handle_transactions, request)


async def post_seed_transaction(request: Request) -> Response:
    """The seed's path: ``POST /transactions`` answered with the seed's response fields as well as ours.

    Normally answered by :class:`gateway.handlers.FastPathMiddleware`, like ``POST /transactions``.
    """
    return await _fast_path_handler(handle_seed_transaction, request)


async def post_score(request: Request) -> Response:
    """Score on Triton now; record verdicts (and alerts) on Kafka for the audit trail; 200 with verdicts.

    Normally answered by :class:`gateway.handlers.FastPathMiddleware`, like ``POST /transactions``.
    """
    return await _fast_path_handler(handle_score, request)


async def post_labels(request: Request) -> Response:
    """Store analyst labels on the compacted labels topic; 202 only once the broker has acknowledged them.

    Normally answered by :class:`gateway.handlers.FastPathMiddleware`, like ``POST /transactions``.
    """
    return await _fast_path_handler(handle_labels, request)


async def health(request: Request) -> Response:
    """The seed's health check: 200 ``healthy`` while the broker answers (``kafka_connected``), else 503."""
    probe: BrokerProbe = request.app.state.broker_probe
    status, body = health_body(await probe.result())
    return _json(status, body)


async def healthz() -> Response:
    """Liveness: the process answers. Deliberately checks nothing else, so a broker outage never restarts us."""
    return _json(200, {"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: broker metadata answers (and our topic exists); Triton serves the model if /score is on."""
    gw: Gateway = request.app.state.gateway
    timeout = gw.settings.gateway_readiness_timeout_s

    async def triton() -> dict[str, Any]:
        assert gw.scoring is not None
        try:
            return await asyncio.wait_for(gw.scoring.readiness(), timeout)
        except TimeoutError:
            return {"ok": False, "error": f"no answer from Triton within {timeout:g}s"}

    checks: dict[str, Any] = {}
    jobs: dict[str, Any] = {"broker": asyncio.to_thread(gw.producer.broker_check, timeout)}
    if gw.scoring is not None:
        jobs["triton"] = triton()
    for name, result in zip(jobs, await asyncio.gather(*jobs.values()), strict=True):
        checks[name] = result
    ready = all(c["ok"] for c in checks.values())
    return _json(200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks})


async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)


# --- app assembly ---


def _body_spec(max_batch: int, example: dict[str, Any]) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Transaction"}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [ref, {"type": "array", "items": ref, "minItems": 1, "maxItems": max_batch}],
                },
                "examples": {
                    "wire": {"summary": "wire field names", "value": example},
                    "tlc": {"summary": "a 2025 record exactly as TLC writes it", "value": TLC_RECORD_EXAMPLE},
                },
            }
        },
    }


SHORT_EXAMPLE: dict[str, Any] = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}
#: The first trip of TLC's January 2025 yellow-taxi file, exactly as TLC writes it (its column names;
#: a JSON encoder's rendering of its Parquet types): accepted as it is, see :mod:`gateway.schema`.
TLC_RECORD_EXAMPLE: dict[str, Any] = {
    "VendorID": 1,
    "tpep_pickup_datetime": "2025-01-01T00:18:38",
    "tpep_dropoff_datetime": "2025-01-01T00:26:59",
    "passenger_count": 1.0,
    "trip_distance": 1.6,
    "RatecodeID": 1.0,
    "store_and_fwd_flag": "N",
    "PULocationID": 229,
    "DOLocationID": 237,
    "payment_type": 1,
    "fare_amount": 10.0,
    "extra": 3.5,
    "mta_tax": 0.5,
    "tip_amount": 3.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 1.0,
    "total_amount": 18.0,
    "congestion_surcharge": 2.5,
    "Airport_fee": 0.0,
    "cbd_congestion_fee": 0.0,
}


LABEL_EXAMPLE: dict[str, Any] = {
    "transaction_id": "550e8400e29b41d4a716446655440000",
    "label": "fraud",
    "analyst": "ana",
    "note": "driver confirmed the meter was tampered with",
}


def _label_body_spec(max_batch: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Label"}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [ref, {"type": "array", "items": ref, "minItems": 1, "maxItems": max_batch}]},
                "example": LABEL_EXAMPLE,
            }
        },
    }


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus what it cannot infer: the raw-body schema, the batch limit, the API key."""
    if app.openapi_schema:
        return app.openapi_schema
    settings: Settings | None = getattr(app.state, "settings", None)
    max_batch = settings.gateway_max_batch if settings else Settings.model_fields["gateway_max_batch"].default
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    tx_schema = schema.transaction_schema()
    components.setdefault("schemas", {}).update(tx_schema.pop("$defs", {}))
    components["schemas"]["Transaction"] = tx_schema
    components["schemas"]["Label"] = labels.ONE.json_schema(ref_template="#/components/schemas/{model}")
    auth_on = bool(settings and settings.api_keys())
    if auth_on:
        components["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    for path in WRITE_PATHS:
        operation = doc["paths"].get(path, {}).get("post")
        if operation is None:
            continue
        if path == "/labels":
            operation["requestBody"] = _label_body_spec(max_batch)
        else:
            example = SEED_API_EXAMPLE if path == "/api/v1/transaction" else SHORT_EXAMPLE
            operation["requestBody"] = _body_spec(max_batch, example)
        if auth_on:
            operation["security"] = [{"ApiKey": []}]
        else:
            operation["responses"].pop("401", None)
    app.openapi_schema = doc
    return doc


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway. Without ``settings`` they are read from the environment at start-up (lifespan),
    so importing this module never fails on configuration; ``uvicorn gateway.app:app`` works as is."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        die_with_parent_if_asked()  # a uvicorn worker must not outlive the supervisor that forked it
        s = settings if settings is not None else load_settings()
        app.state.settings = s
        app.openapi_schema = None  # regenerate with these settings (batch limit, auth)
        producer = AsyncProducer(s).start()
        scoring = ScoreService(s) if s.gateway_score_enabled else None
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
        app.state.gateway = Gateway(settings=s, producer=producer, audit=audit, scoring=scoring, api_keys=keys)
        app.state.broker_probe = BrokerProbe(producer.broker_check, s.gateway_readiness_timeout_s)
        settle_after_startup()  # full GC passes over the start-up heap were the p99 (taxifraud.heap)
        try:
            yield
        finally:
            if scoring is not None:
                await scoring.close()
            if audit is not producer:
                await audit.close()
            await producer.close()
            log.info("gateway stopped")

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
    write_responses: dict[int | str, dict[str, Any]] = {**_ERRORS}
    accepted = {202: {"model": Accepted, "description": "stored by the broker"}, **write_responses}
    for path in ("/transactions", "/transaction"):
        app.add_api_route(
            path,
            post_transactions,
            methods=["POST"],
            status_code=202,
            responses=accepted,
            summary="Accept transactions for asynchronous scoring",
            operation_id=f"post_{path.strip('/')}",
            tags=["transactions"],
        )
    app.add_api_route(
        "/api/v1/transaction",
        post_seed_transaction,
        methods=["POST"],
        status_code=202,
        responses={202: {"model": SeedAccepted, "description": "stored by the broker"}, **write_responses},
        summary="The seed's path: accept transactions, answer in the seed's shape and ours",
        operation_id="post_api_v1_transaction",
        tags=["transactions"],
    )
    app.add_api_route(
        "/score",
        post_score,
        methods=["POST"],
        status_code=200,
        responses={200: {"model": Scored, "description": "verdicts, in request order"}, **write_responses},
        summary="Score transactions synchronously on Triton",
        tags=["transactions"],
    )
    app.add_api_route(
        "/labels",
        post_labels,
        methods=["POST"],
        status_code=202,
        responses={
            202: {"model": LabelsAccepted, "description": "stored by the broker"},
            **write_responses,
            422: {"model": Problem, "description": "invalid label(s); detail names each field and rule"},
        },
        summary="Record analyst labels (fraud | legit) of transactions",
        tags=["labels"],
    )
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        summary="The seed's health check: broker connectivity",
        responses={
            200: {"model": HealthResponse, "description": "healthy: the broker answers"},
            503: {"model": HealthResponse, "description": "unhealthy: the broker does not answer (see error)"},
        },
        tags=["operations"],
    )
    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness", tags=["operations"])
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        summary="Readiness: broker (and Triton)",
        responses={503: {"description": "a dependency is not ready; see checks"}},
        tags=["operations"],
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}},
        tags=["operations"],
    )
    install_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(FastPathMiddleware)
    app.add_middleware(MetricsMiddleware)  # added last = outermost: counts the fast path too
    return app


#: For ``uvicorn gateway.app:app``: settings are read from the environment when the app starts.
app = create_app()
