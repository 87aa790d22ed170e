"""Decoding: the vectorized path equals ``wire.encode_rows``; poison messages are found and explained."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest

from consumer.decode import (
    ERROR_BAD_ID,
    ERROR_BAD_VALUE,
    ERROR_EMPTY,
    ERROR_MISSING,
    ERROR_NON_FINITE,
    ERROR_NOT_JSON,
    ERROR_NOT_OBJECT,
    FAST_PATH_MIN_ROWS,
    decode_batch,
    encode_fast,
    ingested_epochs,
)
from taxifraud import wire
from tests.consumer import harness


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    return harness.make_transactions(3000)


def test_fast_path_matches_encode_rows_on_real_samples(samples: list[dict[str, Any]]) -> None:
    fast = encode_fast(samples)
    assert fast is not None, "TLC samples must take the fast path"
    np.testing.assert_array_equal(fast, wire.encode_rows(samples))


def test_small_batches_decode_like_one_large_batch(samples: list[dict[str, Any]]) -> None:
    """Batches under FAST_PATH_MIN_ROWS go row by row; the rows must not depend on how messages were batched."""
    values = [orjson.dumps(tx) for tx in samples[:300]]
    whole = decode_batch(values)
    assert len(values) >= FAST_PATH_MIN_ROWS and encode_fast(samples[:300]) is not None  # the column-wise path
    sizes = [1, 2, 3, FAST_PATH_MIN_ROWS - 1, 5]
    parts, start = [], 0
    while start < len(values):
        size = sizes[len(parts) % len(sizes)]
        parts.append(decode_batch(values[start : start + size]))
        start += size
    np.testing.assert_array_equal(np.concatenate([d.rows for d in parts]), whole.rows)
    np.testing.assert_array_equal(np.concatenate([d.ingested_at for d in parts]), whole.ingested_at)


@pytest.mark.parametrize(
    "variant",
    [
        {"pickup_datetime": "2019-03-01T18:43:31", "dropoff_datetime": "2019-03-01T19:01:02"},
        {"pickup_datetime": "2019-03-01 23:59:59.500000", "dropoff_datetime": "2019-03-02 00:10:00.250000"},
        {"pickup_datetime": None, "dropoff_datetime": None, "duration_minutes": 12.5},
        {"duration_minutes": 7},  # explicit duration wins over the datetimes
        {"pickup_datetime": "2019-03-01T18:43:31Z", "dropoff_datetime": "2019-03-01T19:01:02Z"},  # per-row path
        {"pickup_datetime": "03/01/2019 06:43:31 PM", "dropoff_datetime": "03/01/2019 07:01:02 PM"},
        {"fare_amount": "12.5", "tip_amount": ""},  # strings for numbers: per-row path
        {"congestion_surcharge": None, "tolls_amount": 0},
    ],
)
def test_decode_equals_encode_rows_for_every_accepted_shape(
    samples: list[dict[str, Any]], variant: dict[str, Any]
) -> None:
    txs = [{**tx, **variant} for tx in samples[:200]]
    decoded = decode_batch([orjson.dumps(tx) for tx in txs])
    assert not decoded.poison
    np.testing.assert_array_equal(decoded.rows, wire.encode_rows(txs))
    assert [t["transaction_id"] for t in decoded.transactions] == [t["transaction_id"] for t in txs]


def good(**changes: Any) -> bytes:
    tx: dict[str, Any] = {
        "transaction_id": "t",
        "trip_distance": 2.0,
        "fare_amount": 9.5,
        "pickup_datetime": "2019-01-15 03:36:12",
        "dropoff_datetime": "2019-01-15 03:46:12",
    }
    tx.update(changes)
    return orjson.dumps({k: v for k, v in tx.items() if v is not ...})


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"not json", ERROR_NOT_JSON),
        (b"\xff\xfe", ERROR_NOT_JSON),
        (b"[1,2]", ERROR_NOT_OBJECT),
        (b"null", ERROR_NOT_OBJECT),
        (b"", ERROR_EMPTY),
        (None, ERROR_EMPTY),
        (good(trip_distance=...), ERROR_MISSING),
        (good(fare_amount=None), ERROR_MISSING),
        (good(pickup_datetime=...), ERROR_MISSING),
        (good(dropoff_datetime=""), ERROR_MISSING),
        (good(trip_distance="far"), ERROR_BAD_VALUE),
        (good(trip_distance=True), ERROR_BAD_VALUE),
        (good(fare_amount=[1]), ERROR_BAD_VALUE),
        (good(fare_amount={"usd": 1}), ERROR_BAD_VALUE),
        (good(pickup_datetime="yesterday"), ERROR_BAD_VALUE),
        (good(fare_amount="inf"), ERROR_NON_FINITE),
        (good(fare_amount="nan"), ERROR_MISSING),
        (good(transaction_id=5), ERROR_BAD_ID),
        (good(transaction_id=""), ERROR_BAD_ID),
    ],
)
def test_poison_is_classified_and_the_rest_of_the_batch_survives(value: bytes | None, kind: str) -> None:
    batch = [good(transaction_id="a"), value, good(transaction_id="b")]
    decoded = decode_batch(batch)
    assert [t["transaction_id"] for t in decoded.transactions] == ["a", "b"]
    assert decoded.index.tolist() == [0, 2]
    assert len(decoded.poison) == 1
    p = decoded.poison[0]
    assert (p.index, p.kind, p.stage) == (1, kind, "decode")
    assert p.error


def test_missing_field_message_names_the_field() -> None:
    decoded = decode_batch([good(fare_amount=...)])
    assert "fare_amount" in decoded.poison[0].error
    decoded = decode_batch([good(pickup_datetime=...)])
    assert "duration_minutes" in decoded.poison[0].error


def test_duration_alone_is_enough() -> None:
    decoded = decode_batch([good(pickup_datetime=..., dropoff_datetime=..., duration_minutes=4.0)])
    assert not decoded.poison
    assert math.isnan(decoded.rows[0, wire.COLUMN_INDEX["pickup_hour"]])


def test_missing_id_gets_a_deterministic_fallback() -> None:
    decoded = decode_batch([good(transaction_id=...)], fallback_id=lambda i: f"topic-0-{i + 40}")
    assert decoded.transactions[0]["transaction_id"] == "topic-0-40"
    assert decode_batch([good(transaction_id=...)]).poison[0].kind == ERROR_BAD_ID


def test_all_poison_and_empty_batches() -> None:
    decoded = decode_batch([b"x", b"y"])
    assert decoded.rows.shape == (0, wire.N_INPUT_COLUMNS)
    assert [p.index for p in decoded.poison] == [0, 1]
    empty = decode_batch([])
    assert empty.rows.shape == (0, wire.N_INPUT_COLUMNS) and not empty.poison


def test_ingested_at_epochs() -> None:
    got = ingested_epochs(["2026-11-28T11:50:00.123456Z", "2026-11-28T11:50:00", None, "garbage", 5])
    assert got[0] == pytest.approx(1795866600.123456)
    assert got[1] == pytest.approx(1795866600.0)
    assert np.isnan(got[2:]).all()
