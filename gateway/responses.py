"""The shapes the gateway answers with and the examples it shows, for the OpenAPI document only.

Responses themselves are built as ``orjson`` bytes by the handlers (:mod:`gateway.handlers`); these
models describe them exactly, so ``/docs`` and generated clients see the real contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

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
    reason: str | None = Field(
        None, description="503 only: timeout, queue_full, broker_error, authentication, scoring, overloaded"
    )


class ReasonDetail(BaseModel):
    family: str = Field(description="what kind of evidence: fare, speed, total, tolls, surcharge, route, rate, ...")
    text: str = Field(description="the reason as a sentence (the same as in `reasons`)")
    evidence: dict[str, float | str] = Field(description="the feature, its rarity and the fields it read")


class Verdict(BaseModel):
    transaction_id: str
    is_fraud: bool
    score: float
    threshold: float
    reasons: list[str]
    reason_details: list[ReasonDetail] = Field(default_factory=list, description="the reasons, structured")
    model_version: str
    ingested_at: str
    scored_at: str


class LabelsAccepted(BaseModel):
    accepted: int = Field(description="labels stored by the broker")
    transaction_ids: list[str] = Field(description="the labelled transactions, in request order")
    labelled_at: str = Field(description="the labels' timestamp, RFC 3339 UTC")


class Scored(BaseModel):
    verdicts: list[Verdict] = Field(description="in request order")


#: The error answers every write endpoint may give.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or invalid X-API-Key (only when GATEWAY_API_KEYS is set)"},
    413: {"model": Problem, "description": "body above GATEWAY_MAX_BODY_BYTES or batch above GATEWAY_MAX_BATCH"},
    422: {"model": Problem, "description": "invalid transaction(s); detail names each field and rule"},
    503: {
        "model": Problem,
        "description": (
            "not stored / not scored: broker or Triton unavailable, or overloaded; retry after Retry-After seconds"
        ),
    },
}
