"""Every validation rule and limit of POST /transactions, answered before anything is produced.

These run against a gateway whose broker address is a closed port: a 422/413/401 must never depend on
the broker, and a valid body would show up as 503 here, which the tests would notice.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, make_settings

from gateway.app import create_app
from gateway.schema import WIRE_FIELDS, parse_transactions, stamp
from operations.embedded.process import free_port
from taxifraud import wire

FULL = {
    "transaction_id": "abc-123",
    "taxi_id": "5J23",
    "vendor_id": 2,
    "pickup_datetime": "2026-11-28 11:35:00",
    "dropoff_datetime": "2026-11-28 11:50:00",
    "passenger_count": 1,
    "trip_distance": 2.5,
    "duration_minutes": 15,
    "rate_code_id": 1,
    "store_and_fwd_flag": "N",
    "pickup_location_id": 161,
    "dropoff_location_id": 236,
    "payment_type": 1,
    "fare_amount": 12.5,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 3.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 0.3,
    "total_amount": 19.8,
    "congestion_surcharge": 2.5,
    "airport_fee": 0.0,
    "cbd_congestion_fee": 0.0,
}


def errors(resp: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    assert resp.status_code == 422, resp.text
    return [(tuple(e["loc"]), e["type"], e["msg"]) for e in resp.json()["detail"]]


def post_422(client: TestClient, body: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    return errors(client.post("/transactions", json=body))


def test_wire_fields_are_the_contract() -> None:
    expected = {
        "vendor_id", "pickup_datetime", "dropoff_datetime", "passenger_count", "trip_distance", "rate_code_id",
        "store_and_fwd_flag", "pickup_location_id", "dropoff_location_id", "payment_type", "fare_amount", "extra",
        "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge", "total_amount", "congestion_surcharge",
        "transaction_id", "duration_minutes", "taxi_id", "airport_fee", "cbd_congestion_fee",
    }  # fmt: skip
    assert set(WIRE_FIELDS) == expected == set(wire.WIRE_FIELDS)
    assert set(wire.NUMERIC_WIRE_FIELDS) <= expected


@pytest.mark.parametrize(
    ("field", "value", "type_"),
    [
        ("trip_distance", "2.5", "float_type"),
        ("trip_distance", True, "float_type"),
        ("trip_distance", None, "float_type"),
        ("fare_amount", [1], "float_type"),
        ("fare_amount", {"usd": 1}, "float_type"),
        ("duration_minutes", "15", "float_type"),
        ("passenger_count", "1", "int_type"),
        ("passenger_count", False, "int_type"),
        ("passenger_count", 1.5, "int_from_float"),
        ("pickup_location_id", "161", "int_type"),
        ("taxi_id", 5, "string_type"),
        ("transaction_id", 123, "string_type"),
        ("store_and_fwd_flag", "yes", "literal_error"),
        ("pickup_datetime", 1700000000, "string_type"),
    ],
)
def test_wrong_types_name_the_field(offline_client: TestClient, field: str, value: Any, type_: str) -> None:
    issues = post_422(offline_client, {**SEED_BODY, field: value})
    assert [(loc, t) for loc, t, _ in issues] == [(("body", field), type_)]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["trip_distance", "fare_amount", "duration_minutes", "tip_amount"])
def test_nan_and_infinity_rejected(offline_client: TestClient, field: str, literal: str) -> None:
    values = {"trip_distance": "2.5", "fare_amount": "12.5", "duration_minutes": "15", "tip_amount": "1"}
    values[field] = literal
    body = ("{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}").encode()
    resp = offline_client.post("/transactions", content=body, headers={"content-type": "application/json"})
    issues = errors(resp)
    assert issues == [(("body", field), "finite_number", "Input should be a finite number")]


@pytest.mark.parametrize("field", ["trip_distance", "fare_amount"])
def test_required_fields(offline_client: TestClient, field: str) -> None:
    body = dict(SEED_BODY)
    del body[field]
    assert post_422(offline_client, body) == [(("body", field), "missing", "Field required")]


def test_duration_or_both_datetimes_required(offline_client: TestClient) -> None:
    base = {"trip_distance": 2.5, "fare_amount": 12.5}
    for extra in ({}, {"pickup_datetime": "2026-11-28 11:35:00"}, {"dropoff_datetime": "2026-11-28 11:50:00"}):
        issues = post_422(offline_client, {**base, **extra})
        assert len(issues) == 1
        loc, type_, msg = issues[0]
        assert loc == ("body", "duration_minutes") and type_ == "missing"
        assert "pickup_datetime" in msg and "dropoff_datetime" in msg
    ok = {**base, "pickup_datetime": "2026-11-28 11:35:00", "dropoff_datetime": "2026-11-28 11:50:00"}
    assert parse_transactions(_json(ok), 10)[0][0]["dropoff_datetime"] == "2026-11-28 11:50:00"


def test_dropoff_before_pickup(offline_client: TestClient) -> None:
    body = {**SEED_BODY, "pickup_datetime": "2026-11-28T11:35:00", "dropoff_datetime": "2026-11-28T11:34:59"}
    loc, type_, msg = post_422(offline_client, body)[0]
    assert loc == ("body", "dropoff_datetime") and type_ == "order"
    assert "before pickup_datetime" in msg


def test_derived_duration_longer_than_a_day(offline_client: TestClient) -> None:
    body = {
        "trip_distance": 2.5,
        "fare_amount": 12.5,
        "pickup_datetime": "2026-11-28 11:35:00",
        "dropoff_datetime": "2026-11-29 11:35:01",
    }
    loc, type_, _ = post_422(offline_client, body)[0]
    assert loc == ("body", "dropoff_datetime") and type_ == "less_than_equal"


@pytest.mark.parametrize(
    "text", ["2026-11-28 11:35:00", "2026-11-28T11:35:00Z", "2026-11-28T11:35:00.123+01:00", "11/28/2026 11:35:00 AM"]
)
def test_accepted_datetime_formats(text: str) -> None:
    items, _ = parse_transactions(_json({**SEED_BODY, "pickup_datetime": text}), 10)
    assert items[0]["pickup_datetime"] == text
    assert wire.parse_datetime(text) is not None


@pytest.mark.parametrize(
    ("text", "type_"),
    [
        ("yesterday", "datetime_format"),
        ("1999-12-31 23:59:59", "datetime_range"),
        ("2101-01-01 00:00:00", "datetime_range"),
        ("", "datetime_format"),
    ],
)
def test_bad_datetimes(offline_client: TestClient, text: str, type_: str) -> None:
    assert [(loc, t) for loc, t, _ in post_422(offline_client, {**SEED_BODY, "pickup_datetime": text})] == [
        (("body", "pickup_datetime"), type_)
    ]


BOUNDS = [
    ("trip_distance", 0.0, 1000.0, -0.01, 1000.01),
    ("duration_minutes", 0.0, 1440.0, -0.5, 1440.5),
    ("fare_amount", -10_000.0, 10_000.0, -10_000.01, 10_000.01),
    ("tip_amount", -10_000.0, 10_000.0, -10_001, 10_001),
    ("total_amount", -10_000.0, 10_000.0, -20_000, 20_000),
    ("extra", -10_000.0, 10_000.0, -1e9, 1e9),
    ("mta_tax", -10_000.0, 10_000.0, -1e9, 1e9),
    ("tolls_amount", -10_000.0, 10_000.0, -1e9, 1e9),
    ("improvement_surcharge", -10_000.0, 10_000.0, -1e9, 1e9),
    ("congestion_surcharge", -10_000.0, 10_000.0, -1e9, 1e9),
    ("airport_fee", -10_000.0, 10_000.0, -1e9, 1e9),
    ("cbd_congestion_fee", -10_000.0, 10_000.0, -1e9, 1e9),
    ("passenger_count", 0, 9, -1, 10),
    ("vendor_id", 1, 99, 0, 100),
    ("payment_type", 0, 6, -1, 7),
    ("pickup_location_id", 1, 265, 0, 266),
    ("dropoff_location_id", 1, 265, 0, 266),
]


@pytest.mark.parametrize(("field", "lo", "hi", "below", "above"), BOUNDS)
def test_physical_sanity_bounds(
    offline_client: TestClient, field: str, lo: float, hi: float, below: float, above: float
) -> None:
    for value in (lo, hi):
        parse_transactions(_json({**SEED_BODY, field: value}), 10)  # inclusive bounds
    (loc, type_, msg), *_ = post_422(offline_client, {**SEED_BODY, field: below})
    assert loc == ("body", field) and type_ == "greater_than_equal" and "greater than or equal" in msg
    (loc, type_, msg), *_ = post_422(offline_client, {**SEED_BODY, field: above})
    assert loc == ("body", field) and type_ == "less_than_equal" and "less than or equal" in msg


def test_rate_code(offline_client: TestClient) -> None:
    for code in (1, 2, 3, 4, 5, 6, 99, 99.0):
        parse_transactions(_json({**SEED_BODY, "rate_code_id": code}), 10)
    for code in (0, 7, 98, 100):
        issues = post_422(offline_client, {**SEED_BODY, "rate_code_id": code})
        assert [(loc, t) for loc, t, _ in issues] == [(("body", "rate_code_id"), "rate_code")]
        assert "99" in issues[0][2]


def test_fraud_looking_input_is_valid() -> None:
    """Suspicious is not invalid: a $900 fare on one mile in one minute must reach the model."""
    trip = {"trip_distance": 1, "fare_amount": 900, "duration_minutes": 1, "tip_amount": 500, "total_amount": 1400.8}
    items, _ = parse_transactions(_json(trip), 10)
    assert items[0]["fare_amount"] == 900


def test_integral_floats_and_nulls_accepted() -> None:
    items, _ = parse_transactions(
        _json({**SEED_BODY, "passenger_count": 1.0, "payment_type": 2.0, "tip_amount": None, "taxi_id": None}), 10
    )
    assert items[0]["passenger_count"] == 1 and isinstance(items[0]["passenger_count"], int)
    assert items[0]["tip_amount"] is None


def test_unknown_fields_rejected_by_name(offline_client: TestClient) -> None:
    issues = post_422(offline_client, {**SEED_BODY, "fare": 3, "PULocation": 161, "ingested_at": "x"})
    assert sorted(loc for loc, _, _ in issues) == [("body", "PULocation"), ("body", "fare"), ("body", "ingested_at")]
    assert all(t == "extra_forbidden" and "Unknown field" in m for _, t, m in issues)


@pytest.mark.parametrize("value", ["", "has space", "x" * 65, "ünïcode", "a/b"])
def test_identifier_format(offline_client: TestClient, value: str) -> None:
    for field in ("taxi_id", "transaction_id"):
        issues = post_422(offline_client, {**SEED_BODY, field: value})
        assert [loc for loc, _, _ in issues] == [("body", field)]


def test_batch_errors_carry_the_index(offline_client: TestClient) -> None:
    body: list[Any] = [SEED_BODY, {**SEED_BODY, "fare_amount": "x"}, 7, {**SEED_BODY, "duration_minutes": None}]
    issues = post_422(offline_client, body)
    assert [loc for loc, _, _ in issues] == [
        ("body", 1, "fare_amount"),
        ("body", 2),
        ("body", 3, "duration_minutes"),
    ]


@pytest.mark.parametrize(
    ("raw", "type_"),
    [(b"", "json_invalid"), (b"{", "json_invalid"), (b"not json", "json_invalid"), (b"[]", "too_short"),
     (b"42", "model_attributes_type"), (b'"a"', "model_attributes_type"), (b"null", "model_attributes_type"),
     (b"[" * 5000 + b"]" * 5000, "json_invalid")],
)  # fmt: skip
def test_malformed_bodies(offline_client: TestClient, raw: bytes, type_: str) -> None:
    resp = offline_client.post("/transactions", content=raw, headers={"content-type": "application/json"})
    issues = errors(resp)
    assert issues[0][0] == ("body",) and issues[0][1] == type_


def test_batch_limit_is_413() -> None:
    settings = make_settings(f"127.0.0.1:{free_port()}", gateway_max_batch=5)
    with TestClient(create_app(settings)) as client:
        resp = client.post("/transactions", json=[SEED_BODY] * 6)
        assert resp.status_code == 413
        assert "GATEWAY_MAX_BATCH=5" in resp.json()["detail"]
        assert client.post("/score", json=[SEED_BODY] * 6).status_code == 413


def test_body_limit_is_413() -> None:
    settings = make_settings(f"127.0.0.1:{free_port()}", gateway_max_body_bytes=2048)
    with TestClient(create_app(settings)) as client:
        big = [SEED_BODY] * 100  # ~7 KB
        resp = client.post("/transactions", json=big)
        assert resp.status_code == 413
        assert "GATEWAY_MAX_BODY_BYTES=2048" in resp.json()["detail"]

        def chunks() -> Any:  # no Content-Length: the limit must hold while streaming
            yield b"["
            for _ in range(200):
                yield b'{"trip_distance": 2.5, "fare_amount": 12.5, "duration_minutes": 15},'
            yield b"{}]"

        resp = client.post("/transactions", content=chunks(), headers={"content-type": "application/json"})
        assert resp.status_code == 413


def test_stamp_and_reparse() -> None:
    """What goes on the topic is re-parseable by encode_rows, with ids and RFC 3339 micro timestamps."""
    items, is_batch = parse_transactions(_json([FULL, SEED_BODY]), 10)
    assert is_batch
    ids = stamp(items, "2026-11-28T11:50:00.123456Z")
    assert ids[0] == "abc-123"
    assert uuid.UUID(hex=ids[1]).version == 4 and uuid.UUID(hex=ids[1]).hex == ids[1]
    rows = wire.encode_rows(items)
    assert rows.shape == (2, wire.N_INPUT_COLUMNS)
    col = wire.COLUMN_INDEX
    assert rows[0, col["fare_amount"]] == pytest.approx(12.5)
    assert rows[0, col["duration_minutes"]] == pytest.approx(15)
    assert rows[0, col["pickup_hour"]] == pytest.approx(11 + 35 / 60)
    assert np.isnan(rows[1, col["pickup_hour"]]) and rows[1, col["trip_distance"]] == pytest.approx(2.5)


def _json(obj: Any) -> bytes:
    import orjson

    return orjson.dumps(obj)
