"""The write endpoints (``POST /transactions``, ``POST /score``, ``POST /labels``, the seed's
``POST /api/v1/transaction``) at the ASGI level.

Why ASGI-level
--------------
The gateway must do real work per transaction (validate, stamp, produce, wait for the broker's ack) and
still serve at least 0.9x the request rate of a FastAPI endpoint that does nothing. FastAPI's own
per-request machinery (routing, exception and exit-stack middlewares, dependency solving, ``Request``
objects, response classes) costs about as much as all of our work, so the hot endpoint is written against
plain ASGI (``scope``/``receive``/``send``) and :class:`gateway.fastpath.FastPathMiddleware` answers the
write paths before FastAPI's router is reached (for ``/score``, FastAPI's layers were 17% of the gateway's
CPU at 700 requests/s). The same handlers also back the regular FastAPI routes (:mod:`gateway.routes`),
so both ways in behave identically by construction: both go through :func:`serve`.

Overload
--------
:func:`serve` admits at most ``GATEWAY_MAX_CONCURRENT_REQUESTS`` write requests at a time per process;
beyond that it answers 503 ``overloaded`` with ``Retry-After`` at once, before reading the body. Several
times the capacity then costs the excess requests a quick refusal instead of every request a timeout,
and nothing is half-accepted: a refused request was never produced, an admitted one is answered 202
only after the broker's ack, as always.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Scope

from taxifraud.labels import label_record, parse_labels
from taxifraud.verdicts import build_alert, utc_now_rfc3339

from . import schema
from .asgi import Reply, problem, read_body
from .batcher import ScoreBatcher
from .metrics import (
    BATCH_SIZE,
    LABELS_ACCEPTED,
    OVERLOADED,
    PRODUCE_FAILURES,
    SCORE_REQUESTS,
    TRANSACTIONS_ACCEPTED,
    span,
)
from .producer import AsyncProducer, Outgoing, ProduceFailed
from .scoring import ScoringUnavailable
from .settings import Settings

log = logging.getLogger(__name__)

API_KEY_HEADER = b"x-api-key"
RETRY_AFTER_QUEUE_FULL_S = 1
RETRY_AFTER_OVERLOADED_S = 1


class Throttled:
    """At most one log line per ``interval`` seconds per key, with the number of lines suppressed since.

    During an outage every request fails the same way; one line per request would flood the logs
    (thousands a second) without telling anyone more.
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += f" (and {suppressed} more like it in the last {self.interval:g}s)"
        log.warning(msg, *args)


throttled = Throttled()


@dataclass
class Warmth:
    """Which round trips this process has completed once (for readiness: ready means warm)."""

    produced: bool = False
    scored: bool = False


@dataclass
class Gateway:
    """Everything one worker process needs to serve requests; built in the app's lifespan."""

    settings: Settings
    producer: AsyncProducer
    audit: AsyncProducer  # /score's verdicts and alerts (may be ``producer`` itself)
    scoring: ScoreBatcher | None
    api_keys: tuple[bytes, ...]
    warm: Warmth = field(default_factory=Warmth)
    in_flight: int = 0  # write requests being served now (see serve)

    def authorized(self, scope: Scope) -> bool:
        """Constant-time check of ``X-API-Key`` against every configured key (no early exit)."""
        if not self.api_keys:
            return True
        presented = None
        for name, value in scope["headers"]:
            if name == API_KEY_HEADER:
                presented = value
                break
        if presented is None:
            return False
        ok = False
        for key in self.api_keys:
            ok |= hmac.compare_digest(presented, key)
        return ok


async def _validated(gw: Gateway, scope: Scope, receive: Receive) -> tuple[list[dict[str, Any]], bool]:
    """Auth, then size limit, then validation, shared by every write endpoint; raises ``schema.Rejected``.

    Returns the transactions and whether the body was an array.
    """
    if not gw.authorized(scope):
        raise schema.Rejected(401, "missing or invalid X-API-Key")
    body = await read_body(scope, receive, gw.settings.gateway_max_body_bytes)
    start = time.perf_counter()
    transactions, is_batch = schema.parse_transactions(body, gw.settings.gateway_max_batch)
    span("validate", time.perf_counter() - start)
    BATCH_SIZE.observe(len(transactions))
    return transactions, is_batch


