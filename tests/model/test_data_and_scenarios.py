"""The vectorised loader equals the wire encoder, the month split never overlaps, scenarios do what they say."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from export import data, scenarios
from taxifraud.trip_files import read_columns
from taxifraud.wire import CHARGE_COLUMNS, N_INPUT_COLUMNS, encode_rows, normalize_keys
from taxifraud.wire import COLUMN_INDEX as C

HAVE_DATA = (data.data_dir() / data.SAMPLES_DIR).is_dir()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="shared data not available")


@needs_data
def test_loader_matches_encode_rows() -> None:
    month = "2019-06"
    path = data.data_dir() / data.SAMPLES_DIR / f"yellow_tripdata_sample_{month}.csv"
    with path.open() as fh:
        records = [r for _, r in zip(range(500), csv.DictReader(fh), strict=False)]
    expected = encode_rows(records)
    # Fees that did not exist in 2019 carry their true amount, $0, where the file has no column.
    expected[:, C["airport_fee"]] = 0.0
    expected[:, C["cbd_congestion_fee"]] = 0.0
    got = data.load_month(month).rows[:500]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5, equal_nan=True)


@needs_data
def test_recent_loader_reads_tlc_files_as_they_are_and_matches_encode_rows() -> None:
    """TLC's own column names (``Airport_fee``, ``PULocationID``...) and Parquet timestamps, no renaming by hand."""
    import pyarrow.parquet as pq

    path = data.data_dir() / data.RECENT_DIR / "yellow_2025-01_head10k.parquet"
    if not path.exists():
        pytest.skip("recent TLC samples not available")
    table = pq.read_table(path).slice(0, 300)
    records = [normalize_keys(r) for r in table.to_pylist()]
    expected = encode_rows(records)
    got = data.table_from_columns(read_columns(path, data.MODEL_FIELDS), "2025-01").rows[:300]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5, equal_nan=True)
    assert np.isfinite(got[:, C["cbd_congestion_fee"]]).all() and np.isfinite(got[:, C["airport_fee"]]).all()


@needs_data
def test_both_eras_in_every_role() -> None:
    assert data.recent_available()
    for role in ("train", "validation", "test"):
        recent = data.load_recent(role)
        assert len(recent) > 900, role
        assert (
            recent.rows[:, C["pickup_day"]] >= (np.datetime64("2022-12-31") - np.datetime64("1970-01-01")).astype(int)
        ).all()
    # No file's month serves two roles; the 2024 random sample gives every role whole months of its own.
    held = {(file, month) for file, month, role, _ in data.RECENT_FILES if role != "train"}
    assert not held & {(file, month) for file, month, role, _ in data.RECENT_FILES if role == "train"}
    random_roles = {role for file, _, role, _ in data.RECENT_FILES if file == "yellow_2024_random123k.parquet"}
    assert random_roles == {"train", "validation", "test"}


