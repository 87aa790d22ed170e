"""The gateway's Prometheus metrics (names fixed by docs/architecture.md) and the ASGI middleware feeding them.

Multi-worker: with ``PROMETHEUS_MULTIPROC_DIR`` set *before* ``prometheus_client`` is imported, every worker
writes its samples to files in that directory and ``GET /metrics`` (answered by whichever worker) sums
them, so totals are right however many workers uvicorn runs. :func:`gateway.server.run` sets it up.

The middleware is plain ASGI rather than ``BaseHTTPMiddleware``, which would add a task and a queue to
every request. The ``route`` label is the path for the routes of the route table
(:func:`gateway.routes.metric_routes`) and ``other`` for anything else, so scanners probing random URLs
cannot blow up the label cardinality.

``gateway_span_seconds{span}`` says where a request's time goes: ``validate`` (parse and check the body),
``produce_ack`` (transactions or labels produced until the broker's ack), ``score`` (a ``/score`` request
from queueing for Triton to its verdicts), ``score_triton`` (one Triton call, carrying one or more
requests), ``audit_ack`` (``/score``'s verdicts and alerts until the broker's ack).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from request start to the end of the response, by route template",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TRANSACTIONS_ACCEPTED = Counter(
    "gateway_transactions_accepted", "Transactions acknowledged by the broker (answered 202)"
)
PRODUCE_FAILURES = Counter(
    "gateway_produce_failures",
    "Messages the broker did not store, by reason: timeout, queue_full, broker_error, authentication",
    ["reason"],
)
BATCH_SIZE = Histogram(
    "gateway_request_batch_size",
    "Transactions per valid request",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
)
LABELS_ACCEPTED = Counter(
    "gateway_labels_accepted", "Analyst labels acknowledged by the broker (POST /labels), by label", ["label"]
)
OVERLOADED = Counter(
    "gateway_overloaded_requests",
    "Write requests refused with 503 overloaded (GATEWAY_MAX_CONCURRENT_REQUESTS in progress already)",
)
SPAN = Histogram(
    "gateway_span_seconds",
    "Time spent in each step of a request: validate, produce_ack, score, score_triton, audit_ack",
    ["span"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.006, 0.0087, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
SPANS = ("validate", "produce_ack", "score", "score_triton", "audit_ack")
_SPAN_CHILDREN = {name: SPAN.labels(name) for name in SPANS}


def span(name: str, seconds: float) -> None:
    """Record ``seconds`` spent in span ``name`` (one of :data:`SPANS`)."""
    _SPAN_CHILDREN[name].observe(seconds)


SCORE_REQUESTS = Counter("gateway_score_requests", "POST /score requests by outcome: ok, triton_error", ["outcome"])

for _reason in ("timeout", "queue_full", "broker_error", "authentication"):
    PRODUCE_FAILURES.labels(_reason)
for _outcome in ("ok", "triton_error"):
    SCORE_REQUESTS.labels(_outcome)
for _label in ("fraud", "legit"):
    LABELS_ACCEPTED.labels(_label)


class MetricsMiddleware:
    """Counts and times every HTTP request (``gateway_http_requests_total``, ``..._duration_seconds``)."""

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client sees if the app raises before starting a response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = scope["path"]
            route = path if path in self.routes else ("/static" if path.startswith("/static/") else "other")
            self._observe(route, scope["method"], status, time.perf_counter() - start)

    def _observe(self, route: str, method: str, status: int, seconds: float) -> None:
        # Label children are cached: .labels() takes a lock and hashes on every call.
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = HTTP_REQUESTS.labels(route, method, str(status))
        counter.inc()
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = HTTP_DURATION.labels(route)
        timer.observe(seconds)


def render_metrics() -> tuple[bytes, str]:
    """The exposition text: this process's registry, or all workers' files in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
