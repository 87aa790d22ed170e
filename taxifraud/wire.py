"""The wire format of a taxi transaction and its encoding into the model's input tensor.

Every producer of model input (the consumer, the gateway's ``/score``, the ``score`` CLI, training)
goes through :func:`encode_rows`, so there is exactly one mapping from JSON to tensor. The mapping is
deliberately dumb: it only parses (datetimes to duration, hour and weekday) and marks missing fields
as NaN. All feature engineering and scaling lives inside the ONNX graph, so training and serving cannot
drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

#: The itemised charges that add up to ``total_amount`` on a TLC record.
CHARGE_COLUMNS: tuple[str, ...] = (
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "congestion_surcharge",
    "airport_fee",
    "cbd_congestion_fee",
)
#: The charges whose amount the tariff bounds: a record lacking one is still checked (by the feature graph
#: and by the reasons alike), with that charge taken anywhere from $0 to the most its tariff could bill.
TARIFF_BOUNDED_CHARGES: tuple[str, ...] = (
    "extra",
    "mta_tax",
    "improvement_surcharge",
    "congestion_surcharge",
    "airport_fee",
    "cbd_congestion_fee",
)
#: Every money column: the charges and their total.
MONEY_COLUMNS: tuple[str, ...] = (*CHARGE_COLUMNS, "total_amount")

#: Columns of the model's input tensor ``trip_fields``, in order. NaN marks a missing value.
MODEL_INPUT_COLUMNS: tuple[str, ...] = (
    "trip_distance",
    "duration_minutes",
    *MONEY_COLUMNS,
    "passenger_count",
    "rate_code_id",
    "payment_type",
    "vendor_id",
    "pickup_location_id",
    "dropoff_location_id",
    "pickup_hour",
    "pickup_weekday",
    "pickup_day",
)
N_INPUT_COLUMNS = len(MODEL_INPUT_COLUMNS)
COLUMN_INDEX = {name: i for i, name in enumerate(MODEL_INPUT_COLUMNS)}

#: Triton / ONNX tensor names shared by both model configs, the export and every client.
INPUT_TENSOR = "trip_fields"
OUTPUT_SCORE = "anomaly_score"
OUTPUT_IS_FRAUD = "is_fraud"
OUTPUT_FEATURE_ERRORS = "feature_errors"
OUTPUT_FEATURE_EXPECTED = "feature_expected"
OUTPUT_TENSORS = (OUTPUT_SCORE, OUTPUT_IS_FRAUD, OUTPUT_FEATURE_ERRORS, OUTPUT_FEATURE_EXPECTED)

#: Input columns derived from the datetimes (``pickup_day``: days since 1970-01-01 of the local pickup
#: date, which picks the tariff in force inside the graph).
DERIVED_COLUMNS: tuple[str, ...] = ("duration_minutes", "pickup_hour", "pickup_weekday", "pickup_day")
#: Wire fields that are numbers and map one-to-one onto an input column.
NUMERIC_WIRE_FIELDS: tuple[str, ...] = tuple(c for c in MODEL_INPUT_COLUMNS if c not in DERIVED_COLUMNS)
_EPOCH = datetime(1970, 1, 1)

#: Datetime formats accepted on the wire besides ISO 8601 (TLC's own CSVs use the first).
_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M")


def parse_datetime(value: Any) -> datetime | None:
    """Parse a TLC or ISO 8601 timestamp; None for missing. Raises ValueError for garbage.

    Timestamps are taxi-meter local time (New York); a timezone suffix, if present, is dropped after
    conversion is *not* attempted, because TLC data is naive local time and hour-of-day must match it.
    """
    if type(value) is str and value[:1].isdigit() and value[-1:].isdigit() and "Z" not in value:
        # The common case (ISO 8601, TLC's "YYYY-MM-DD HH:MM:SS") in one C call, a sixth of the general path's
        # cost: such text needs neither its strip nor its "Z" rewrite, so the result is the same (unit-tested).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is None else parsed.replace(tzinfo=None)
    return parse_datetime_general(value)


def parse_datetime_general(value: Any) -> datetime | None:
    """:func:`parse_datetime` for every input, the one definition of what it accepts."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        pass
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a datetime: {text!r}")