@needs_data
def test_month_split_is_disjoint_and_spans_years() -> None:
    split = data.split_months()
    train, val, test = (set(split[k]) for k in ("train", "validation", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    for part in (val, test):
        assert {m[:4] for m in part} == {"2018", "2019", "2020"}


def _day(text: str) -> int:
    return int((np.datetime64(text) - np.datetime64("1970-01-01")).astype(int))


def _clean_rows() -> np.ndarray:
    """400 ordinary trips: half a Saturday of 2023, half a Wednesday of 2019; half in Queens, half in Midtown."""
    rng = np.random.default_rng(0)
    n = 400
    dist = rng.uniform(0.5, 10, n)
    dur = dist * rng.uniform(3, 6, n)
    fare = 2.5 + 2.5 * dist
    recent = np.arange(n) < n // 2
    queens = np.arange(n) % 2 == 0
    rows = np.full((n, N_INPUT_COLUMNS), np.nan, dtype=np.float32)
    for col, v in (
        ("pickup_day", np.where(recent, _day("2023-06-10"), _day("2019-06-05"))),
        ("pickup_weekday", np.where(recent, 5.0, 2.0)),
        ("pickup_hour", 14.2),
        ("rate_code_id", 1.0),
        ("pickup_location_id", np.where(queens, 7.0, 161.0)),
        ("dropoff_location_id", np.where(queens, 82.0, 237.0)),
        ("airport_fee", 0.0),
        ("cbd_congestion_fee", 0.0),
        ("trip_distance", dist),
        ("duration_minutes", dur),
        ("fare_amount", fare),
        ("extra", 0.5),
        ("mta_tax", 0.5),
        ("tip_amount", fare * 0.2),
        ("tolls_amount", 0.0),
        ("improvement_surcharge", np.where(recent, 1.0, 0.3)),
        ("congestion_surcharge", np.where(queens, 0.0, 2.5)),
        ("payment_type", 1.0),
    ):
        rows[:, C[col]] = v
    rows[:, C["total_amount"]] = sum(rows[:, C[p]] for p in CHARGE_COLUMNS)
    return rows


def _gap(rows: np.ndarray) -> np.ndarray:
    parts = sum(rows[:, C[p]] for p in scenarios.PARTS)
    return np.asarray(rows[:, C["total_amount"]] - parts)


@needs_data  # the congestion family reads Manhattan's zones from TLC's zone lookup
def test_scenarios_keep_totals_consistent_except_total_mismatch() -> None:
    base = _clean_rows()
    rng = np.random.default_rng(1)
    for fam in scenarios.FAMILIES:
        pool = base if fam.base_filter is None else base[fam.base_filter(base)]
        assert len(pool), f"{fam.name}: no base trip qualifies"
        out = fam.apply(pool, rng)
        assert out.shape == pool.shape
        assert not np.array_equal(out, pool, equal_nan=True), fam.name
        gap = _gap(out)
        if fam.name in ("total_mismatch", "total_skim"):
            assert (gap >= 2.99).all(), fam.name
        elif fam.name == "total_skim_no_congestion":  # the skim plus whatever congestion surcharge was dropped
            assert np.isnan(out[:, C["congestion_surcharge"]]).all()
            dropped = out.copy()
            dropped[:, C["congestion_surcharge"]] = 0.0
            assert (_gap(dropped) >= 3.99).all(), fam.name
        else:
            assert np.abs(gap).max() < 0.02, fam.name


def test_scenarios_describe_their_fraud() -> None:
    base = _clean_rows()
    rng = np.random.default_rng(2)
    speed = scenarios.impossible_speed(base, rng)
    mph = speed[:, C["trip_distance"]] / (speed[:, C["duration_minutes"]] / 60)
    assert (mph > 85).all()
    inflated = scenarios.fare_inflation(base, rng)
    ratio = inflated[:, C["fare_amount"]] / base[:, C["fare_amount"]]
    assert ratio.min() >= 1.99 and ratio.max() <= 6.01
    assert (scenarios.ride_without_duration(base, rng)[:, C["duration_minutes"]] <= 0.5).all()
    assert (scenarios.charge_without_distance(base, rng)[:, C["trip_distance"]] <= 0.05).all()


@needs_data  # the congestion family reads Manhattan's zones from TLC's zone lookup
def test_context_overcharges_bill_the_tariff_amount_where_the_rule_does_not_apply() -> None:
    base = _clean_rows()
    rng = np.random.default_rng(3)
    recent_weekend = base[:200]
    night = scenarios.night_surcharge_by_day(recent_weekend, rng)
    assert np.allclose(night[:, C["extra"]] - recent_weekend[:, C["extra"]], 1.0)  # the 2022-12-19 night rate
    old = base[200:]
    assert np.allclose(scenarios.night_surcharge_by_day(old, rng)[:, C["extra"]] - old[:, C["extra"]], 0.5)
    outside = base[scenarios._outside_congestion_zone(base)]
    assert len(outside) and (outside[:, C["pickup_location_id"]] == 7).all()
    assert (scenarios.congestion_outside_zone(outside, rng)[:, C["congestion_surcharge"]] == 2.5).all()
    fee_pool = base[scenarios._not_airport_pickup(base)]
    assert len(fee_pool) == 200, "the airport fee exists only from 2021-04-05: the 2019 half does not qualify"
    assert (scenarios.airport_fee_off_airport(fee_pool, rng)[:, C["airport_fee"]] == 1.75).all()


def _table(rows: list[dict]) -> data.TripTable:
    encoded = encode_rows(rows)
    n = len(rows)
    return data.TripTable(encoded, np.full(n, "2019-06"), np.full(n, "2019-06"))


def test_cleaning_rules_drop_dirt_and_keep_missing_optional_fields() -> None:
    ok = {"trip_distance": 2.0, "duration_minutes": 12.0, "fare_amount": 10.0, "total_amount": 13.8, "tip_amount": 1}
    table = _table(
        [
            ok,
            {**ok, "payment_type": None, "rate_code_id": None, "passenger_count": None},  # 2020-style: kept
            {**ok, "fare_amount": -10.0, "total_amount": -13.8},  # refund
            {**ok, "trip_distance": 0.0},  # no distance
            {**ok, "duration_minutes": 0.5},  # void
            {**ok, "trip_distance": 40.0, "duration_minutes": 10.0},  # 240 mph
            {**ok, "rate_code_id": 99},
        ]
    )
    keep, counts = data.clean_mask(table)
    assert keep.tolist() == [True, True, False, False, False, False, False]
    assert counts["negative amount (refund/adjustment)"] == 1
    assert counts["average speed above 65 mph"] == 1
    assert sum(counts.values()) == 5


def test_route_table_learns_a_zone_pair_and_falls_back_for_unseen_pairs() -> None:
    import torch

    from export.features import N_ZONE_SLOTS, FeatureGraph
    from export.train import fit_route_table

    graph = FeatureGraph()
    graph.set_zone_boroughs({1: "EWR", 2: "Queens", 3: "Queens", 4: "Manhattan"})
    rows = np.full((400, N_INPUT_COLUMNS), np.nan, dtype=np.float32)
    rows[:, C["pickup_location_id"]] = 2
    rows[:, C["dropoff_location_id"]] = np.where(np.arange(400) < 200, 3, 4)
    rows[:, C["trip_distance"]] = np.where(np.arange(400) < 200, 1.0, 9.0)
    fit_route_table(graph, rows)
    table = graph.route_log_distance.numpy().reshape(N_ZONE_SLOTS, N_ZONE_SLOTS)
    assert table[2, 3] == pytest.approx(np.log1p(1.0), abs=0.01)  # 200 trips: its own median
    assert table[2, 4] == pytest.approx(np.log1p(9.0), abs=0.01)
    assert table[3, 2] == pytest.approx(np.log1p(1.0), abs=1e-5)  # unseen pair: its boroughs' (Queens-Queens)
    global_median = (np.log1p(1.0) + np.log1p(9.0)) / 2
    assert table[4, 1] == pytest.approx(global_median, abs=1e-5)  # unseen boroughs (Manhattan-EWR): global
    assert torch.isfinite(graph.route_log_distance).all()


def test_a_pair_seen_rarely_with_an_end_whose_trips_mostly_pay_tolls_may_pay_a_toll() -> None:
    """Manhattan -> Manhattan pairs almost never pay tolls, but zone 5 (an island reached over a tolled bridge)
    pays on 90% of its trips: an unseen pair ending there is not held to the boroughs' rate, one between two
    ordinary zones still is, and a zone seen too rarely lifts nothing."""
    from export.features import N_ZONE_SLOTS, FeatureGraph
    from export.train import MIN_ZONE_TRIPS, fit_toll_pay_rate

    graph = FeatureGraph()
    graph.set_zone_boroughs({z: "Manhattan" for z in range(2, 8)})
    pairs = [(2, 3)] * 400 + [(4, 5)] * 40 + [(6, 7)] * (MIN_ZONE_TRIPS - 2)
    rows = np.full((len(pairs), N_INPUT_COLUMNS), np.nan, dtype=np.float32)
    rows[:, C["pickup_location_id"]] = [a for a, _ in pairs]
    rows[:, C["dropoff_location_id"]] = [b for _, b in pairs]
    paid_at_5 = np.arange(len(pairs)) % 10 != 0
    island = rows[:, C["dropoff_location_id"]] == 5
    lonely = rows[:, C["dropoff_location_id"]] == 7
    rows[:, C["tolls_amount"]] = np.where((island & paid_at_5) | lonely, 6.94, 0.0)
    fit_toll_pay_rate(graph, rows)
    table = graph.toll_pay_rate.numpy().reshape(N_ZONE_SLOTS, N_ZONE_SLOTS)
    assert table[2, 3] < 0.01  # its own 400 trips: no tolls
    assert table[3, 5] == pytest.approx(0.9, abs=0.01)  # unseen, ends at the island
    assert table[5, 2] == pytest.approx(0.9, abs=0.01)
    assert table[2, 6] < 0.25  # unseen, ordinary ends: the boroughs' rate
    assert table[2, 7] == pytest.approx(table[2, 6], abs=1e-6), "zone 7 is seen too rarely to lift its pairs"