def _not_stored(exc: ProduceFailed, count: int, gw: Gateway, what: str) -> Reply:
    PRODUCE_FAILURES.labels(exc.reason).inc(count)
    throttled.warning(f"produce-{exc.reason}", "%s: %d message(s) not stored (%s): %s", what, count, exc.reason, exc)
    if exc.reason == "queue_full":
        retry = RETRY_AFTER_QUEUE_FULL_S
    else:
        retry = max(1, round(gw.settings.gateway_produce_timeout_s))
    return problem(503, f"{what} not stored: {exc}", exc.reason, retry)


async def handle_transactions(gw: Gateway, scope: Scope, receive: Receive) -> Reply:
    """Validate, stamp and produce; 202 only once the broker has acknowledged every message."""
    return await _accept_transactions(gw, scope, receive, seed_shape=False)


async def handle_seed_transaction(gw: Gateway, scope: Scope, receive: Receive) -> Reply:
    """The seed's ``POST /api/v1/transaction``: exactly ``/transactions``, answered in both shapes.

    The 202 body has ours (``accepted``, ``transaction_ids``) and the seed's ``TransactionResponse``
    (``status: "accepted"``, ``transaction_id``, ``message``, ``timestamp``: the ``ingested_at`` stamp).
    ``transaction_id`` is the transaction's id for a single object (the seed's only form) and null for
    an array, whose ids are in ``transaction_ids``. Errors are the same as ``/transactions``'.
    """
    return await _accept_transactions(gw, scope, receive, seed_shape=True)


async def _accept_transactions(gw: Gateway, scope: Scope, receive: Receive, seed_shape: bool) -> Reply:
    try:
        transactions, is_batch = await _validated(gw, scope, receive)
    except schema.Rejected as exc:
        return problem(exc.status, exc.detail)
    ingested_at = utc_now_rfc3339()
    ids = schema.stamp(transactions, ingested_at)
    topic = gw.settings.topic_transactions
    dumps = orjson.dumps
    key = schema.kafka_key
    start = time.perf_counter()
    try:
        await gw.producer.send([(topic, key(tx), dumps(tx)) for tx in transactions])
    except ProduceFailed as exc:
        return _not_stored(exc, len(transactions), gw, "transactions")
    span("produce_ack", time.perf_counter() - start)
    gw.warm.produced = True
    TRANSACTIONS_ACCEPTED.inc(len(ids))
    if not seed_shape:
        return Reply(202, orjson.dumps({"accepted": len(ids), "transaction_ids": ids}))
    return Reply(202, orjson.dumps(seed_accepted(ids, is_batch, ingested_at)))


def seed_accepted(ids: list[str], is_batch: bool, ingested_at: str) -> dict[str, Any]:
    """Our 202 body plus the seed's ``TransactionResponse`` fields."""
    return {
        "accepted": len(ids),
        "transaction_ids": ids,
        "status": "accepted",
        "transaction_id": None if is_batch else ids[0],
        "message": (
            f"{len(ids)} transactions accepted for processing" if is_batch else "Transaction accepted for processing"
        ),
        "timestamp": ingested_at,
    }


