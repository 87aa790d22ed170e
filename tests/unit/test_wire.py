"""The wire -> tensor mapping: one place, parsing only, NaN for missing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taxifraud import wire


def test_seed_body_encodes_three_fields_and_nan_elsewhere() -> None:
    row = wire.encode_rows([{"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}])[0]
    assert row.dtype == np.float32 and row.shape == (wire.N_INPUT_COLUMNS,)
    assert row[wire.COLUMN_INDEX["trip_distance"]] == 2.5
    assert row[wire.COLUMN_INDEX["fare_amount"]] == 12.5
    assert row[wire.COLUMN_INDEX["duration_minutes"]] == 15
    present = {wire.MODEL_INPUT_COLUMNS[i] for i in np.flatnonzero(~np.isnan(row))}
    assert present == {"trip_distance", "fare_amount", "duration_minutes"}


def test_datetimes_give_duration_hour_and_weekday() -> None:
    row = wire.encode_row(
        {
            "trip_distance": "1.1",
            "fare_amount": "6.0",
            "pickup_datetime": "2019-03-01 18:43:31",
            "dropoff_datetime": "2019-03-01 18:48:42",
        }
    )
    assert row[wire.COLUMN_INDEX["duration_minutes"]] == pytest.approx((4 * 60 + 71) / 60, abs=1e-4)
    assert row[wire.COLUMN_INDEX["pickup_hour"]] == pytest.approx(18 + 43 / 60, abs=1e-4)
    assert row[wire.COLUMN_INDEX["pickup_weekday"]] == 4  # 2019-03-01 was a Friday


def test_explicit_duration_wins_over_datetimes() -> None:
    row = wire.encode_row(
        {
            "trip_distance": 1,
            "fare_amount": 6,
            "duration_minutes": 3,
            "pickup_datetime": "2019-03-01T18:00:00Z",
            "dropoff_datetime": "2019-03-01T18:30:00Z",
        }
    )
    assert row[wire.COLUMN_INDEX["duration_minutes"]] == 3


def test_empty_strings_are_missing_and_garbage_raises() -> None:
    row = wire.encode_row({"trip_distance": "", "fare_amount": None, "payment_type": ""})
    assert math.isnan(row[wire.COLUMN_INDEX["trip_distance"]])
    with pytest.raises(ValueError):
        wire.encode_row({"trip_distance": "two miles", "fare_amount": 5})
    with pytest.raises(ValueError):
        wire.encode_row(
            {"trip_distance": 1, "fare_amount": 5, "pickup_datetime": "yesterday", "dropoff_datetime": "today"}
        )
    with pytest.raises(ValueError):
        wire.encode_row({"trip_distance": True, "fare_amount": 5})


def test_tlc_column_names_and_required_fields() -> None:
    tx = wire.normalize_keys({"tpep_pickup_datetime": "2019-01-01 00:00:00", "PULocationID": "5", "x": 1})
    assert tx == {"pickup_datetime": "2019-01-01 00:00:00", "pickup_location_id": "5", "x": 1}
    assert wire.missing_required({"trip_distance": 1, "fare_amount": 2, "duration_minutes": 3}) == []
    assert (
        wire.missing_required({"trip_distance": 1, "fare_amount": 2, "pickup_datetime": "a", "dropoff_datetime": "b"})
        == []
    )
    missing = wire.missing_required({"fare_amount": 2, "pickup_datetime": "a"})
    assert missing[0] == "trip_distance" and "duration_minutes" in missing[1]