def _number(value: Any) -> float:
    """A float for a present value, NaN for a missing one (None, empty string)."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        raise ValueError("booleans are not numbers")
    return float(value)


def encode_row(tx: Mapping[str, Any], out: np.ndarray | None = None) -> np.ndarray:
    """Encode one transaction mapping into a float32 row of ``N_INPUT_COLUMNS`` values.

    ``duration_minutes`` wins over the datetimes when both are given (the caller said it explicitly);
    otherwise it is derived from pickup and dropoff. Raises ValueError on unparseable values.
    """
    row = np.full(N_INPUT_COLUMNS, np.nan, dtype=np.float32) if out is None else out
    for name in NUMERIC_WIRE_FIELDS:
        row[COLUMN_INDEX[name]] = _number(tx.get(name))
    pickup = parse_datetime(tx.get("pickup_datetime"))
    dropoff = parse_datetime(tx.get("dropoff_datetime"))
    duration = _number(tx.get("duration_minutes"))
    if math.isnan(duration) and pickup is not None and dropoff is not None:
        duration = (dropoff - pickup).total_seconds() / 60.0
    row[COLUMN_INDEX["duration_minutes"]] = duration
    if pickup is not None:
        row[COLUMN_INDEX["pickup_hour"]] = pickup.hour + pickup.minute / 60.0
        row[COLUMN_INDEX["pickup_weekday"]] = pickup.weekday()
        row[COLUMN_INDEX["pickup_day"]] = (pickup - _EPOCH).days
    else:
        row[COLUMN_INDEX["pickup_hour"]] = np.nan
        row[COLUMN_INDEX["pickup_weekday"]] = np.nan
        row[COLUMN_INDEX["pickup_day"]] = np.nan
    return row


def encode_rows(transactions: Sequence[Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Encode many transactions into a ``[batch, N_INPUT_COLUMNS]`` float32 array (the model input)."""
    items = list(transactions)
    batch = np.full((len(items), N_INPUT_COLUMNS), np.nan, dtype=np.float32)
    for i, tx in enumerate(items):
        encode_row(tx, batch[i])
    return batch


#: TLC's own column names (as in TLC's monthly files since 2018) -> our wire names, so their files and
#: records work as they are. TLC's spelling has changed over the years (``Airport_fee`` in 2022-2024
#: files, ``airport_fee`` in 2025; some republished copies lower-case every name), so aliases match
#: case-insensitively: :func:`wire_name` is the one lookup.
TLC_ALIASES: dict[str, str] = {
    "VendorID": "vendor_id",
    "tpep_pickup_datetime": "pickup_datetime",
    "tpep_dropoff_datetime": "dropoff_datetime",
    "lpep_pickup_datetime": "pickup_datetime",
    "lpep_dropoff_datetime": "dropoff_datetime",
    "RatecodeID": "rate_code_id",
    "PULocationID": "pickup_location_id",
    "DOLocationID": "dropoff_location_id",
    "Airport_fee": "airport_fee",
}
_ALIASES_FOLDED: dict[str, str] = {k.lower(): v for k, v in TLC_ALIASES.items()}

#: Every field a transaction may carry on the wire (besides the server-owned ``ingested_at``).
WIRE_FIELDS: tuple[str, ...] = (
    "transaction_id",
    "taxi_id",
    "vendor_id",
    "pickup_datetime",
    "dropoff_datetime",
    "duration_minutes",
    "passenger_count",
    "trip_distance",
    "rate_code_id",
    "store_and_fwd_flag",
    "pickup_location_id",
    "dropoff_location_id",
    "payment_type",
    *MONEY_COLUMNS,
)
_WIRE_SET = frozenset(WIRE_FIELDS)


def wire_name(key: str) -> str:
    """The wire name for a key: itself if it is one, else its TLC alias (any case), else the key unchanged."""
    if key in _WIRE_SET:
        return key
    return _ALIASES_FOLDED.get(key.lower(), key)


def is_alias(key: str) -> bool:
    """True for a TLC spelling of a wire field (``PULocationID``, ``Airport_fee``, ``ratecodeid``...)."""
    return key not in _WIRE_SET and key.lower() in _ALIASES_FOLDED


def normalize_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """Rename TLC column names to wire names; other keys pass through unchanged.

    A record that spells one field twice (``PULocationID`` and ``pickup_location_id``) keeps the wire
    spelling's value; the gateway rejects such a record before it gets here.
    """
    if _WIRE_SET.issuperset(record):
        return dict(record)
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = wire_name(k)
        if name != k and name in record:
            continue
        out[name] = v
    return out


def missing_required(tx: Mapping[str, Any]) -> list[str]:
    """Names of required fields that are absent: distance, fare, and a duration or both datetimes."""
    missing = [f for f in ("trip_distance", "fare_amount") if tx.get(f) in (None, "")]
    has_duration = tx.get("duration_minutes") not in (None, "")
    has_datetimes = tx.get("pickup_datetime") not in (None, "") and tx.get("dropoff_datetime") not in (None, "")
    if not has_duration and not has_datetimes:
        missing.append("duration_minutes (or pickup_datetime and dropoff_datetime)")
    return missing
