"""Fast paths equal the general code they stand in for, on every input (issue 16: cheaper, identical).

Each fast path keeps its general definition beside it; these properties hold one to the other, so a speed-up
can never change what is accepted, rejected or computed.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
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
