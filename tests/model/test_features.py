"""The feature graph on hand-made trips: physics, the fare in tariff units, totals, charges against the
tariff of the trip's date and place, and missing fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from export.data import TARIFF_PATH
from export.feature_specs import PASS_RATE_FLOOR
from export.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURES,
    PAIR_BUFFERS,
    PAIR_COLUMNS,
    ZONE_FLAGS,
    FeatureGraph,
    group_hides,
)
from taxifraud import tariff
from taxifraud.wire import COLUMN_INDEX, N_INPUT_COLUMNS, encode_rows
from tests.model.conftest import NORMAL_TRIP, SEED_COMPUTABLE, trip

#: An ordinary 2025 trip as TLC bills it: $3.00 + $0.70 units, $1.00 improvement, $0.75 relief-zone fee.
TRIP_2025 = {
    **NORMAL_TRIP,
    "pickup_datetime": "2025-02-04 14:10:00",
    "dropoff_datetime": "2025-02-04 14:25:00",
    "vendor_id": 2,
    "fare_amount": 17.0,
    "improvement_surcharge": 1.0,
    "airport_fee": 0.0,
    "cbd_congestion_fee": 0.75,
    "total_amount": 23.75,
}


def features(*txs: dict) -> tuple[np.ndarray, np.ndarray]:
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 132: "Queens", 7: "Queens", 82: "Queens"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.congestion_pass_rate.fill_(0.01)  # 1 in 100 trips of a pair outside the zone pays the surcharge
    graph.congestion_pass_rate_before.fill_(0.01)
    graph.congestion_pass_rate_vendor1.fill_(0.01)
    graph.congestion_pass_rate_vendor1_before.fill_(0.01)
    feats, mask, _ = graph(torch.from_numpy(encode_rows(list(txs))))
    return feats.numpy(), mask.numpy()


def slog(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


def test_known_speed_and_fare_in_meter_units() -> None:
    f, m = features(trip(trip_distance=10.0, dropoff_datetime="2019-06-05 14:40:00", fare_amount=30.0))
    assert m[0].all(), "every feature is computable from a full trip"
    assert f[0, FEATURE_INDEX["speed_mph"]] == pytest.approx(math.log1p(20.0), rel=1e-5)  # 10 mi in 30 min
    units = (30.0 - 2.5) / 0.5  # the 2012-2022 tariff: $2.50 + $0.50 a unit
    assert f[0, FEATURE_INDEX["fare_units"]] == pytest.approx(slog(units), rel=1e-5)
    assert f[0, FEATURE_INDEX["units_per_mile"]] == pytest.approx(slog(units / 10.0), rel=1e-5)
    assert f[0, FEATURE_INDEX["units_per_minute"]] == pytest.approx(slog(units / 30.0), rel=1e-5)
    assert f[0, FEATURE_INDEX["distance"]] == pytest.approx(slog(10.0), rel=1e-5)


def test_an_ordinary_2025_trip_is_ordinary_against_its_tariff() -> None:
    """The 2022 fare increase, the $1 improvement surcharge and the 2025 relief-zone fee are not deviations."""
    f, _ = features(TRIP_2025, NORMAL_TRIP)
    for name in (
        "total_gap",
        "improvement_vs_tariff",
        "mta_tax_vs_tariff",
        "congestion_vs_tariff",
        "cbd_fee_vs_tariff",
        "airport_fee_vs_tariff",
        "extra_vs_tariff",
        "congestion_unexpected",
        "cbd_fee_unexpected",
        "airport_fee_unexpected",
        "fare_above_meter",
    ):
        assert f[0, FEATURE_INDEX[name]] == pytest.approx(0.0, abs=1e-5), name
    # The same trip priced in 2025 units: ($17 - $3) / $0.70 = 20 units, as ($12.50 - $2.50) / $0.50 was in 2019.
    assert f[0, FEATURE_INDEX["fare_units"]] == pytest.approx(slog(20.0), rel=1e-5)
    assert f[1, FEATURE_INDEX["fare_units"]] == pytest.approx(slog(20.0), rel=1e-5)


def test_charges_the_tariff_does_not_allow_stand_out() -> None:
    f, _ = features(
        {**TRIP_2025, "improvement_surcharge": 0.3, "total_amount": 23.05},  # the pre-2023 amount in 2025
        {**NORMAL_TRIP, "cbd_congestion_fee": 0.75, "total_amount": 18.55},  # a 2025 fee on a 2019 trip
        {**TRIP_2025, "extra": 1.0, "total_amount": 24.75},  # the night surcharge at 14:10
        {**TRIP_2025, "pickup_location_id": 7, "dropoff_location_id": 82},  # congestion surcharge, Queens only
        {**TRIP_2025, "airport_fee": 1.75, "total_amount": 25.5},  # airport fee on a Midtown pickup
        {**TRIP_2025, "rate_code_id": 2, "fare_amount": 70.0, "total_amount": 76.75},  # JFK flat, no JFK end
        {**TRIP_2025, "extra": 2.5, "dropoff_datetime": "2025-02-04 16:05:00", "total_amount": 26.25},  # ran into 4 pm
    )
    assert f[0, FEATURE_INDEX["improvement_vs_tariff"]] == pytest.approx(slog(0.3), rel=1e-4)
    assert f[1, FEATURE_INDEX["cbd_fee_vs_tariff"]] == pytest.approx(slog(0.75), rel=1e-4)
    assert f[2, FEATURE_INDEX["extra_vs_tariff"]] == pytest.approx(slog(1.0), rel=1e-4)
    assert f[3, FEATURE_INDEX["congestion_unexpected"]] == pytest.approx(math.log(100.0), rel=1e-5)
    assert f[4, FEATURE_INDEX["airport_fee_unexpected"]] == 1.0
    assert f[4, FEATURE_INDEX["total_gap"]] == pytest.approx(0.0, abs=1e-5), "the total follows its parts"
    assert f[5, FEATURE_INDEX["jfk_rate_off_route"]] == 1.0
    assert f[6, FEATURE_INDEX["extra_vs_tariff"]] == pytest.approx(0.0, abs=1e-5), "rush hour began during the ride"


def test_fare_above_what_the_meter_can_bill() -> None:
    # 2.5 mi in 15 min in 2019: at most $2.50 + $0.50 x (12.5 + 15) = $16.25.
    f, _ = features(trip(fare_amount=16.0), trip(fare_amount=26.25), trip(fare_amount=26.25, rate_code_id=5))
    above = f[:, FEATURE_INDEX["fare_above_meter"]]
    assert above[0] == 0.0
    assert above[1] == pytest.approx(slog(10.0), rel=1e-4)
    assert above[2] == 0.0, "a negotiated fare is not bound by the meter"


def test_a_fare_beyond_the_meters_ceiling_needs_the_standard_rate_code() -> None:
    # 2.5 mi in 15 min in 2019: ceiling $2.50 + 1.2 x $0.50 x (12.5 + 15) = $19.00.
    f, m = features(
        trip(fare_amount=19.0), trip(fare_amount=40.0), trip(fare_amount=40.0, rate_code_id=5), trip(rate_code_id=None)
    )
    k = FEATURE_INDEX["fare_beyond_meter"]
    assert f[0, k] == pytest.approx(0.0, abs=1e-5)
    assert f[1, k] == pytest.approx(slog(21.0), rel=1e-4)
    assert f[2, k] == 0.0, "a negotiated fare is not bound by the meter"
    assert not m[3, k], "without a rate code (upfront-priced rows) the check cannot decide"


def test_a_fare_without_distance_is_a_rule_break_only_above_what_standing_time_bills() -> None:
    f, _ = features(
        trip(trip_distance=0.03, fare_amount=12.5),  # 20 units with no miles
        trip(trip_distance=0.03, fare_amount=5.0),  # 5 units: a few minutes standing in traffic
        trip(trip_distance=0.03, fare_amount=12.5, rate_code_id=5),  # a negotiated fare
        {"trip_distance": 0.03, "fare_amount": 12.5, "duration_minutes": 15},  # the seed body still decides it
    )
    assert list(f[:, FEATURE_INDEX["fare_without_distance"]]) == [1.0, 0.0, 0.0, 1.0]


def test_a_tip_beyond_the_fare_is_a_rule_break_in_cents_and_beyond_one_and_a_half_fares_in_whole_dollars() -> None:
    f, m = features(
        trip(tip_amount=12.5, total_amount=28.3),  # the fare itself, keyed as the tip
        trip(tip_amount=12.51, total_amount=28.31),
        trip(tip_amount=18.0, total_amount=33.8),  # a round tip the rider typed, under 1.5 fares
        trip(tip_amount=19.0, total_amount=34.8),
        trip(),
    )
    assert list(f[:, FEATURE_INDEX["tip_beyond_fare"]]) == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert m[:, FEATURE_INDEX["tip_beyond_fare"]].all()


def test_congestion_in_extra_and_surcharge_clock_slack() -> None:
    """The congestion surcharge billed in `extra` instead of its column is legal where it applies (the for-hire
    $2.75 on rows without a vendor id), not elsewhere; a rush-hour surcharge from 3 pm is a meter clock off
    by an hour, at 2 pm it is not."""
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 7: "Queens", 82: "Queens"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    for table in (
        graph.congestion_pass_rate,
        graph.congestion_pass_rate_before,
        graph.congestion_pass_rate_vendor1,
        graph.congestion_pass_rate_vendor1_before,
    ):
        table.fill_(0.01)
        table[7 * 266 + 82] = 0.0005  # Astoria -> Elmhurst never passes through the zone
    in_zone = trip(extra=2.5, congestion_surcharge=0.0)
    rows = encode_rows(
        [
            in_zone,
            {**in_zone, "pickup_location_id": 7, "dropoff_location_id": 82},
            trip(extra=2.75, congestion_surcharge=0.0, vendor_id=None),
            trip(extra=2.75, congestion_surcharge=0.0),
            trip(pickup_datetime="2019-06-05 15:10:00", dropoff_datetime="2019-06-05 15:25:00", extra=1.0),
            trip(pickup_datetime="2019-06-05 13:50:00", dropoff_datetime="2019-06-05 14:05:00", extra=1.0),
        ]
    )
    extra = graph(torch.from_numpy(rows))[0].numpy()[:, FEATURE_INDEX["extra_vs_tariff"]]
    assert extra[[0, 2, 4]] == pytest.approx([0.0, 0.0, 0.0], abs=1e-5)
    assert extra[1] == pytest.approx(slog(2.5), rel=1e-4)
    assert extra[3] == pytest.approx(slog(0.25), rel=1e-3)
    assert extra[5] == pytest.approx(slog(1.0), rel=1e-4)


def test_a_zone_pair_is_judged_by_the_pass_rate_of_the_trips_era() -> None:
    """Before the 2022-12-19 fare change far fewer trips with no end in the zone paid the congestion surcharge:
    a trip of then is judged by that era's rate, a later or dateless one by both eras'. A surcharge folded into
    `extra` passes where either era's rate allows it."""
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 7: "Queens", 82: "Queens"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.congestion_pass_rate.fill_(0.05)
    graph.congestion_pass_rate_before.fill_(0.001)
    queens = {"pickup_location_id": 7, "dropoff_location_id": 82}
    dateless = {"trip_distance": 2.5, "fare_amount": 17.0, "duration_minutes": 15, "congestion_surcharge": 2.5}
    rows = encode_rows(
        [
            trip(**queens),
            {**TRIP_2025, **queens},
            {**dateless, **queens},
            trip(**queens, extra=2.5, congestion_surcharge=0.0),
        ]
    )
    f = graph(torch.from_numpy(rows))[0].numpy()
    unexpected = f[:, FEATURE_INDEX["congestion_unexpected"]]
    assert unexpected[0] == pytest.approx(-math.log(0.001), rel=1e-5)
    assert unexpected[1] == pytest.approx(-math.log(0.05), rel=1e-5)
    assert unexpected[2] == pytest.approx(-math.log(0.05), rel=1e-5)
    assert f[3, FEATURE_INDEX["extra_vs_tariff"]] == pytest.approx(0.0, abs=1e-5)


