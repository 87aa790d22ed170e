"""Pure: a batch of raw message values -> transactions, the model's input tensor, and poison messages.

Why a batch function and not ``encode_row`` per message: at tens of thousands of messages a second the
per-message Python overhead is the consumer's budget. The common case (numbers are JSON numbers,
datetimes are ISO strings of one length) is encoded column-wise with numpy; anything else falls back
to :func:`taxifraud.wire.encode_row` row by row, which stays the one definition of the mapping (a unit
test holds the fast path to byte-for-byte parity with it).

Poison (sent to the DLQ, never to Triton): not JSON, not a JSON object, a value ``encode_row`` rejects
(wrong type, unparseable number or datetime), a non-finite number, or a missing required field:
``trip_distance``, ``fare_amount`` and a duration (``duration_minutes`` or both datetimes).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import orjson

from taxifraud import wire

#: Model input columns that must be present (not NaN) for a transaction to be scored.
REQUIRED_COLUMNS: tuple[str, ...] = ("trip_distance", "fare_amount", "duration_minutes")
_REQUIRED_IDX = np.array([wire.COLUMN_INDEX[c] for c in REQUIRED_COLUMNS])
_REQUIRED_TEXT = {
    "trip_distance": "trip_distance",
    "fare_amount": "fare_amount",
    "duration_minutes": "duration_minutes (or both pickup_datetime and dropoff_datetime)",
}

#: DLQ error kinds: the low-cardinality ``error`` label of ``consumer_dlq_messages_total``.
ERROR_EMPTY = "empty"
ERROR_NOT_JSON = "not_json"
ERROR_NOT_OBJECT = "not_object"
ERROR_BAD_ID = "bad_transaction_id"
ERROR_BAD_VALUE = "bad_value"
ERROR_MISSING = "missing_field"
ERROR_NON_FINITE = "non_finite"

_NUMERIC_TYPES = frozenset({int, float, type(None)})
#: Below this many rows a batch is encoded row by row: the column-wise path's fixed numpy cost (~180 us) is
#: more than ``encode_row``'s ~10 us a row until about 40 rows, and at moderate load most batches hold one.
FAST_PATH_MIN_ROWS = 32
_KNOWN_KEYS = frozenset({*wire.WIRE_FIELDS, "ingested_at"})
_EPOCH_DAY_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday = 0 as in datetime.weekday()


@dataclass(frozen=True)
class Poison:
    """A message that cannot be scored: where it was in the batch and why (kind for metrics, text for humans)."""

    index: int
    kind: str
    error: str
    stage: str = "decode"


@dataclass
class Decoded:
    """The scoreable part of a batch, aligned row by row, plus the poison messages."""

    transactions: list[dict[str, Any]]
    rows: np.ndarray  # [len(transactions), N_INPUT_COLUMNS] float32, NaN = missing
    index: np.ndarray  # int64: position of each transaction in the input batch
    ingested_at: np.ndarray  # float64 epoch seconds of the gateway's ingested_at; NaN if absent or bad
    poison: list[Poison] = field(default_factory=list)


def decode_batch(values: Sequence[bytes | None], fallback_id: Callable[[int], str] | None = None) -> Decoded:
    """Parse and encode a batch. ``fallback_id(i)`` names a transaction that came without an id.

    The fallback should be deterministic (the consumer uses ``topic-partition-offset``) so that a
    verdict replayed after a crash carries the same ``transaction_id`` as the first one.
    """
    txs: list[dict[str, Any]] = []
    positions: list[int] = []
    poison: list[Poison] = []
    for i, value in enumerate(values):
        if not value:
            poison.append(Poison(i, ERROR_EMPTY, "empty message value"))
            continue
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            poison.append(Poison(i, ERROR_NOT_JSON, f"not JSON: {exc}"))
            continue
        if type(obj) is not dict:
            poison.append(Poison(i, ERROR_NOT_OBJECT, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        if not _KNOWN_KEYS.issuperset(obj):  # TLC spellings (``PULocationID``...) from producers other than ours
            obj = wire.normalize_keys(obj)
        tid = obj.get("transaction_id")
        if tid is None:
            if fallback_id is None:
                poison.append(Poison(i, ERROR_BAD_ID, "transaction_id is missing"))
                continue
            obj["transaction_id"] = fallback_id(i)
        elif type(tid) is not str or not tid:
            poison.append(Poison(i, ERROR_BAD_ID, "transaction_id must be a non-empty string"))
            continue
        txs.append(obj)
        positions.append(i)

    rows = encode_fast(txs) if len(txs) >= FAST_PATH_MIN_ROWS else None
    keep = np.ones(len(txs), dtype=bool)
    if rows is None:  # a small batch, or a value that needs the careful path (strings for numbers, odd datetimes)
        rows = np.full((len(txs), wire.N_INPUT_COLUMNS), np.nan, dtype=np.float32)
        for j, tx in enumerate(txs):
            try:
                wire.encode_row(tx, rows[j])
            except (ValueError, TypeError, OverflowError) as exc:
                keep[j] = False
                poison.append(Poison(positions[j], ERROR_BAD_VALUE, f"bad value: {exc}"))

    # Vectorized validation; only the (rare) failing rows pay for a readable message.
    missing = np.isnan(rows[:, _REQUIRED_IDX])
    infinite = np.isinf(rows)
    bad = keep & (missing.any(axis=1) | infinite.any(axis=1))
    for j in np.flatnonzero(bad).tolist():
        keep[j] = False
        if infinite[j].any():
            cols = [wire.MODEL_INPUT_COLUMNS[c] for c in np.flatnonzero(infinite[j]).tolist()]
            poison.append(Poison(positions[j], ERROR_NON_FINITE, f"non-finite value in {', '.join(cols)}"))
        else:
            first = REQUIRED_COLUMNS[int(np.flatnonzero(missing[j])[0])]
            poison.append(Poison(positions[j], ERROR_MISSING, f"missing required field {_REQUIRED_TEXT[first]}"))

    if not keep.all():
        sel = np.flatnonzero(keep)
        txs = [txs[j] for j in sel.tolist()]
        rows = rows[sel]
        positions = [positions[j] for j in sel.tolist()]
    poison.sort(key=lambda p: p.index)
    return Decoded(
        transactions=txs,
        rows=rows,
        index=np.asarray(positions, dtype=np.int64),
        ingested_at=ingested_epochs([tx.get("ingested_at") for tx in txs]),
        poison=poison,
    )


def encode_fast(txs: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """Column-wise ``encode_rows`` for the common shape of input; None when the per-row path is needed.

    Applies only when every numeric field is a JSON number or absent and the datetimes are either all
    absent or all ISO strings of one length without a UTC offset; otherwise returns None rather than
    guess, and the caller uses ``encode_row`` (which also reports *which* row is bad).
    """
    n = len(txs)
    out = np.empty((n, wire.N_INPUT_COLUMNS), dtype=np.float32)
    if n == 0:
        return out
    for name in wire.NUMERIC_WIRE_FIELDS:
        column = [tx.get(name) for tx in txs]
        if not _NUMERIC_TYPES.issuperset(map(type, column)):
            return None
        out[:, wire.COLUMN_INDEX[name]] = np.array(column, dtype=np.float64)
    durations = [tx.get("duration_minutes") for tx in txs]
    if not _NUMERIC_TYPES.issuperset(map(type, durations)):
        return None
    duration = np.array(durations, dtype=np.float64)
    pickup = _datetimes([tx.get("pickup_datetime") for tx in txs])
    dropoff = _datetimes([tx.get("dropoff_datetime") for tx in txs])
    if pickup is False or dropoff is False:
        return None
    hour_col, weekday_col = wire.COLUMN_INDEX["pickup_hour"], wire.COLUMN_INDEX["pickup_weekday"]
    day_col = wire.COLUMN_INDEX["pickup_day"]
    if isinstance(pickup, np.ndarray):
        day = pickup.astype("datetime64[D]")
        seconds = (pickup - day).astype("timedelta64[s]").astype(np.int64)
        out[:, hour_col] = (seconds // 3600) + ((seconds % 3600) // 60) / 60.0
        out[:, weekday_col] = (day.astype(np.int64) + _EPOCH_DAY_WEEKDAY) % 7
        out[:, day_col] = day.astype(np.int64)
        if isinstance(dropoff, np.ndarray):
            derived = (dropoff - pickup).astype("timedelta64[us]").astype(np.int64) / 10**6 / 60.0
            duration = np.where(np.isnan(duration), derived, duration)
    else:
        out[:, hour_col] = np.nan
        out[:, weekday_col] = np.nan
        out[:, day_col] = np.nan
    out[:, wire.COLUMN_INDEX["duration_minutes"]] = duration
    return out


def _datetimes(values: list[Any]) -> np.ndarray | bool | None:
    """All-absent -> None; all ISO strings of one length -> datetime64[us]; anything else -> False."""
    if all(v is None for v in values):
        return None
    if not all(type(v) is str for v in values):
        return False
    # One length for all, counted in Python (numpy's str_len loops in Python: 0.7 us a value).
    width = len(values[0])
    shape = _ISO_SHAPES.get(width)
    if shape is None or any(len(v) != width for v in values):
        return False
    text = np.array(values)
    # Exactly YYYY-MM-DD[ T]HH:MM:SS[.fff[fff]], checked on the code points at once: within that shape numpy
    # and encode_row's fromisoformat agree (numpy alone would also take a sign, a NUL or year 0).
    codes = text.view(np.uint32).reshape(len(values), width)
    digits, literal_at, literal = shape
    d = codes[:, digits]
    sep = codes[:, _SEPARATOR_AT]
    if not (
        ((d >= _ZERO) & (d <= _NINE)).all()
        and (codes[:, literal_at] == literal).all()
        and ((sep == _SPACE) | (sep == _T)).all()
    ):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (and converts) on UTC offsets: let encode_row do those
            parsed = text.astype("datetime64[us]")
    except (ValueError, DeprecationWarning):
        return False
    return False if (parsed < _YEAR_ONE).any() else parsed


def _iso_shape(pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digit positions, literal positions and their code points of a pattern such as ``dddd-dd-dd dd:dd:dd``."""
    digits = [i for i, c in enumerate(pattern) if c == "d"]
    literals = [i for i, c in enumerate(pattern) if c != "d" and i != _SEPARATOR_AT]
    return np.array(digits), np.array(literals), np.array([ord(pattern[i]) for i in literals], dtype=np.uint32)


