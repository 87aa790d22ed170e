"""``score`` and ``replay`` read TLC's files as they are: the real 2023-2025 files, and every mechanical quirk.

The oracle for the real files is independent of the reader: pyarrow's own rows (or ``csv.DictReader``)
renamed with :func:`taxifraud.wire.normalize_keys` and encoded with :func:`taxifraud.wire.encode_rows`,
which is what ``score`` did before it read Parquet (so old files also score exactly as before).
"""

from __future__ import annotations

import csv
import gzip
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from export import data
from operations.trip_files import TripFileError, map_columns, read_trips, records_in_chunks, text_cell
from taxifraud import wire
from tests.recent_files import RECENT_FILES, recent_file

NUMERIC_FIELDS = set(wire.WIRE_FIELDS) - {
    "transaction_id",
    "taxi_id",
    "store_and_fwd_flag",
    "pickup_datetime",
    "dropoff_datetime",
}


def _oracle(path: Path) -> list[dict[str, Any]]:
    """Rows renamed to wire names, values as pyarrow / csv give them (what score read before)."""
    if path.suffix == ".parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        return [wire.normalize_keys(r) for r in pq.read_table(path).to_pylist()]
    with open(path, newline="") as fh:
        return [wire.normalize_keys(r) for r in csv.DictReader(fh)]


def _same_rows(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    a, b = wire.encode_rows(got), wire.encode_rows(expected)
    np.testing.assert_array_equal(a, b)  # NaN where missing on both sides
    assert [wire.missing_required(r) for r in got] == [wire.missing_required(r) for r in expected]


@pytest.mark.parametrize("name", RECENT_FILES)
def test_real_recent_files_read_as_wire_records(name: str) -> None:
    path = recent_file(name)
    records = list(read_trips(path))
    expected = _oracle(path)
    _same_rows(records, expected)
    present = set().union(*map(set, expected))
    for record, raw in zip(records, expected, strict=True):
        assert set(record) <= set(wire.WIRE_FIELDS)
        for key, value in record.items():
            if key in NUMERIC_FIELDS:
                assert type(value) in (int, float) and math.isfinite(value), (key, value)
            elif key.endswith("_datetime"):
                assert isinstance(value, str) and wire.parse_datetime(value) == wire.parse_datetime(raw[key])
        missing = {k for k, v in raw.items() if v is None or v == "" or (isinstance(v, float) and math.isnan(v))}
        assert set(record) == set(raw) - missing, "a missing cell is left out, nothing else is"
    orjson.dumps(records)  # JSON-ready as they are: what replay sends
    assert {"pickup_location_id", "rate_code_id", "vendor_id", "airport_fee"} <= present
    if "2025" in name:
        assert "cbd_congestion_fee" in present


def test_lower_cased_names_of_the_2023_sample_are_mapped() -> None:
    path = recent_file("yellow_2023q1_sample.parquet")
    pq = pytest.importorskip("pyarrow.parquet")
    columns = pq.ParquetFile(path).schema_arrow.names
    assert "pulocationid" in columns and "ratecodeid" in columns  # the file really is lower-cased
    assert None not in map_columns(columns).fields


def _old_files() -> list[Path]:
    root = data.data_dir()
    files = sorted((root / data.SAMPLES_DIR).glob("yellow_tripdata_sample_*.csv"))[:3]
    files += [root / "nyc_tlc_trips_sample_2019-03_raw.csv", root / "nyc_tlc_trips_sample_2019-03_seaborn_clean.csv"]
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", _old_files(), ids=lambda p: p.name)
def test_old_files_encode_exactly_as_before(path: Path) -> None:
    """2018-2020 CSVs (wire names, TLC names, a mixed green/yellow extract): the model input is unchanged."""
    _same_rows(list(read_trips(path)), _oracle(path))


def test_columns_that_are_not_wire_fields_are_named_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        mapping = map_columns(["VendorID", "color", "fare_amount", "ehail_fee"], "x.csv")
    assert mapping.fields == ("vendor_id", None, "fare_amount", None)
    assert mapping.ignored == ("color", "ehail_fee")
    assert "x.csv" in caplog.text and "color, ehail_fee" in caplog.text


@pytest.mark.parametrize(
    ("first", "second"),
    [("Airport_fee", "airport_fee"), ("PULocationID", "pickup_location_id"), ("VendorID", "VENDORID")],
)
def test_a_field_in_two_columns_is_refused_naming_both(tmp_path: Path, first: str, second: str) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(f"trip_distance,{first},{second}\n1.0,2,3\n")
    with pytest.raises(TripFileError) as info:
        list(read_trips(path))
    assert str(path) in str(info.value) and repr(first) in str(info.value) and repr(second) in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("fare_amount", "12.5", 12.5),
        ("passenger_count", "1", 1),
        ("passenger_count", "1.0", 1.0),
        ("fare_amount", "", None),
        ("fare_amount", "NaN", None),
        ("fare_amount", "nan", None),
        ("fare_amount", "inf", "inf"),  # JSON cannot carry it: kept as text, rejected downstream by name
        ("fare_amount", "12,5", "12,5"),
        ("store_and_fwd_flag", "N", "N"),
        ("taxi_id", "0012", "0012"),  # text fields stay text
        ("pickup_datetime", "2025-02-01 00:12:34", "2025-02-01 00:12:34"),
    ],
)
def test_text_cells(name: str, text: str, expected: Any) -> None:
    got = text_cell(name, text)
    assert got == expected and type(got) is type(expected)