def test_a_vendor_1_trip_is_judged_by_how_often_that_vendors_meters_bill_the_congestion_surcharge() -> None:
    """Vendor 2's meters bill the surcharge on trips with no end in Manhattan far more often than vendor 1's:
    a vendor 1 trip is judged by the lower of its vendor's rate and all trips' of its era, any other (vendor 2,
    no vendor id) by all trips'. A surcharge folded into `extra` still passes where all trips' rate allows it."""
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 7: "Queens", 82: "Queens"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.congestion_pass_rate.fill_(0.05)
    graph.congestion_pass_rate_before.fill_(0.01)
    graph.congestion_pass_rate_vendor1.fill_(0.002)
    graph.congestion_pass_rate_vendor1_before.fill_(0.0005)
    graph.congestion_pass_rate_vendor1_before[82 * 266 + 7] = 0.02  # a pair vendor 1's few trips paid more often
    queens = {"pickup_location_id": 7, "dropoff_location_id": 82}
    rows = encode_rows(
        [
            {**TRIP_2025, **queens, "vendor_id": 1},
            {**TRIP_2025, **queens},
            {**TRIP_2025, **queens, "vendor_id": None},
            trip(**queens, vendor_id=1),
            trip(**queens),
            trip(**queens, vendor_id=1, extra=2.5, congestion_surcharge=0.0),
            trip(pickup_location_id=82, dropoff_location_id=7, vendor_id=1),
        ]
    )
    f = graph(torch.from_numpy(rows))[0].numpy()
    unexpected = f[:, FEATURE_INDEX["congestion_unexpected"]]
    expected = [-math.log(r) for r in (0.002, 0.05, 0.05, 0.0005, 0.01)]
    assert unexpected[:5] == pytest.approx(expected, rel=1e-5)
    assert unexpected[6] == pytest.approx(-math.log(0.01), rel=1e-5)
    assert f[5, FEATURE_INDEX["extra_vs_tariff"]] == pytest.approx(0.0, abs=1e-5)


