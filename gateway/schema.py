"""Validation of incoming transactions: the gateway's only defence of the wire format.

Why these rules
---------------
The model reads whatever reaches the ``transactions`` topic, so the gateway rejects what cannot be a taxi
trip *as data* (wrong JSON types, NaN/Infinity, impossible magnitudes, dropoff before pickup) and lets
through everything that is merely *unusual*: a $900 fare on a 1-mile trip is valid input and must be
scored, because catching it is the model's job, not a validation rule's. The numeric bounds below are
therefore physical-sanity type checks, deliberately loose:

============================  ===========================================================
field                         accepted
============================  ===========================================================
trip_distance (required)      number, 0 .. 1000 miles
fare_amount (required)        number, -10,000 .. 10,000 $ (negative: TLC refunds/voids)
extra, mta_tax, tip_amount,   number or null, -10,000 .. 10,000 $
tolls_amount,
improvement_surcharge,
total_amount,
congestion_surcharge,
airport_fee,
cbd_congestion_fee
duration_minutes              number or null, 0 .. 1440 (24 h)
pickup/dropoff_datetime       string or null: ISO 8601 / RFC 3339, or TLC ``YYYY-MM-DD HH:MM:SS``,
                              ``MM/DD/YYYY HH:MM:SS AM``; year 2000 .. 2100; local (meter) time
passenger_count               integer or null, 0 .. 9 (TLC's Parquet ``1.0`` is an integer)
vendor_id                     integer or null, 1 .. 99
rate_code_id                  integer or null, one of 1 .. 6 or 99 (TLC: 99 = unknown)
payment_type                  integer or null, 0 .. 6 (TLC codes; 0 = flex fare)
pickup/dropoff_location_id    integer or null, 1 .. 265 (TLC taxi zones; 264/265 unknown)
store_and_fwd_flag            "Y", "N" or null
transaction_id                string or null, 1 .. 64 of ``A-Z a-z 0-9 . _ : -``; uuid4 hex if absent
taxi_id                       string or null, same alphabet; the Kafka key when present
============================  ===========================================================

Cross-field rules: ``duration_minutes`` is required unless both datetimes are given (then it is
derived by :func:`taxifraud.wire.encode_rows`); when both datetimes are given, dropoff must not be
before pickup, and a derived duration must be at most 1440 minutes.

Types are strict: a number must be a JSON number (``"12.5"`` and ``true`` are rejected), an integer field
also accepts an integral float such as ``1.0`` (what TLC's Parquet files and pandas write for nullable
integer columns such as ``passenger_count`` and ``RatecodeID``). A timestamp is text: TLC's CSV text
``2025-02-01 00:12:34``, or ISO 8601 as a JSON encoder writes a Parquet timestamp
(``2025-02-01T00:12:34``, ``2025-02-01T00:12:34.000``); epoch numbers are rejected, their unit and zone
being a guess.

Field names: every wire name above, or TLC's own column name for it, in any case (the record exactly as
TLC writes it, 2018 to today):

==========================  ==================================================
TLC column                  wire field
==========================  ==================================================
``VendorID``                ``vendor_id``
``tpep_pickup_datetime``    ``pickup_datetime`` (``lpep_`` too)
``tpep_dropoff_datetime``   ``dropoff_datetime`` (``lpep_`` too)
``RatecodeID``              ``rate_code_id``
``PULocationID``            ``pickup_location_id``
``DOLocationID``            ``dropoff_location_id``
``Airport_fee``             ``airport_fee``
==========================  ==================================================

(TLC's other columns already have their wire name.) :func:`to_wire_names` renames them before validation,
so what is produced to Kafka always carries wire names, and an error names the key as the client sent it.
A record that gives one field under two spellings (``PULocationID`` and ``pickup_location_id``) is
rejected with a 422 naming both, since which value is meant cannot be known.

Unknown fields are **rejected** (422 naming each one): a typo such as ``fare`` for ``fare_amount`` would
otherwise reach the model as a silently missing feature. ``ingested_at`` is server-owned and is rejected
too. ``null`` means "missing" (NaN for the model) for every optional field.

A body is one transaction object or a non-empty JSON array of them (at most ``GATEWAY_MAX_BATCH``, else
413). Errors come back as ``{"detail": [{"loc": ["body", <index>, <field>], "msg": ..., "type": ...}]}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError, from_json
from typing_extensions import Required, TypedDict

from taxifraud import wire
from taxifraud.rejection import Rejected
from taxifraud.rejection import issue as _issue

MAX_REPORTED_ERRORS = 50
MAX_AMOUNT = 10_000.0
MAX_DISTANCE_MILES = 1000.0
MAX_DURATION_MINUTES = 1440.0
RATE_CODES = (1, 2, 3, 4, 5, 6, 99)
MIN_YEAR, MAX_YEAR = 2000, 2100
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]+$"


def _integral(value: Any) -> Any:
    """Accept JSON integers and integral floats (``1.0``); reject strings, booleans and fractions."""
    if type(value) is int:  # the common case first, before the checks below (bool is not exactly int)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be an integer (a JSON number)")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "Input should be a whole number, got {value}", {"value": value})
        return int(value)
    return value


def _rate_code(value: int) -> int:
    if value not in RATE_CODES:
        raise PydanticCustomError("rate_code", "Input should be one of 1, 2, 3, 4, 5, 6 or 99 (TLC rate codes)")
    return value


def _timestamp(value: str) -> str:
    """Check that the text parses exactly as the consumer will parse it; keep the original text."""
    try:
        parsed = wire.parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise PydanticCustomError(
            "datetime_format",
            "Input should be an ISO 8601 timestamp or TLC 'YYYY-MM-DD HH:MM:SS' / 'MM/DD/YYYY HH:MM:SS AM'",
        )
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise PydanticCustomError(
            "datetime_range", "Year should be between {lo} and {hi}", {"lo": MIN_YEAR, "hi": MAX_YEAR}
        )
    return value


Amount = Annotated[float, Strict(), Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False, description="US dollars")]
Distance = Annotated[
    float, Strict(), Field(ge=0.0, le=MAX_DISTANCE_MILES, allow_inf_nan=False, description="miles on the meter")
]
Duration = Annotated[
    float,
    Strict(),
    Field(
        ge=0.0,
        le=MAX_DURATION_MINUTES,
        allow_inf_nan=False,
        description="minutes; derived from the datetimes when absent",
    ),
]
Timestamp = Annotated[
    str,
    Strict(),
    Field(max_length=40, description="meter-local time, ISO 8601 or TLC format", examples=["2026-11-28 11:50:00"]),
    AfterValidator(_timestamp),
]
Identifier = Annotated[str, Strict(), Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
VendorId = Annotated[int, Field(ge=1, le=99, description="TLC vendor"), BeforeValidator(_integral)]
Passengers = Annotated[int, Field(ge=0, le=9), BeforeValidator(_integral)]
PaymentType = Annotated[int, Field(ge=0, le=6, description="TLC payment type"), BeforeValidator(_integral)]
LocationId = Annotated[int, Field(ge=1, le=265, description="TLC taxi zone"), BeforeValidator(_integral)]
RateCode = Annotated[
    int, Field(json_schema_extra={"enum": list(RATE_CODES)}), BeforeValidator(_integral), AfterValidator(_rate_code)
]

_SCHEMA_EXTRA: dict[str, Any] = {
    # Documented for clients and fuzzers; enforced by check_trip() with a message naming the fields.
    "anyOf": [{"required": ["duration_minutes"]}, {"required": ["pickup_datetime", "dropoff_datetime"]}],
    "examples": [
        {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15},
        {
            "taxi_id": "5J23",
            "vendor_id": 2,
            "pickup_datetime": "2026-11-28 11:35:00",
            "dropoff_datetime": "2026-11-28 11:50:00",
            "passenger_count": 1,
            "trip_distance": 2.5,
            "rate_code_id": 1,
            "pickup_location_id": 161,
            "dropoff_location_id": 236,
            "payment_type": 1,
            "fare_amount": 12.5,
            "tip_amount": 3.0,
            "total_amount": 19.8,
        },
    ],
}


@with_config(ConfigDict(extra="forbid", title="Transaction", json_schema_extra=_SCHEMA_EXTRA))
class Transaction(TypedDict, total=False):
    """One taxi trip payment under its wire names. TLC's own column names (`VendorID`, `PULocationID`,
    `Airport_fee`, ..., in any case) are accepted too and renamed; a field sent under two names is a 422.
    Rules: the gateway README, "Validation"."""

    transaction_id: Identifier | None
    taxi_id: Identifier | None
    vendor_id: VendorId | None
    pickup_datetime: Timestamp | None
    dropoff_datetime: Timestamp | None
    passenger_count: Passengers | None
    trip_distance: Required[Distance]
    duration_minutes: Duration | None
    rate_code_id: RateCode | None
    store_and_fwd_flag: Literal["Y", "N"] | None
    pickup_location_id: LocationId | None
    dropoff_location_id: LocationId | None
    payment_type: PaymentType | None
    fare_amount: Required[Amount]
    extra: Amount | None
    mta_tax: Amount | None
    tip_amount: Amount | None
    tolls_amount: Amount | None
    improvement_surcharge: Amount | None
    total_amount: Amount | None
    congestion_surcharge: Amount | None
    airport_fee: Amount | None
    cbd_congestion_fee: Amount | None


WIRE_FIELDS: tuple[str, ...] = tuple(Transaction.__annotations__)
_WIRE_KEYS = frozenset(WIRE_FIELDS)
#: TLC's spellings as TLC (or a lower-casing copy) writes them, looked up before the any-case rule.
_SPELLINGS = {**wire.TLC_ALIASES, **{k.lower(): v for k, v in wire.TLC_ALIASES.items()}, **{w: w for w in WIRE_FIELDS}}

ONE = TypeAdapter(Transaction)


def transaction_schema() -> dict[str, Any]:
    """JSON schema of one transaction, for the OpenAPI document."""
    return ONE.json_schema(ref_template="#/components/schemas/{model}")


def _datetime(value: Any) -> datetime | None:
    return wire.parse_datetime(value) if value else None


def check_trip(tx: Mapping[str, Any], loc: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Cross-field rules that a per-field schema cannot express; returns issues (empty when fine)."""
    pickup = _datetime(tx.get("pickup_datetime"))
    dropoff = _datetime(tx.get("dropoff_datetime"))
    has_duration = tx.get("duration_minutes") is not None
    issues = []
    if not has_duration and (pickup is None or dropoff is None):
        issues.append(
            _issue(
                (*loc, "duration_minutes"),
                "Field required: give duration_minutes, or both pickup_datetime and dropoff_datetime",
                "missing",
            )
        )
    if pickup is not None and dropoff is not None:
        minutes = (dropoff - pickup).total_seconds() / 60.0
        if minutes < 0:
            issues.append(
                _issue((*loc, "dropoff_datetime"), "dropoff_datetime should not be before pickup_datetime", "order")
            )
        elif not has_duration and minutes > MAX_DURATION_MINUTES:
            issues.append(
                _issue(
                    (*loc, "dropoff_datetime"),
                    f"trip from pickup_datetime to dropoff_datetime should be at most {MAX_DURATION_MINUTES:g} minutes",
                    "less_than_equal",
                )
            )
    return issues


