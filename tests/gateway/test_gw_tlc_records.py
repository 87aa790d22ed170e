"""The gateway takes a record exactly as TLC writes it: TLC's column names (any case) or ours, today's fields.

Unit level (no broker): validation is all that decides between 422 and produce, and what it returns is
what goes on the topic. The last test posts through the app to a closed broker port, which answers 503
for a valid body and 422 for an invalid one, so it tells the two apart without a broker.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.responses import TLC_RECORD_EXAMPLE
from gateway.schema import WIRE_FIELDS, Rejected, parse_transactions
from operations.trip_files import read_trips
from taxifraud import wire
from tests.recent_files import RECENT_FILES, recent_file, tlc_records


def _parse(body: Any) -> list[dict[str, Any]]:
    return parse_transactions(orjson.dumps(body), 10_000)[0]


def _issues(body: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    with pytest.raises(Rejected) as info:
        _parse(body)
    assert info.value.status == 422
    detail = info.value.detail
    assert isinstance(detail, list), detail
    return [(tuple(d["loc"]), d["type"], d["msg"]) for d in detail]


def test_every_tlc_column_is_a_wire_field() -> None:
    assert set(WIRE_FIELDS) == set(wire.WIRE_FIELDS)
    assert {"airport_fee", "cbd_congestion_fee"} <= set(WIRE_FIELDS)
    assert {wire.wire_name(k) for k in TLC_RECORD_EXAMPLE} <= set(WIRE_FIELDS)


@pytest.mark.parametrize("name", RECENT_FILES)
def test_real_records_under_tlc_names_are_accepted_as_they_are(name: str) -> None:
    """Every row of the real 2023-2025 files, under the file's own names and types, passes unchanged."""
    records = tlc_records(recent_file(name))
    assert records and any(wire.is_alias(k) for k in records[0])
    accepted = _parse(records)
    assert len(accepted) == len(records)
    for raw, tx in zip(records, accepted, strict=True):
        assert set(tx) <= set(WIRE_FIELDS), "what is produced carries wire names only"
        expected = {wire.wire_name(k): v for k, v in raw.items()}
        for key, value in expected.items():
            if hasattr(value, "isoformat"):  # a Parquet timestamp, sent as the JSON encoder writes it
                assert wire.parse_datetime(tx[key]) == value
            else:
                assert tx[key] == value, key
    # The model sees the same trip whichever spelling came in.
    assert (wire.encode_rows(accepted).tobytes()) == wire.encode_rows(
        [wire.normalize_keys(r) for r in records]
    ).tobytes()


@pytest.mark.parametrize("name", RECENT_FILES)
def test_real_records_under_wire_names_are_accepted(name: str) -> None:
    records = list(read_trips(recent_file(name)))
    assert _parse(records) == records


def test_tlc_record_example_and_its_spellings() -> None:
    """The 2025 layout: snake_case, TLC's names, lower-cased and upper-cased names all mean the same trip."""
    wire_form = wire.normalize_keys(TLC_RECORD_EXAMPLE)
    assert {"airport_fee", "cbd_congestion_fee", "pickup_location_id", "vendor_id"} <= set(wire_form)
    spellings = [
        TLC_RECORD_EXAMPLE,
        wire_form,
        {k.lower(): v for k, v in TLC_RECORD_EXAMPLE.items()},
        {(k.upper() if wire.is_alias(k) else k): v for k, v in TLC_RECORD_EXAMPLE.items()},
    ]
    for body in spellings:
        [tx] = _parse(body)
        assert tx == wire_form, body


@pytest.mark.parametrize(
    "text", ["2025-02-01 00:12:34", "2025-02-01T00:12:34", "2025-02-01T00:12:34.000", "2025-02-01T00:12:34.000000"]
)
def test_tlc_csv_and_parquet_timestamps(text: str) -> None:
    """TLC's CSV text, and a Parquet timestamp as orjson / pandas ``date_format="iso"`` write it."""
    body = {**TLC_RECORD_EXAMPLE, "tpep_pickup_datetime": text, "tpep_dropoff_datetime": "2025-02-01 00:20:00"}
    [tx] = _parse(body)
    assert tx["pickup_datetime"] == text
    assert wire.encode_row(tx)[wire.COLUMN_INDEX["duration_minutes"]] == pytest.approx(7 + 26 / 60)