def test_total_gap_accepts_every_vendor_convention_and_sees_padding() -> None:
    f, _ = features(
        NORMAL_TRIP,
        trip(total_amount=15.3),  # vendor 1: congestion surcharge left out of the total
        trip(extra=2.5, total_amount=17.8),  # vendor 1: congestion surcharge folded into extra as well
        trip(total_amount=55.8),  # $38 more than the parts
        {**TRIP_2025, "cbd_congestion_fee": None},  # an old-layout client: the fee sits in the total unitemised
    )
    gap = f[:, FEATURE_INDEX["total_gap"]]
    assert gap[:3] == pytest.approx([0.0, 0.0, 0.0], abs=1e-5)
    assert gap[3] == pytest.approx(slog(38.0), rel=1e-4)
    assert gap[4] == pytest.approx(0.0, abs=1e-5)


def test_a_dateless_record_is_priced_by_the_current_tariff() -> None:
    f, _ = features({"trip_distance": 2.5, "fare_amount": 17.0, "duration_minutes": 15})
    current = tariff.load(TARIFF_PATH).current().amounts
    units = (17.0 - current["initial_charge"]) / current["unit_charge"]
    assert f[0, FEATURE_INDEX["fare_units"]] == pytest.approx(slog(units), rel=1e-5)


