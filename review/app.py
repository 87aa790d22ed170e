"""The review service's HTTP app: the page, the label form's target, ``/metrics``, health.

``GET /``
    The newest alerts (``?family=`` one reason family, ``?status=unreviewed|all|labelled``), the labelled
    precision per window and the unreviewed share (:mod:`review.page`).
``POST /label`` (form: ``transaction_id``, ``label``, optional ``analyst``, ``note``, ``back``)
    Validated like the gateway's ``POST /labels`` (:mod:`taxifraud.labels`), produced to the compacted
    ``TOPIC_LABELS``; the browser is sent back to the page (303) only after the broker's ack, else 503.
    The analyst is the ``analyst`` field, else the ``X-Forwarded-User`` header of an SSO proxy in front.
``GET /api/alerts``
    The same rows as JSON, for scripts.
``GET /healthz``, ``GET /readyz``, ``GET /metrics``
    Liveness; readiness (the backlog of both topics has been read); the quality gauges (:mod:`review.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from confluent_kafka import KafkaError, Message, Producer
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from review.follower import Follower
from review.metrics import QualityCollector
from review.page import STATUSES, render_error, render_page
from review.settings import Settings, load_settings
from review.state import ReviewState
from taxifraud.kafka import producer_config
from taxifraud.labels import LabelRejected, label_record, validate_labels
from taxifraud.logs import configure_logging
from taxifraud.verdicts import utc_now_rfc3339

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 16_384


class LabelNotStored(RuntimeError):
    """The broker did not acknowledge the label in time."""


class LabelWriter:
    """Produces one label and waits for the broker's ack (analyst clicks are few: no batching needed)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = Producer(producer_config(settings, **{"client.id": "taxifraud-review", "linger.ms": 0}))

    def _write(self, record: dict[str, Any]) -> None:
        result: list[KafkaError | None] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            result.append(err)

        self.producer.produce(
            self.settings.topic_labels, orjson.dumps(record), record["transaction_id"].encode(), on_delivery=on_delivery
        )
        self.producer.flush(self.settings.review_label_timeout_s)
        if not result:
            raise LabelNotStored(f"the broker did not acknowledge within {self.settings.review_label_timeout_s:g}s")
        if result[0] is not None:
            raise LabelNotStored(str(result[0]))

    async def write(self, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, record)

    def close(self) -> None:
        self.producer.flush(self.settings.review_label_timeout_s)


@dataclass
class Service:
    settings: Settings
    state: ReviewState
    follower: Follower
    writer: LabelWriter
    registry: CollectorRegistry


def _service(request: Request) -> Service:
    service: Service = request.app.state.review
    return service


def _filters(request: Request) -> tuple[str | None, str]:
    family = request.query_params.get("family") or None
    status = request.query_params.get("status", "unreviewed")
    return family, status if status in STATUSES else "unreviewed"


async def page(request: Request) -> Response:
    svc = _service(request)
    family, status = _filters(request)
    rows = svc.state.rows(family, status, svc.settings.review_page_size)
    html = render_page(rows, svc.state.quality(), svc.state.families(), family, status, request.query_params.get("msg"))
    return HTMLResponse(html)


async def alerts_json(request: Request) -> Response:
    svc = _service(request)
    family, status = _filters(request)
    rows = svc.state.rows(family, status, svc.settings.review_page_size)
    body = [
        {
            "transaction_id": r.alert.transaction_id,
            "score": r.alert.score,
            "threshold": r.alert.threshold,
            "reasons": list(r.alert.reasons),
            "family": r.alert.family,
            "model_version": r.alert.model_version,
            "scored_at": r.alert.scored_at,
            "transaction": dict(r.alert.transaction),
            "label": None if r.label is None else r.label.label,
        }
        for r in rows
    ]
    return Response(orjson.dumps(body), media_type="application/json")


def _safe_back(value: str | None) -> str:
    """Only a path of this service (never another site) is a place to send the browser back to."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def post_label(request: Request) -> Response:
    svc = _service(request)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return HTMLResponse(render_error(413, f"form above {MAX_FORM_BYTES} bytes"), status_code=413)
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=False).items()}
    back = _safe_back(form.pop("back", None))
    if "analyst" not in form and request.headers.get("x-forwarded-user"):
        form["analyst"] = request.headers["x-forwarded-user"]
    try:
        [label], _ = validate_labels(form, 1)
    except LabelRejected as exc:
        detail = (
            exc.detail if isinstance(exc.detail, str) else "; ".join(f"{i['loc'][-1]}: {i['msg']}" for i in exc.detail)
        )
        return HTMLResponse(render_error(exc.status, detail), status_code=exc.status)
    record = label_record(label, utc_now_rfc3339())
    try:
        await svc.writer.write(record)
    except LabelNotStored as exc:
        log.warning("label of %s not stored: %s", record["transaction_id"], exc)
        return HTMLResponse(render_error(503, f"label not stored, try again: {exc}"), status_code=503)
    svc.state.add_label(record)  # shown at once; the follower reads the same record back from the topic
    return RedirectResponse(back, status_code=303)


async def healthz() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


async def readyz(request: Request) -> Response:
    svc = _service(request)
    ready = svc.follower.caught_up.is_set()
    body = {
        "status": "ready" if ready else "reading backlog",
        "alerts_read": svc.state.alerts_read,
        "labels_read": svc.state.labels_read,
    }
    return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json")


async def metrics(request: Request) -> Response:
    return Response(generate_latest(_service(request).registry), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The review app; settings are read from the environment at start-up when not given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings if settings is not None else load_settings()
        state = ReviewState(s.review_max_alerts)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(QualityCollector(state))
        follower = Follower(s, state).start()
        writer = LabelWriter(s)
        app.state.review = Service(s, state, follower, writer, registry)
        log.info(
            "review up: broker %s, alerts %s, labels %s", s.kafka_bootstrap_servers, s.topic_alerts, s.topic_labels
        )
        try:
            yield
        finally:
            follower.stop()
            writer.close()

    app = FastAPI(title="taxifraud review", version="1.0", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.add_api_route("/", page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/label", post_label, methods=["POST"])
    app.add_api_route("/api/alerts", alerts_json, methods=["GET"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    return app


def run(settings: Settings) -> None:
    """Serve the review app with uvicorn until SIGTERM/SIGINT."""
    import uvicorn

    from taxifraud.lifecycle import die_with_parent_if_asked

    configure_logging(settings.review_log_level)
    die_with_parent_if_asked()
    uvicorn.run(
        create_app(settings),
        host=settings.review_host,
        port=settings.review_port,
        log_level=settings.review_log_level.lower(),
        access_log=False,
    )
