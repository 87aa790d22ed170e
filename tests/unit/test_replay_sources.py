"""Replay reads TLC files as they come (CSV or Parquet, TLC's own column names or ours) and labels injected fraud."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import orjson
import pytest

from gateway.schema import parse_transactions
from operations.replay import LabelledTrips, trip_source
from operations.trip_files import read_trips
from taxifraud import wire
from tests.recent_files import RECENT_FILES, recent_file

TLC_ROW = {
    "VendorID": "2",
    "tpep_pickup_datetime": "2019-03-20 16:30:11",
    "tpep_dropoff_datetime": "2019-03-20 16:44:49",
    "passenger_count": "1",
    "trip_distance": "2.63",
    "RatecodeID": "1",
    "store_and_fwd_flag": "N",
    "PULocationID": "231",
    "DOLocationID": "88",
    "payment_type": "1",
    "fare_amount": "12.5",
    "extra": "1.0",
    "mta_tax": "0.5",
    "tip_amount": "3.36",
    "tolls_amount": "0.0",
    "improvement_surcharge": "0.3",
    "total_amount": "20.16",
    "congestion_surcharge": "",
}


def _expected_row() -> np.ndarray:
    return wire.encode_row(wire.normalize_keys(TLC_ROW))


def test_csv_with_tlc_names(tmp_path: Path) -> None:
    path = tmp_path / "trips.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(TLC_ROW))
        writer.writeheader()
        writer.writerow(TLC_ROW)
    (trip,) = list(read_trips(path))
    assert trip["pickup_location_id"] == 231.0 and trip["pickup_datetime"] == "2019-03-20 16:30:11"
    assert "congestion_surcharge" not in trip, "empty cells are left out, as a client would"
    np.testing.assert_array_equal(wire.encode_row(trip), _expected_row())


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from datetime import datetime

    table = pa.table(
        {
            "VendorID": [2],
            "tpep_pickup_datetime": [datetime(2019, 3, 20, 16, 30, 11)],
            "tpep_dropoff_datetime": [datetime(2019, 3, 20, 16, 44, 49)],
            "passenger_count": [1.0],
            "trip_distance": [2.63],
            "RatecodeID": [1.0],
            "store_and_fwd_flag": ["N"],
            "PULocationID": [231],
            "DOLocationID": [88],
            "payment_type": [1],
            "fare_amount": [12.5],
            "extra": [1.0],
            "mta_tax": [0.5],
            "tip_amount": [3.36],
            "tolls_amount": [0.0],
            "improvement_surcharge": [0.3],
            "total_amount": [20.16],
            "congestion_surcharge": [None],
        }
    )
    path = tmp_path / "trips.parquet"
    pq.write_table(table, path)
    (trip,) = list(read_trips(path))
    np.testing.assert_array_equal(wire.encode_row(trip), _expected_row())


def test_labelled_trips_inject_at_the_asked_rate() -> None:
    source = iter([{"trip_distance": 2.0, "fare_amount": 10.0, "duration_minutes": 12.0, "total_amount": 10.0}] * 4000)
    trips = LabelledTrips(source, fraud_rate=0.1, seed=1, run_id="t")
    batch = trips.take(4000)
    assert len({t["transaction_id"] for t in batch}) == 4000
    injected = [tid for tid, family in trips.labels.items() if family]
    assert 300 < len(injected) < 500
    by_id = {t["transaction_id"]: t for t in batch}
    assert all(by_id[tid] != {**source_row(), "transaction_id": tid} for tid in injected)


def source_row() -> dict[str, float]:
    return {"trip_distance": 2.0, "fare_amount": 10.0, "duration_minutes": 12.0, "total_amount": 10.0}


@pytest.mark.parametrize("name", RECENT_FILES)
def test_replay_of_real_recent_files_is_accepted_by_the_gateway(name: str) -> None:
    """What replay would send from TLC's own 2023-2025 files, injected fraud included, passes validation."""
    path = recent_file(name)
    trips = LabelledTrips(trip_source([str(path)], seed=0), fraud_rate=0.05, seed=3, run_id="r")
    batch = trips.take(3000)
    assert len(batch) == 3000  # the 2023 sample has 3,024 rows; the others 10,000
    accepted, _ = parse_transactions(orjson.dumps(batch), max_batch=len(batch))
    assert accepted == batch
    assert sum(1 for family in trips.labels.values() if family) > 0