def test_zero_and_negative_duration_make_speed_explode_not_nan() -> None:
    f, _ = features(
        {"trip_distance": 5.0, "fare_amount": 18.0, "duration_minutes": 0.0},
        {"trip_distance": 5.0, "fare_amount": 18.0, "duration_minutes": -3.0},
    )
    speed = f[:, FEATURE_INDEX["speed_mph"]]
    assert np.isfinite(f).all()
    assert (speed > math.log1p(1000.0)).all()


def test_missing_fields_mask_exactly_the_features_that_need_them() -> None:
    f, m = features(trip(trip_distance=None), {"trip_distance": 2.5, "fare_amount": 12.5, "duration_minutes": 15})
    needs_distance = {spec.name for spec in FEATURES if "trip_distance" in spec.inputs}
    for k, name in enumerate(FEATURE_NAMES):
        assert m[0, k] == (name not in needs_distance), name
    assert (f[0, ~m[0]] == 0).all(), "masked features are zeroed"
    seed_computable = {
        spec.name for spec in FEATURES if set(spec.inputs) <= {"trip_distance", "fare_amount", "duration_minutes"}
    }
    assert {FEATURE_NAMES[k] for k in np.flatnonzero(m[1])} == seed_computable
    assert seed_computable == SEED_COMPUTABLE