def test_epoch_numbers_are_not_timestamps() -> None:
    issues = _issues({**TLC_RECORD_EXAMPLE, "tpep_pickup_datetime": 1738368754000})
    assert [(loc, t) for loc, t, _ in issues] == [(("body", "tpep_pickup_datetime"), "string_type")]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("PULocationID", "pickup_location_id"),
        ("pickup_location_id", "PULocationID"),
        ("Airport_fee", "airport_fee"),
        ("VendorID", "vendorid"),
        ("tpep_pickup_datetime", "lpep_pickup_datetime"),
    ],
)
def test_one_field_under_two_spellings_is_rejected_naming_both(first: str, second: str) -> None:
    body = {k: v for k, v in TLC_RECORD_EXAMPLE.items() if wire.wire_name(k) != wire.wire_name(first)}
    value = TLC_RECORD_EXAMPLE[next(k for k in TLC_RECORD_EXAMPLE if wire.wire_name(k) == wire.wire_name(first))]
    body[first] = value
    body[second] = value
    [(loc, type_, msg)] = _issues(body)
    assert loc == ("body", second) and type_ == "duplicate_field"
    assert repr(first) in msg and repr(second) in msg and wire.wire_name(first) in msg


def test_duplicates_in_a_batch_carry_the_index_beside_other_errors() -> None:
    good = TLC_RECORD_EXAMPLE
    twice = {**TLC_RECORD_EXAMPLE, "pickup_location_id": 229}
    issues = _issues([good, twice, {**good, "fare_amount": "x"}])
    assert [(loc, t) for loc, t, _ in issues] == [
        (("body", 1, "pickup_location_id"), "duplicate_field"),
        (("body", 2, "fare_amount"), "float_type"),
    ]


def test_errors_name_the_key_as_it_was_sent() -> None:
    issues = _issues({**TLC_RECORD_EXAMPLE, "PULocationID": 999, "RatecodeID": 1.5})
    assert sorted((loc, t) for loc, t, _ in issues) == [
        (("body", "PULocationID"), "less_than_equal"),
        (("body", "RatecodeID"), "int_from_float"),
    ]


def test_unknown_fields_are_still_rejected_by_name() -> None:
    issues = _issues({**TLC_RECORD_EXAMPLE, "PULocation": 1, "ehail_fee": 0.0, "ingested_at": "x"})
    assert sorted(loc for loc, _, _ in issues) == [
        ("body", "PULocation"),
        ("body", "ehail_fee"),
        ("body", "ingested_at"),
    ]
    assert all(t == "extra_forbidden" and "Unknown field" in m for _, t, m in issues)


@pytest.mark.parametrize("field", ["airport_fee", "cbd_congestion_fee", "Airport_fee"])
def test_new_charges_are_amounts(field: str) -> None:
    body = {**wire.normalize_keys(TLC_RECORD_EXAMPLE)}
    body.pop(wire.wire_name(field))
    for ok in (None, 0.0, 1.75, -1.75, 10_000.0):
        [tx] = _parse({**body, field: ok})
        assert tx[wire.wire_name(field)] == ok
    for bad, type_ in (("1.75", "float_type"), (10_000.5, "less_than_equal"), (True, "float_type")):
        [(loc, t, _)] = _issues({**body, field: bad})
        assert (loc, t) == (("body", field), type_)


def test_tlc_record_over_http_passes_validation(offline_client: TestClient) -> None:
    """Both write endpoints validate before anything else: the TLC record gets past validation (503: the
    broker port is closed, /score is off), its twin with a second spelling of a field is a 422."""
    for path in ("/transactions", "/score"):
        resp = offline_client.post(path, json=TLC_RECORD_EXAMPLE)
        assert resp.status_code == 503, (path, resp.text)
        resp = offline_client.post(path, json=[TLC_RECORD_EXAMPLE, {**TLC_RECORD_EXAMPLE, "airport_fee": 0.0}])
        assert resp.status_code == 422, (path, resp.text)
        assert [(d["loc"], d["type"]) for d in resp.json()["detail"]] == [
            (["body", 1, "airport_fee"], "duplicate_field")
        ]


ALIASES_BY_FIELD: dict[str, list[str]] = {}
for _alias, _field in wire.TLC_ALIASES.items():
    ALIASES_BY_FIELD.setdefault(_field, []).extend([_alias, _alias.lower(), _alias.upper()])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_mix_of_spellings_is_the_same_record(data: st.DataObject) -> None:
    """Each field under its wire name or any TLC spelling, in any order: the same validated record."""
    wire_form = wire.normalize_keys(TLC_RECORD_EXAMPLE)
    items = list(wire_form.items())
    order = data.draw(st.permutations(range(len(items))))
    body = {}
    for i in order:
        name, value = items[i]
        body[data.draw(st.sampled_from([name, *ALIASES_BY_FIELD.get(name, [])]))] = value
    [tx] = _parse(body)
    assert tx == wire_form
