"""The calibrated generator makes trips whose amounts add up; injected fraud changes what it claims."""

from __future__ import annotations

import numpy as np
import pytest

from operations.demo import judge
from operations.fraud_injection import FAMILIES, inject
from operations.traffic import TripGenerator
from operations.verdict_collector import Seen
from taxifraud import wire

PARTS = wire.CHARGE_COLUMNS


@pytest.fixture(scope="module")
def trips() -> list[dict]:
    return list(TripGenerator.from_file(seed=11).trips(2000))


def test_generated_trips_are_valid_and_consistent(trips: list[dict]) -> None:
    for t in trips:
        assert wire.missing_required(t) == []
        assert t["total_amount"] == pytest.approx(sum(t[k] for k in PARTS), abs=0.011)
        assert 0.1 <= t["trip_distance"] <= 60
        assert 1 <= t["pickup_location_id"] <= 265
    rows = wire.encode_rows(trips)
    minutes = rows[:, wire.COLUMN_INDEX["duration_minutes"]]
    mph = rows[:, wire.COLUMN_INDEX["trip_distance"]] / (minutes / 60)
    assert 5 < float(np.median(mph)) < 20, "NYC taxis crawl: median speed should be city-like"
    # The real 2019 median fare, $9.00, is 13 meter units; the generator bills today's tariff.
    from taxifraud import tariff

    rates = tariff.load().current().amounts
    units = (rows[:, wire.COLUMN_INDEX["fare_amount"]] - rates["initial_charge"]) / rates["unit_charge"]
    assert 9 < float(np.median(units)) < 19


def test_generator_is_seeded() -> None:
    a = list(TripGenerator.from_file(seed=5).trips(20))
    b = list(TripGenerator.from_file(seed=5).trips(20))
    assert a == b


def test_each_injection_changes_the_trip(trips: list[dict]) -> None:
    rng = np.random.default_rng(0)
    base = trips[0]
    for family in FAMILIES:
        bad = inject(base, family, rng)
        assert bad != base, family
        assert base == trips[0], "injection must not mutate its input"
    mismatch = inject(base, "total_mismatch", rng)
    assert mismatch["total_amount"] - sum(mismatch[k] for k in PARTS) >= 25


def test_judge_counts_confusion_and_families() -> None:
    labels = {"a": None, "b": None, "c": "fare_inflation", "d": "fare_inflation", "e": None}
    seen = {
        k: Seen(is_fraud=k in ("b", "c"), score=1.0, reasons=[], latency_s=None, scored_latency_s=None, seen_at=0.0)
        for k in ("a", "b", "c", "d")
    }
    quality, families = judge(labels, seen)
    assert (quality.tp, quality.fp, quality.fn, quality.tn) == (1, 1, 1, 1)
    assert families == {"fare_inflation": (1, 2)}


def test_generated_trips_are_priced_by_the_tariff_of_their_date() -> None:
    """Today's traffic by default (the current period's rates and fees); an older start gives that year's."""
    from datetime import datetime

    from taxifraud import tariff as tariffs
    from taxifraud.wire import CHARGE_COLUMNS

    t = tariffs.load()
    now = list(TripGenerator.from_file(seed=4).trips(300))
    current = t.current().amounts
    assert all(trip["improvement_surcharge"] == current["improvement_surcharge"] for trip in now)
    crz = set(t.zones["congestion_relief_zone"])
    in_crz = [tr for tr in now if tr["pickup_location_id"] in crz or tr["dropoff_location_id"] in crz]
    assert in_crz and all(tr["cbd_congestion_fee"] == current["cbd_congestion_fee"] for tr in in_crz)
    for trip in now:
        assert trip["total_amount"] == pytest.approx(sum(trip[c] for c in CHARGE_COLUMNS), abs=0.011)
        assert trip["pickup_datetime"] >= str(t.current().effective_from)
    old = list(TripGenerator.from_file(seed=4, start=datetime(2019, 6, 3)).trips(50))
    assert all(trip["improvement_surcharge"] == 0.3 and trip["cbd_congestion_fee"] == 0.0 for trip in old)


def test_tolls_are_billed_as_often_as_the_zone_pair_paid_them() -> None:
    """A pair whose real trips never paid a toll (inside Manhattan, JFK -> Brooklyn) gets none; a pair that
    always did gets one of the real amounts."""
    import json

    from operations.traffic import PROFILE_PATH

    profile = json.loads(PROFILE_PATH.read_text())
    never = {**profile["zone_pairs"][0], "pu": 132, "do": 181, "weight": 1, "toll_share": 0.0}
    always = {**never, "pu": 132, "do": 230, "toll_share": 1.0}
    gen = TripGenerator({**profile, "zone_pairs": [never, always]}, seed=3)
    tolls: dict[int, list[float]] = {181: [], 230: []}
    for trip in gen.trips(400):
        tolls[trip["dropoff_location_id"]].append(trip["tolls_amount"])
    assert tolls[181] and set(tolls[181]) == {0.0}
    assert tolls[230] and all(t > 0 for t in tolls[230])


def test_speeds_follow_the_zone_pair_and_the_hour() -> None:
    """A Midtown hop crawls where a JFK run does not, and both run faster at 3 am than at noon: the profile keeps
    each zone pair's speed as an offset from the city's at the pickup hour."""
    import json
    from datetime import datetime

    from operations.traffic import PROFILE_PATH

    profile = json.loads(PROFILE_PATH.read_text())
    by_pair = {(z["pu"], z["do"]): z for z in profile["zone_pairs"]}
    midtown, jfk = by_pair[(161, 237)], by_pair[(132, 181)]  # Midtown -> Upper East Side, JFK -> Park Slope
    mph: dict[tuple[int, int], list[float]] = {}
    for hour in (3, 12):
        gen = TripGenerator({**profile, "zone_pairs": [midtown, jfk]}, seed=5, start=datetime(2026, 3, 23, 0, 0))
        gen._how_p = np.zeros(168)
        gen._how_p[hour] = 1.0  # every trip on Monday at that hour
        for trip in gen.trips(600):
            rows = wire.encode_rows([trip])
            speed = trip["trip_distance"] / (rows[0, wire.COLUMN_INDEX["duration_minutes"]] / 60)
            mph.setdefault((trip["pickup_location_id"], hour), []).append(speed)
    median = {k: float(np.median(v)) for k, v in mph.items()}
    assert median[(161, 12)] < 12 < median[(132, 12)], median
    assert median[(161, 3)] > median[(161, 12)] and median[(132, 3)] > median[(132, 12)], median