def test_inf_counts_as_missing_and_all_nan_row_is_finite() -> None:
    graph = FeatureGraph()
    graph.set_tariff(tariff.load(TARIFF_PATH))
    raw = torch.full((2, N_INPUT_COLUMNS), float("nan"))
    raw[1, COLUMN_INDEX["fare_amount"]] = float("inf")
    f, m, present = graph(raw)
    assert not m.any() and not present.any()
    assert torch.isfinite(f).all() and (f == 0).all()


def test_group_hiding_covers_every_feature_once_as_primary() -> None:
    hides = group_hides()
    assert hides.any(dim=0).all(), "every feature is hidden by at least one group"
    for spec in FEATURES:
        assert spec.group in {"money", "distance", "duration", "place", "time", "meta"}


def test_a_missing_part_of_the_total_is_decided_over_what_it_could_be() -> None:
    """Without `congestion_surcharge` a total $49.50 above the parts present still shows $47.00: at most $2.50
    of it can be the surcharge the record does not itemise."""
    f, m = features(
        trip(congestion_surcharge=None, total_amount=64.8),
        trip(congestion_surcharge=None),  # the surcharge simply not itemised: explained
        trip(congestion_surcharge=None, extra=None, mta_tax=None, improvement_surcharge=None, total_amount=64.8),
    )
    k = FEATURE_INDEX["total_gap"]
    assert m[:, k].all(), "a missing optional part never switches the check off"
    assert f[0, k] == pytest.approx(slog(47.0), rel=1e-4)
    assert f[1, k] == pytest.approx(0.0, abs=1e-5)
    # 2019 tariff, 14:10 on a weekday: extra could be at most night 0.50 + rush 1.00 + JFK rush 4.50 (+ no
    # LaGuardia surcharge yet), MTA 0.50, improvement 0.30: the gap left is still far above zero.
    assert f[2, k] > slog(30.0)


