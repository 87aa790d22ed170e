"""Property tests of the validation layer, in-process (thousands of cases in seconds).

1. Any JSON at all gets either accepted or a clean :class:`Rejected` (422/413), never another exception.
2. Every transaction inside the documented bounds is accepted, survives the trip through the wire format
   unchanged, and encodes into the model's input tensor.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.schema import RATE_CODES, Rejected, kafka_key, parse_transactions, stamp
from taxifraud import wire

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=25), children, max_size=8),
    max_leaves=30,
)
FIELD_NAMES = st.sampled_from(
    ["trip_distance", "fare_amount", "duration_minutes", "pickup_datetime", "dropoff_datetime", "tip_amount",
     "passenger_count", "rate_code_id", "payment_type", "taxi_id", "transaction_id", "store_and_fwd_flag", "x",
     "PULocationID", "pickup_location_id", "Airport_fee", "airport_fee", "RATECODEID", "tpep_pickup_datetime"]
)  # fmt: skip
NEAR_MISS = st.dictionaries(FIELD_NAMES, JSON, max_size=10)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(JSON, NEAR_MISS, st.lists(NEAR_MISS, max_size=4)))
def test_any_json_is_accepted_or_cleanly_rejected(doc: Any) -> None:
    body = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if _finite(doc) else repr(doc).encode()
    try:
        items, _ = parse_transactions(body, max_batch=3)
    except Rejected as exc:
        assert exc.status in (413, 422)
        if exc.status == 422:
            assert isinstance(exc.detail, list) and exc.detail
            assert all(issue["loc"][0] == "body" and issue["msg"] for issue in exc.detail)
        return
    assert 1 <= len(items) <= 3
    wire.encode_rows(items)  # whatever was accepted, the consumer can encode


def _finite(doc: Any) -> bool:
    if isinstance(doc, float):
        return math.isfinite(doc)
    if isinstance(doc, list):
        return all(_finite(d) for d in doc)
    if isinstance(doc, dict):
        return all(_finite(v) for v in doc.values())
    return not isinstance(doc, int) or abs(doc) < 2**63


def money() -> st.SearchStrategy[float]:
    return st.floats(-10_000, 10_000, allow_nan=False)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


TIMES = st.datetimes(min_value=datetime(2009, 1, 1), max_value=datetime(2099, 12, 31))
IDENT = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-", min_size=1, max_size=64)


@st.composite
def transactions(draw: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "trip_distance": draw(st.floats(0, 1000, allow_nan=False)),
        "fare_amount": draw(money()),
    }
    if draw(st.booleans()):
        pickup = draw(TIMES).replace(microsecond=0)
        minutes = draw(st.floats(0, 1440))
        tx["pickup_datetime"] = pickup.strftime("%Y-%m-%d %H:%M:%S")
        tx["dropoff_datetime"] = (pickup + timedelta(minutes=int(minutes))).isoformat()
        if draw(st.booleans()):
            tx["duration_minutes"] = minutes
    else:
        tx["duration_minutes"] = draw(st.floats(0, 1440))
    optional = {
        "extra": maybe(money()),
        "tip_amount": maybe(money()),
        "total_amount": maybe(money()),
        "passenger_count": maybe(st.integers(0, 9)),
        "vendor_id": maybe(st.integers(1, 99)),
        "rate_code_id": maybe(st.sampled_from(RATE_CODES)),
        "payment_type": maybe(st.integers(0, 6)),
        "pickup_location_id": maybe(st.integers(1, 265)),
        "store_and_fwd_flag": maybe(st.sampled_from(["Y", "N"])),
        "taxi_id": maybe(IDENT),
        "transaction_id": maybe(IDENT),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            tx[name] = draw(strategy)
    return tx


@settings(max_examples=400, deadline=None)
@given(st.lists(transactions(), min_size=1, max_size=5))
def test_valid_transactions_round_trip(batch: list[dict[str, Any]]) -> None:
    items, is_batch = parse_transactions(orjson.dumps(batch), max_batch=5)
    assert is_batch and len(items) == len(batch)
    ids = stamp(items, "2026-11-28T11:50:00.123456Z")
    on_topic = [orjson.loads(orjson.dumps(tx)) for tx in items]  # what the consumer reads back
    for sent, got, tid in zip(batch, on_topic, ids, strict=True):
        assert got["transaction_id"] == (sent.get("transaction_id") or tid)
        assert kafka_key(got) == str(sent.get("taxi_id") or tid).encode()
        for name, value in sent.items():
            if name != "transaction_id" or value:
                assert got[name] == value, name
    rows = wire.encode_rows(on_topic)
    assert rows.shape == (len(batch), wire.N_INPUT_COLUMNS)
    assert not math.isnan(rows[:, wire.COLUMN_INDEX["duration_minutes"]].sum())