async def handle_score(gw: Gateway, scope: Scope, receive: Receive) -> Reply:
    """Score on Triton now; record verdicts (and alerts) on Kafka for the audit trail; 200 with verdicts.

    The transactions are not put on the transactions topic (the consumer would score them again). The
    answer waits for the audit records' acknowledgement: an unrecorded decision is a 503, not a 200.
    """
    try:
        transactions, _ = await _validated(gw, scope, receive)
    except schema.Rejected as exc:
        return problem(exc.status, exc.detail)
    if gw.scoring is None:
        return problem(503, "scoring is disabled on this gateway (GATEWAY_SCORE_ENABLED=false)", "scoring", 60)
    schema.stamp(transactions, utc_now_rfc3339())
    start = time.perf_counter()
    try:
        verdicts = await gw.scoring.score(transactions)
    except ScoringUnavailable as exc:
        SCORE_REQUESTS.labels("triton_error").inc()
        throttled.warning("score", "/score: %s", exc)
        return problem(503, f"cannot score now: {exc}", "scoring", 1)
    span("score", time.perf_counter() - start)
    gw.warm.scored = True
    s = gw.settings
    audit: list[Outgoing] = []
    for verdict, tx in zip(verdicts, transactions, strict=True):
        key = str(verdict["transaction_id"]).encode()
        record = {**verdict, "source": "score"}
        audit.append((s.topic_verdicts, key, orjson.dumps({**record, "transaction": tx})))
        if verdict["is_fraud"]:
            audit.append((s.topic_alerts, key, orjson.dumps(build_alert(record, tx))))
    start = time.perf_counter()
    try:
        await gw.audit.send(audit)
    except ProduceFailed as exc:
        return _not_stored(exc, len(audit), gw, "score audit records")
    span("audit_ack", time.perf_counter() - start)
    gw.warm.produced = True
    SCORE_REQUESTS.labels("ok").inc()
    return Reply(200, orjson.dumps({"verdicts": verdicts}))


async def handle_labels(gw: Gateway, scope: Scope, receive: Receive) -> Reply:
    """Validate analyst labels (:mod:`taxifraud.labels`) and produce them to ``TOPIC_LABELS`` keyed by
    ``transaction_id`` (compacted: a later label replaces an earlier one); 202 only after the broker's ack.

    Same auth, body limit and batch limit (``GATEWAY_MAX_BATCH``) as ``POST /transactions``.
    """
    if not gw.authorized(scope):
        return problem(401, "missing or invalid X-API-Key")
    try:
        body = await read_body(scope, receive, gw.settings.gateway_max_body_bytes)
        labels, _ = parse_labels(body, gw.settings.gateway_max_batch)
    except schema.Rejected as exc:  # labels' own LabelRejected is one too
        return problem(exc.status, exc.detail)
    labelled_at = utc_now_rfc3339()
    records = [label_record(label, labelled_at) for label in labels]
    topic = gw.settings.topic_labels
    start = time.perf_counter()
    try:
        await gw.producer.send([(topic, r["transaction_id"].encode(), orjson.dumps(r)) for r in records])
    except ProduceFailed as exc:
        return _not_stored(exc, len(records), gw, "labels")
    span("produce_ack", time.perf_counter() - start)
    gw.warm.produced = True
    for record in records:
        LABELS_ACCEPTED.labels(record["label"]).inc()
    return Reply(
        202,
        orjson.dumps(
            {
                "accepted": len(records),
                "transaction_ids": [r["transaction_id"] for r in records],
                "labelled_at": labelled_at,
            }
        ),
    )


#: A write endpoint's handler: the raw ASGI request in, the reply out.
FastHandler = Callable[[Gateway, Scope, Receive], Awaitable[Reply]]


def overloaded(gw: Gateway) -> Reply:
    limit = gw.settings.gateway_max_concurrent_requests
    return problem(
        503,
        f"overloaded: {limit} requests already in progress (GATEWAY_MAX_CONCURRENT_REQUESTS); nothing was stored",
        "overloaded",
        RETRY_AFTER_OVERLOADED_S,
    )


async def serve(gw: Gateway, handler: FastHandler, scope: Scope, receive: Receive) -> Reply:
    """Run a write handler if there is room for one more request (see "Overload" above), else refuse it."""
    if gw.in_flight >= gw.settings.gateway_max_concurrent_requests:
        OVERLOADED.inc()
        throttled.warning("overloaded", "overloaded: %d requests in progress, refusing more", gw.in_flight)
        return overloaded(gw)
    gw.in_flight += 1
    try:
        return await handler(gw, scope, receive)
    finally:
        gw.in_flight -= 1