def test_out_of_city_rate_tolls_and_route_checks() -> None:
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 1: "EWR"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.toll_pay_rate.fill_(0.5)
    graph.toll_pay_rate[161 * 266 + 237] = 0.0005  # Midtown -> Upper East Side: no tolled crossing
    graph.route_log_distance.fill_(math.log1p(2.5))
    graph.route_log_minutes.fill_(math.log1p(15.0))
    graph.route_spread_distance.fill_(0.25)
    graph.route_spread_minutes.fill_(0.25)
    graph.route_trips.fill_(100.0)
    graph.route_trips[161 * 266 + 82] = 2.0  # a pair seen twice: its route is its boroughs' guess
    graph.route_hour_minutes[14 * 2] = 0.5  # a weekday at 2 pm: trips take e^0.5 times their all-hours time
    rows = encode_rows(
        [
            trip(rate_code_id=4),  # both ends in Manhattan
            trip(rate_code_id=4, dropoff_location_id=1),  # to Newark: leaves the city
            trip(tolls_amount=6.12, total_amount=23.92),
            trip(tolls_amount=6.12, total_amount=23.92, dropoff_location_id=1),  # a pair that often pays
            trip(trip_distance=10.0, dropoff_datetime="2019-06-05 15:10:00"),  # 4x the route, 4x the time
            trip(trip_distance=10.0),  # 4x the distance in the usual time: not a long haul by itself
            trip(trip_distance=10.0, pickup_location_id=265),  # an unknown end: no route to compare with
            trip(trip_distance=10.0, dropoff_location_id=82),  # a pair too rarely seen to judge by
            # The long haul of row 4 at 3 am (no hour offset), within one zone, and on the pair seen twice.
            trip(trip_distance=10.0, pickup_datetime="2019-06-05 03:10:00", dropoff_datetime="2019-06-05 04:10:00"),
            trip(trip_distance=10.0, dropoff_datetime="2019-06-05 15:10:00", dropoff_location_id=161),
            trip(trip_distance=10.0, dropoff_datetime="2019-06-05 15:10:00", dropoff_location_id=82),
        ]
    )
    f = graph(torch.from_numpy(rows))[0].numpy()
    occ = f[:, FEATURE_INDEX["out_of_city_rate_in_city"]]
    assert list(occ[:2]) == [1.0, 0.0]
    tolls = f[:, FEATURE_INDEX["tolls_unexpected"]]
    assert tolls[2] == pytest.approx(-math.log(0.0005), rel=1e-4)
    assert tolls[3] == pytest.approx(-math.log(0.5), rel=1e-4)
    assert f[0, FEATURE_INDEX["tolls_unexpected"]] == 0.0
    route = f[:, FEATURE_INDEX["route_excess"]]
    certain = 1.0 / math.sqrt(1.0 + 20.0 / 100.0)  # a pair seen 100 times
    beyond_miles = (math.log1p(10.0) - math.log1p(2.5)) / 0.25
    beyond_minutes_at_2pm = (math.log1p(60.0) - math.log1p(15.0) - 0.5) / 0.25
    assert beyond_minutes_at_2pm < beyond_miles
    assert route[4] == pytest.approx(beyond_minutes_at_2pm * certain, rel=1e-3), "the time judged at its hour"
    assert route[8] == pytest.approx(beyond_miles * certain, rel=1e-3), "3 am adds nothing to the usual time"
    assert route[5] == 0.0 and route[0] == 0.0
    assert route[6] == 0.0 and route[9] == 0.0, "an unknown end or a round trip in one zone has no route"
    assert route[10] == pytest.approx(beyond_minutes_at_2pm / math.sqrt(1.0 + 20.0 / 2.0), rel=1e-3)
    usual_minutes = f[:, FEATURE_INDEX["route_duration"]]
    assert usual_minutes[4] == pytest.approx(math.log1p(15.0) + 0.5, rel=1e-5)
    assert usual_minutes[8] == pytest.approx(math.log1p(15.0), rel=1e-5)
    jump = f[:, FEATURE_INDEX["distance_beyond_time"]]
    assert jump[5] == pytest.approx(beyond_miles, rel=1e-3), "miles, not minutes"
    assert jump[8] == 0.0, "the time grew with the distance: a long way round, not a jump"
    assert jump[4] == pytest.approx(beyond_miles - beyond_minutes_at_2pm, rel=1e-3), "60 min is less at 2 pm"
    assert jump[0] == 0.0 and jump[6] == 0.0 and jump[7] == 0.0


