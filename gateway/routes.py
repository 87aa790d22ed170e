"""The gateway's one route table, and everything built from it.

Each HTTP route is declared once, in :data:`ROUTES`. From that table come the FastAPI routers (one per
resource: transactions, labels, operations), the write paths that :class:`gateway.fastpath.FastPathMiddleware`
answers before FastAPI's router, the ``route`` label of the HTTP metrics, and the OpenAPI document's
request bodies (:mod:`gateway.openapi`). Adding a route is one entry here (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from . import probes
from .asgi import ClientGone
from .handlers import (
    FastHandler,
    Gateway,
    handle_labels,
    handle_score,
    handle_seed_transaction,
    handle_transactions,
    serve,
)
from .responses import (
    ERRORS,
    SEED_API_EXAMPLE,
    SHORT_EXAMPLE,
    Accepted,
    HealthResponse,
    LabelsAccepted,
    Problem,
    Scored,
    SeedAccepted,
)

Resource = Literal["transactions", "labels", "operations"]
#: What a write route's body is, for the OpenAPI document: transactions (with an example) or labels.
Body = Literal["transactions", "labels"]


@dataclass(frozen=True)
class Route:
    """One HTTP route: where, what answers it, and what the OpenAPI document says about it.

    A write route names a ``fast`` handler (plain ASGI, answered by the fast-path middleware; the router
    runs the same handler when the middleware did not answer); a read route names a FastAPI ``endpoint``.
    """

    path: str
    method: Literal["GET", "POST"]
    resource: Resource
    summary: str
    operation_id: str
    description: str | None = None
    fast: FastHandler | None = None
    endpoint: Callable[..., Any] | None = None
    status_code: int | None = None
    responses: Mapping[int | str, dict[str, Any]] = field(default_factory=dict)
    body: Body | None = None
    example: dict[str, Any] | None = None
    response_class: type[Response] | None = None


def _gateway(request: Request) -> Gateway:
    gw: Gateway | None = getattr(request.app.state, "gateway", None)
    if gw is None:
        raise HTTPException(503, "the gateway is starting", headers={"Retry-After": "1"})
    return gw


GatewayDep = Annotated[Gateway, Depends(_gateway)]


def fast_endpoint(handler: FastHandler) -> Callable[..., Any]:
    """The router's endpoint for a fast-path handler (reached only when the middleware did not answer)."""

    async def endpoint(request: Request, gw: GatewayDep) -> Response:
        try:
            reply = await serve(gw, handler, request.scope, request.receive)
        except ClientGone:
            return Response(status_code=400)  # nobody is listening any more
        return reply.response()

    return endpoint


def write_route(
    path: str,
    summary: str,
    description: str,
    fast: FastHandler,
    answer: tuple[int, type[Any], str],
    operation_id: str,
    body: Body = "transactions",
    example: dict[str, Any] | None = SHORT_EXAMPLE,
    errors: Mapping[int | str, dict[str, Any]] = ERRORS,
) -> Route:
    """A POST route answered by a fast-path handler: ``answer`` is its success status, model and meaning."""
    status, model, meaning = answer
    return Route(
        path,
        "POST",
        "labels" if body == "labels" else "transactions",
        summary,
        operation_id=operation_id,
        description=description,
        fast=fast,
        status_code=status,
        responses={status: {"model": model, "description": meaning}, **errors},
        body=body,
        example=example,
    )


_STORED = "stored by the broker"

ROUTES: tuple[Route, ...] = (
    *(
        write_route(
            path,
            "Accept transactions for asynchronous scoring",
            "Validate, stamp and produce transactions; 202 only once the broker has acknowledged all of them.",
            handle_transactions,
            (202, Accepted, _STORED),
            operation_id=f"post_{path.strip('/')}",
        )
        for path in ("/transactions", "/transaction")
    ),
    write_route(
        "/api/v1/transaction",
        "The seed's path: accept transactions, answer in the seed's shape and ours",
        "The seed's path: ``POST /transactions`` answered with the seed's response fields as well as ours.",
        handle_seed_transaction,
        (202, SeedAccepted, _STORED),
        operation_id="post_api_v1_transaction",
        example=SEED_API_EXAMPLE,
    ),
    write_route(
        "/score",
        "Score transactions synchronously on Triton",
        "Score on Triton now; record verdicts (and alerts) on Kafka for the audit trail; 200 with verdicts.",
        handle_score,
        (200, Scored, "verdicts, in request order"),
        operation_id="post_score_score_post",
    ),
    write_route(
        "/labels",
        "Record analyst labels (fraud | legit) of transactions",
        "Store analyst labels on the compacted labels topic; 202 only once the broker has acknowledged them.",
        handle_labels,
        (202, LabelsAccepted, _STORED),
        operation_id="post_labels_labels_post",
        body="labels",
        example=None,
        errors={**ERRORS, 422: {"model": Problem, "description": "invalid label(s); detail names each field and rule"}},
    ),
    Route(
        "/health",
        "GET",
        "operations",
        "The seed's health check: broker connectivity",
        operation_id="health_health_get",
        endpoint=probes.health,
        responses={
            200: {"model": HealthResponse, "description": "healthy: the broker answers"},
            503: {"model": HealthResponse, "description": "unhealthy: the broker does not answer (see error)"},
        },
    ),
    Route("/healthz", "GET", "operations", "Liveness", operation_id="healthz_healthz_get", endpoint=probes.healthz),
    Route(
        "/readyz",
        "GET",
        "operations",
        "Readiness: broker (and Triton)",
        operation_id="readyz_readyz_get",
        endpoint=probes.readyz,
        responses={503: {"description": "a dependency is not ready; see checks"}},
    ),
    Route(
        "/metrics",
        "GET",
        "operations",
        "Prometheus metrics",
        operation_id="metrics_metrics_get",
        endpoint=probes.metrics,
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}},
    ),
)

#: Served outside the table (by FastAPI and :mod:`gateway.docs`) but still worth a metrics label of their own.
EXTRA_METRIC_ROUTES = ("/docs", "/openapi.json")


def fast_paths(routes: tuple[Route, ...] = ROUTES) -> dict[str, FastHandler]:
    """The write paths the fast-path middleware answers itself, and their handlers."""
    return {r.path: r.fast for r in routes if r.fast is not None}


def metric_routes(routes: tuple[Route, ...] = ROUTES) -> frozenset[str]:
    """Paths reported under their own ``route`` label; anything else is ``other``."""
    return frozenset((*(r.path for r in routes), *EXTRA_METRIC_ROUTES))


def routers(routes: tuple[Route, ...] = ROUTES) -> list[APIRouter]:
    """One router per resource, in the table's order."""
    by_resource: dict[str, APIRouter] = {}
    for route in routes:
        router = by_resource.setdefault(route.resource, APIRouter(tags=[route.resource]))
        endpoint = fast_endpoint(route.fast) if route.fast is not None else route.endpoint
        assert endpoint is not None, f"route {route.path} has neither a fast handler nor an endpoint"
        extra: dict[str, Any] = {"response_class": route.response_class} if route.response_class else {}
        router.add_api_route(
            route.path,
            endpoint,
            methods=[route.method],
            status_code=route.status_code,
            responses=dict(route.responses),
            summary=route.summary,
            description=route.description,
            operation_id=route.operation_id,
            **extra,
        )
    return list(by_resource.values())