_SEPARATOR_AT = 10  # the date/time separator: " " or "T"
_ZERO, _NINE, _SPACE, _T = ord("0"), ord("9"), ord(" "), ord("T")
_YEAR_ONE = np.datetime64("0001-01-01", "us")  # datetime's smallest year; numpy also parses 0000
_ISO_SHAPES = {
    len(p): _iso_shape(p) for p in ("dddd-dd-dd dd:dd:dd", "dddd-dd-dd dd:dd:dd.ddd", "dddd-dd-dd dd:dd:dd.dddddd")
}


def ingested_epochs(values: Sequence[Any]) -> np.ndarray:
    """Gateway ``ingested_at`` stamps (RFC 3339) -> epoch seconds; NaN where absent or unparseable.

    Only feeds the event-to-verdict histogram, so a bad stamp is not poison: the verdict still goes out.
    Each distinct stamp is parsed once: the transactions of one HTTP request share theirs, so a batch holds
    a handful of distinct values.
    """
    epochs: dict[str, float] = {}
    out = []
    for value in values:
        if type(value) is not str:  # absent, or not even text (a JSON list is not hashable either)
            out.append(math.nan)
            continue
        epoch = epochs.get(value)
        if epoch is None:
            epoch = epochs[value] = _epoch(value)
        out.append(epoch)
    return np.array(out, dtype=np.float64)


def _epoch(value: str) -> float:
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return math.nan
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()