def test_a_speed_the_zone_pair_never_runs_is_judged_in_its_spreads() -> None:
    """Phantom miles on a real ride's minutes raise its average speed: judged against the pair's usual speed in
    the pair's spreads, within one zone too (where there is no route to run beyond), never on an unknown end
    or a pair too rarely seen."""
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 82: "Queens", 265: "N/A"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.route_log_distance.fill_(math.log1p(2.5))
    graph.route_log_minutes.fill_(math.log1p(15.0))
    graph.route_spread_distance.fill_(0.25)
    graph.route_spread_minutes.fill_(0.25)
    graph.route_log_speed.fill_(math.log1p(10.0))  # the normal trip: 2.5 mi in 15 min
    graph.route_spread_speed.fill_(0.3)
    graph.route_trips.fill_(100.0)
    graph.route_trips[161 * 266 + 82] = 2.0
    rows = encode_rows(
        [
            trip(),
            trip(trip_distance=12.5),  # 50 mph where trips run 10
            trip(trip_distance=12.5, dropoff_location_id=161),  # the same within one zone
            trip(trip_distance=12.5, pickup_location_id=265),  # an unknown end
            trip(trip_distance=12.5, dropoff_location_id=82),  # a pair seen twice
            trip(trip_distance=1.0),  # slower than usual: nothing to judge
        ]
    )
    f = graph(torch.from_numpy(rows))[0].numpy()
    fast = f[:, FEATURE_INDEX["speed_beyond_route"]]
    beyond = (math.log1p(50.0) - math.log1p(10.0)) / 0.3
    assert fast[1] == pytest.approx(beyond, rel=1e-4)
    assert fast[2] == pytest.approx(beyond, rel=1e-4), "a round trip in one zone is judged by its speed"
    assert fast[0] == 0.0 and fast[3] == 0.0 and fast[4] == 0.0 and fast[5] == 0.0
    jump = f[:, FEATURE_INDEX["distance_beyond_time"]]
    assert jump[1] > 0.0
    assert jump[2] == 0.0, "within one zone there is no route to run beyond"


def test_the_zone_and_pair_tables_say_what_each_zone_and_pair_is() -> None:
    """The one-lookup tables hold, for every zone slot and pair, the facts the rules used to ask one by one."""
    graph = FeatureGraph()
    graph.set_zone_boroughs({1: "EWR", 4: "Manhattan", 132: "Queens", 138: "Queens", 265: "N/A"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.route_trips.copy_(torch.arange(graph.route_trips.numel(), dtype=torch.float32))
    table = graph.zone_table()
    column = {name: table[:, i] for i, name in enumerate(ZONE_FLAGS)}
    for i, name in enumerate(tariff.ZONE_SETS):
        assert torch.equal(column[name], graph.zone_sets[i]), name
    assert column["airport_zone"].nonzero().flatten().tolist() == [1, 132, 138]
    assert column["unknown"].nonzero().flatten().tolist() == [0, 264, 265]
    assert column["manhattan"].nonzero().flatten().tolist() == [4]
    assert column["in_city"].nonzero().flatten().tolist() == [4, 132, 138]  # EWR is in New Jersey
    pairs = graph.pair_table()
    for j, name in enumerate(PAIR_BUFFERS):
        assert torch.equal(pairs[:, j], getattr(graph, name)), name
    certainty = pairs[:, PAIR_COLUMNS.index("route_certainty")]
    assert certainty[0] == certainty[1] == pytest.approx(1.0 / math.sqrt(21.0)), "never seen counts as seen once"
    assert certainty[20] == pytest.approx(1.0 / math.sqrt(2.0)), "a pair seen 20 times"
    graph.congestion_pass_rate_before.zero_()
    graph.congestion_pass_rate.zero_()
    graph.congestion_pass_rate_before[7] = PASS_RATE_FLOOR  # passes in the first era only
    graph.congestion_pass_rate[8] = PASS_RATE_FLOOR  # in the second only
    graph.congestion_pass_rate[9] = 0.99 * PASS_RATE_FLOOR
    may_pass = graph.pair_table()[:, PAIR_COLUMNS.index("may_pass_congestion_zone")]
    assert may_pass.nonzero().flatten().tolist() == [7, 8]
    assert torch.equal(may_pass > 0, graph.may_pass_congestion_zone()), "the rule and the reasons' metadata agree"