_UNKNOWN_FIELD = "Unknown field: not part of the transaction wire format (see the Transaction schema)"


def to_wire_names(raw: dict[str, Any], loc: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, str], list[Any]]:
    """Rename TLC's column names (any case) to wire names; returns (record, wire name -> key sent, issues).

    Called only for a record with a key that is not a wire name, so records that already use wire names
    pay nothing but one set comparison. Keys that are neither pass through unchanged, for the schema to
    reject as unknown; a field given under two spellings becomes a ``duplicate_field`` issue naming both.
    """
    out: dict[str, Any] = {}
    sent_as: dict[str, str] = {}
    issues = []
    for key, value in raw.items():
        name = _SPELLINGS.get(key) or wire.wire_name(key)
        if name in out:
            first = sent_as.get(name, name)
            issues.append(
                _issue(
                    (*loc, key),
                    f"{first!r} and {key!r} are two spellings of the field {name!r}: send it once",
                    "duplicate_field",
                )
            )
            continue
        out[name] = value
        if name != key:
            sent_as[name] = key
    return out, sent_as, issues


def _pydantic_issues(
    exc: ValidationError, prefix: tuple[Any, ...] = (), sent_as: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    issues = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = err["loc"]
        if sent_as and loc and loc[0] in sent_as:  # name the key as the client spelled it
            loc = (sent_as[str(loc[0])], *loc[1:])
        msg = _UNKNOWN_FIELD if err["type"] == "extra_forbidden" else err["msg"]
        issues.append(_issue((*prefix, *loc), msg, err["type"]))
    return issues


def parse_transactions(body: bytes, max_batch: int) -> tuple[list[dict[str, Any]], bool]:
    """Decode and validate a request body; returns the transactions and whether the body was an array.

    Raises :class:`Rejected` (422 for invalid data, 413 for a batch above ``max_batch``). NaN and
    Infinity literals are let through the JSON decoder on purpose, so that the field validator can
    reject them with a message naming the field rather than a bare syntax error.
    """
    try:
        data = from_json(body, allow_inf_nan=True)
    except ValueError as exc:
        raise Rejected(422, [_issue((), f"Invalid JSON: {exc}", "json_invalid")]) from None
    if isinstance(data, dict):
        sent_as: dict[str, str] = {}
        renamed: list[Any] = []
        if not _WIRE_KEYS.issuperset(data):  # TLC's column names, or unknown keys for the schema to name
            data, sent_as, renamed = to_wire_names(data, ())
        try:
            items = [ONE.validate_python(data)]
        except ValidationError as exc:
            raise Rejected(422, (renamed + _pydantic_issues(exc, (), sent_as))[:MAX_REPORTED_ERRORS]) from None
        issues = renamed + check_trip(items[0], ())
        is_batch = False
    elif isinstance(data, list):
        if not data:
            raise Rejected(422, [_issue((), "Batch should contain at least 1 transaction", "too_short")])
        if len(data) > max_batch:
            raise Rejected(413, f"batch of {len(data)} transactions exceeds GATEWAY_MAX_BATCH={max_batch}")
        # Item by item, so that the cross-field rules of valid items are reported with the field errors.
        items = []
        issues = []
        for i, raw in enumerate(data):
            sent_as = {}
            if type(raw) is dict and not _WIRE_KEYS.issuperset(raw):  # TLC's names (see to_wire_names)
                raw, sent_as, renamed = to_wire_names(raw, (i,))
                issues.extend(renamed)
            try:
                tx = ONE.validate_python(raw)
            except ValidationError as exc:
                issues.extend(_pydantic_issues(exc, (i,), sent_as))
                continue
            items.append(tx)
            issues.extend(check_trip(tx, (i,)))
        is_batch = True
    else:
        raise Rejected(
            422, [_issue((), "Input should be a transaction object or an array of them", "model_attributes_type")]
        )
    if issues:
        raise Rejected(422, issues[:MAX_REPORTED_ERRORS])
    return items, is_batch  # type: ignore[return-value]


def new_transaction_id() -> str:
    """A random (version 4) UUID as 32 hex digits, without ``uuid.UUID``'s slow pure-Python constructor."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def stamp(transactions: list[dict[str, Any]], ingested_at: str) -> list[str]:
    """Give each transaction its id (kept if the client sent one) and the ingestion time; returns the ids."""
    ids = []
    for tx in transactions:
        tid = tx.get("transaction_id") or new_transaction_id()
        tx["transaction_id"] = tid
        tx["ingested_at"] = ingested_at
        ids.append(tid)
    return ids


def kafka_key(tx: Mapping[str, Any]) -> bytes:
    """Partition key: the taxi (so one taxi's events stay ordered), else the transaction itself."""
    return str(tx.get("taxi_id") or tx["transaction_id"]).encode()
