"""The real 2023-2025 TLC files of ``../shared/data/recent/`` (PROVENANCE.md section 6), as TLC wrote them.

Tests that use them skip when the shared data is absent. :func:`tlc_records` gives each row under TLC's own
column names, as a client that reads the file and sends it as JSON would: Parquet values as pyarrow gives
them (ints, floats, datetimes, None), CSV cells with numbers parsed and empty cells as null.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from export.data import data_dir
from taxifraud import wire

RECENT_DIR = data_dir() / "recent"
#: Every file of the folder: lower-cased names (2023q1), TLC's CSVs (2024), the 2025 Parquet with cbd_congestion_fee.
RECENT_FILES = (
    "yellow_2023q1_sample.parquet",
    "yellow_2024-01_head10k.csv",
    "yellow_2024-11_head10k.csv",
    "yellow_2025-01_head10k.parquet",
)


def recent_file(name: str) -> Path:
    path = RECENT_DIR / name
    if not path.is_file():
        pytest.skip(f"shared data not available: {path}")
    return path


def tlc_records(path: Path) -> list[dict[str, Any]]:
    """Rows under the file's own column names; numbers as numbers, missing as None."""
    if path.suffix == ".parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        return list(pq.read_table(path).to_pylist())
    with open(path, newline="") as fh:
        return [{k: _number_or_text(k, v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number_or_text(column: str, text: str) -> Any:
    if text == "":
        return None
    if wire.wire_name(column) in ("store_and_fwd_flag", "pickup_datetime", "dropoff_datetime"):
        return text
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number
