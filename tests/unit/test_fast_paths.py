"""Fast paths equal the general code they stand in for, on every input (issue 16: cheaper, identical).

Each fast path keeps its general definition beside it; these properties hold one to the other, so a speed-up
can never change what is accepted, rejected or computed.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from taxifraud import wire

#: Timestamps near the accepted shapes, then mutated: where a fast path could go wrong.
_TIMESTAMP_SHAPES = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.isoformat(sep=" ", timespec="seconds")
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(alphabet="0123456789-:T Z+./PMW,", max_size=32),
)


def _outcome(parse: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("ok", parse(value))
    except ValueError as exc:
        return ("error", str(exc))


_INSERTS = st.sampled_from(["", " ", "Z", "+05", "+05:30", "T", "0"])


@settings(max_examples=3000, deadline=None)
@given(base=_TIMESTAMP_SHAPES, cut=st.integers(0, 40), insert=_INSERTS)
@example(base="2019-06-03T18:10+05", cut=40, insert="")
@example(base="2019-06-03 18:10:45", cut=40, insert=" ")
@example(base="2019-06-03T18:10:45", cut=40, insert="Z")
@example(base="2019-06-03 18:10:4", cut=40, insert="")
def test_parse_datetime_fast_path_equals_the_general_path(base: str, cut: int, insert: str) -> None:
    value = base[:cut] + insert + base[cut:]
    assert _outcome(wire.parse_datetime, value) == _outcome(wire.parse_datetime_general, value)


def test_parse_datetime_general_cases_unchanged() -> None:
    for value in (None, "", datetime(2019, 1, 1, 3, 4, 5), "06/03/2019 06:10:45 PM", " 2019-06-03 18:10:45 "):
        assert _outcome(wire.parse_datetime, value) == _outcome(wire.parse_datetime_general, value)


def test_ingested_epochs_parses_each_distinct_stamp_once_with_the_same_result() -> None:
    from consumer.decode import _epoch, ingested_epochs

    stamps = ["2026-11-28T11:50:00.123456Z", "2026-11-28T11:50:00", "garbage", ""]
    values: list[Any] = [*stamps * 3, None, 5, ["not", "hashable"], {"a": 1}]
    got = ingested_epochs(values)
    want = [_epoch(v) if type(v) is str else math.nan for v in values]
    np.testing.assert_array_equal(got, np.array(want))  # NaN where the stamp is bad or absent
    assert not np.isnan(got[:2]).any()


_DATETIME_TEXT = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.isoformat(sep=" ", timespec="seconds")
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.isoformat(timespec="milliseconds")
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(lambda d: d.isoformat()),
)


@st.composite
def _timestamp_text(draw: st.DrawFn) -> str:
    text = draw(_DATETIME_TEXT)
    damage = draw(st.sampled_from(["none", "none", "insert", "replace"]))  # where a shortcut could miss it
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from(["\x00", "Z", "+01:00", " ", "x", "0", "T"]))
    if damage == "insert":
        text = text[:at] + char + text[at:]
    elif damage == "replace":  # keeps the length (a single character), so it passes a length check
        text = text[:at] + char[0] + text[at + 1 :]
    return text


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_timestamp_text(), _timestamp_text()), min_size=1, max_size=6))
def test_fast_column_encoding_equals_encode_rows_whenever_it_applies(pairs: list[tuple[str, str]]) -> None:
    from consumer.decode import encode_fast

    txs = [{"trip_distance": 1.0, "fare_amount": 7.5, "pickup_datetime": p, "dropoff_datetime": d} for p, d in pairs]
    fast = encode_fast(txs)
    if fast is None:
        return  # the caller encodes row by row: nothing to compare
    np.testing.assert_array_equal(fast, wire.encode_rows(txs))


def test_timestamps_numpy_alone_would_take_go_the_careful_way_and_are_poison_as_there() -> None:
    """A sign, a NUL or year 0 parse in numpy but not in ``encode_row``: the batch takes the per-row path."""
    from consumer.decode import ERROR_BAD_VALUE, decode_batch, encode_fast

    for odd in ("+000-01-01 00:00:00", "\x00000-01-01 00:00:00", "0000-01-01 00:00:00", "2019-06-03 18:10:4\x00"):
        tx = {"transaction_id": "t", "trip_distance": 1.0, "fare_amount": 7.5, "duration_minutes": 3.0}
        txs = [{**tx, "pickup_datetime": "2019-06-03 18:10:45"}, {**tx, "pickup_datetime": odd}]
        assert encode_fast(txs) is None, odd
        decoded = decode_batch([orjson.dumps(t) for t in txs])
        assert [p.kind for p in decoded.poison] == [ERROR_BAD_VALUE] and len(decoded.transactions) == 1, odd