def test_parquet_types_nulls_nan_and_timestamps(tmp_path: Path) -> None:
    """ns and tz-aware timestamps, float codes, nulls and NaN, as TLC and its republishers write them."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    utc = pa.array([datetime(2025, 7, 1, 4, 18, 38), datetime(2025, 1, 1, 5, 0, 0)], pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "VendorID": pa.array([2, 7], pa.int32()),
            "tpep_pickup_datetime": pa.array([1735690718_000000000, 1735690718_500000000], pa.timestamp("ns")),
            "tpep_dropoff_datetime": utc,
            "passenger_count": [1.0, None],
            "trip_distance": [1.6, float("nan")],
            "RatecodeID": [1.0, 99.0],
            "store_and_fwd_flag": ["N", None],
            "fare_amount": [10.0, -12.8],
            "Airport_fee": [1.75, 0.0],
            "cbd_congestion_fee": [0.75, None],
        }
    )
    path = tmp_path / "trips.parquet"
    pq.write_table(table, path)
    first, second = read_trips(path)
    assert first == {
        "vendor_id": 2,
        "pickup_datetime": "2025-01-01 00:18:38",
        "dropoff_datetime": "2025-07-01 00:18:38",  # 04:18 UTC is 00:18 on a New York meter in July (EDT)
        "passenger_count": 1.0,
        "trip_distance": 1.6,
        "rate_code_id": 1.0,
        "store_and_fwd_flag": "N",
        "fare_amount": 10.0,
        "airport_fee": 1.75,
        "cbd_congestion_fee": 0.75,
    }
    assert second == {
        "vendor_id": 7,
        "pickup_datetime": "2025-01-01 00:18:38.500000",
        "dropoff_datetime": "2025-01-01 00:00:00",  # EST in January
        "rate_code_id": 99.0,
        "fare_amount": -12.8,
        "airport_fee": 0.0,
    }
    assert wire.parse_datetime(second["pickup_datetime"]) == datetime(2025, 1, 1, 0, 18, 38, 500000)


def test_gzipped_csv_and_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "trips.csv.gz"
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("VendorID,trip_distance,fare_amount,Airport_fee\n2,1.5,9.0,1.75\n\n1,0.5\n")
    assert list(read_trips(path)) == [
        {"vendor_id": 2, "trip_distance": 1.5, "fare_amount": 9.0, "airport_fee": 1.75},
        {"vendor_id": 1, "trip_distance": 0.5},
    ]


def test_byte_order_mark_before_the_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("VendorID,trip_distance\n2,1.5\n".encode("utf-8-sig"))
    assert list(read_trips(path)) == [{"vendor_id": 2, "trip_distance": 1.5}]


def test_records_in_chunks() -> None:
    chunks = list(records_in_chunks(({"i": i} for i in range(10)), 4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert [r["i"] for c in chunks for r in c] == list(range(10))
