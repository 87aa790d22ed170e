"""The rule checks that decide, through the committed model: each broken rule is flagged with a reason that
names the rule and the date of the tariff it judged by, still with a field missing where the other fields
decide, and a charge the tariff allows at that place and time is never, by itself, a flag."""

from __future__ import annotations

from typing import Any

import pytest

from taxifraud.reasons import Reason, explain_batch
from taxifraud.wire import encode_rows
from tests.model.conftest import trip


def verdict(scorer, meta, tx: dict[str, Any]) -> tuple[bool, list[Reason]]:
    rows = encode_rows([tx])
    out = scorer.infer(rows)
    reasons = explain_batch(rows, out["feature_errors"], out["feature_expected"], meta)[0]
    return bool(out["is_fraud"][0, 0]), reasons


def without(tx: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in tx.items() if k not in fields}


#: An ordinary Midtown trip (see conftest) priced by the 2019 tariff: $0.50 MTA tax, $0.30 improvement
#: surcharge, $2.50 congestion surcharge; total $17.80.
BASE = trip()
#: The same trip on a Wednesday in the 2019 rush hour (4-8 pm weekdays: $1.00; night, from 8 pm: $0.50).
RUSH_TRIP = trip(pickup_datetime="2019-06-05 17:10:00", dropoff_datetime="2019-06-05 17:25:00")
#: A real 2024 daytime LaGuardia pickup (TLC's 2024 file): $5.00 LaGuardia surcharge in `extra`, $1.75
#: airport fee, tolls through the Queens-Midtown tunnel.
LGA_DAY: dict[str, Any] = {
    "vendor_id": 2,
    "pickup_datetime": "2024-01-01 11:38:36",
    "dropoff_datetime": "2024-01-01 12:10:10",
    "passenger_count": 1,
    "trip_distance": 10.13,
    "rate_code_id": 1,
    "pickup_location_id": 138,
    "dropoff_location_id": 163,
    "payment_type": 2,
    "fare_amount": 40.1,
    "extra": 5.0,
    "mta_tax": 0.5,
    "tip_amount": 0.0,
    "tolls_amount": 6.94,
    "improvement_surcharge": 1.0,
    "total_amount": 57.79,
    "congestion_surcharge": 2.5,
    "airport_fee": 1.75,
}
#: A real 2024 night LaGuardia pickup: $6.00 in `extra` (LaGuardia $5.00 + night $1.00).
LGA_NIGHT: dict[str, Any] = {
    **LGA_DAY,
    "pickup_datetime": "2024-01-01 20:47:09",
    "dropoff_datetime": "2024-01-01 21:17:00",
    "passenger_count": 2,
    "trip_distance": 8.72,
    "dropoff_location_id": 236,
    "payment_type": 1,
    "fare_amount": 34.5,
    "extra": 6.0,
    "tip_amount": 15.43,
    "total_amount": 68.62,
}


@pytest.mark.parametrize(
    ("tx", "family", "fragments", "drop"),
    [
        (
            {**BASE, "rate_code_id": 4, "fare_amount": 25.0, "total_amount": 30.3},
            "rate",
            ("rate code 4 (out-of-city rate", "starts and ends in New York City", "in force since 2019-02-02"),
            ("payment_type", "tip_amount", "passenger_count"),
        ),
        (
            {**BASE, "tolls_amount": 6.12, "total_amount": 23.92},
            "tolls",
            ("tolls $6.12 on a route that crosses no tolled bridge or tunnel", "in force since 2019-02-02"),
            ("congestion_surcharge", "passenger_count"),
        ),
        (
            {**BASE, "extra": 3.0, "total_amount": 20.8},
            "surcharge",
            ("extra $3.00 is $3.00 more than the tariff's surcharges for a pickup at 14:10", "since 2019-02-02"),
            ("tip_amount", "payment_type"),
        ),
        (
            {**BASE, "total_amount": 64.8},
            "total",
            ("total exceeds its parts by $47.00",),
            (),
        ),
        (
            {**BASE, "fare_amount": 40.0, "total_amount": 45.3},
            "fare",
            ("fare $40.00 is above the most the meter can charge", "in force since 2019-02-02"),
            ("tip_amount", "payment_type", "pickup_location_id", "dropoff_location_id"),
        ),
        (
            {**BASE, "trip_distance": 0.02},
            "distance",
            ("distance 0.02 mi cannot have billed a fare of $12.50",),
            ("rate_code_id", "pickup_location_id", "dropoff_location_id", "tip_amount"),
        ),
        (
            {**BASE, "trip_distance": 17.5, "fare_amount": 50.0, "total_amount": 55.3},
            "distance",
            # The usual route is the zone pair's own (about a mile), not a guess pulled up by the padded miles.
            ("distance 17.5 mi is 16.6x the usual ~1.1 mi between zones 161 -> 237, in 15 min: miles the time",),
            ("tip_amount", "payment_type", "rate_code_id"),
        ),
        (
            # The same phantom miles on a round trip within Midtown: no route to run beyond, but 50 mph.
            {**BASE, "dropoff_location_id": 161, "trip_distance": 12.5, "fare_amount": 37.5, "total_amount": 42.8},
            "distance",
            ("distance 12.5 mi in 15 min is 50 mph on average, far faster than trips between zones 161 -> 161 run",),
            ("tip_amount", "payment_type", "rate_code_id", "congestion_surcharge"),
        ),
        (
            {**BASE, "tip_amount": 40.0, "total_amount": 55.8},
            "tip",
            ("tip $40.00 is 320% of the $12.50 fare",),
            ("payment_type", "pickup_location_id", "dropoff_location_id", "rate_code_id"),
        ),
    ],
    ids=[
        "out_of_city_rate",
        "tolls",
        "extra",
        "total",
        "fare_beyond_meter",
        "fare_without_distance",
        "gps_jump",
        "gps_jump_within_one_zone",
        "tip_beyond_fare",
    ],
)
def test_a_broken_rule_is_flagged_with_its_rule_and_date(scorer, meta, tx, family, fragments, drop) -> None:
    flagged, reasons = verdict(scorer, meta, tx)
    assert flagged, reasons
    assert reasons[0].family == family, reasons
    assert all(f in reasons[0].text for f in fragments), reasons[0].text
    if drop:
        flagged, reasons = verdict(scorer, meta, without(tx, *drop))
        assert flagged, f"still decidable without {drop}"
        assert reasons[0].family == family, reasons


def test_a_total_skim_is_decided_without_the_congestion_column(scorer, meta) -> None:
    """$49.50 above the parts present with `congestion_surcharge` missing: at most $2.50 of it could be that
    surcharge, so $47.00 is decided."""
    tx = without({**BASE, "total_amount": 64.8}, "congestion_surcharge")
    flagged, reasons = verdict(scorer, meta, tx)
    assert flagged, reasons
    assert reasons[0].family == "total"
    assert "total exceeds its parts by $47.00 even with the missing congestion surcharge" in reasons[0].text


def test_the_same_records_unbroken_are_not_flagged(scorer, meta) -> None:
    assert verdict(scorer, meta, BASE) == (False, [])
    assert not verdict(scorer, meta, without(BASE, "congestion_surcharge"))[0]


@pytest.mark.parametrize("tx", [LGA_DAY, LGA_NIGHT], ids=["lga_day_5", "lga_night_6"])
def test_charges_the_tariff_allows_at_laguardia_are_not_flagged(scorer, meta, tx) -> None:
    flagged, reasons = verdict(scorer, meta, tx)
    assert not flagged, reasons


def test_the_same_laguardia_charges_away_from_laguardia_are_flagged(scorer, meta) -> None:
    """The control for the test above: the $5.00 is judged by place, not waved through."""
    flagged, reasons = verdict(scorer, meta, {**LGA_DAY, "pickup_location_id": 132, "airport_fee": 1.75})
    assert flagged, reasons
    assert any(r.family == "surcharge" and "LaGuardia" not in r.text for r in reasons), reasons


def test_an_airport_fee_at_an_airport_is_not_flagged_but_on_the_street_it_is(scorer, meta) -> None:
    street = {**LGA_DAY, "pickup_location_id": 161, "dropoff_location_id": 138, "extra": 5.0}
    flagged, reasons = verdict(scorer, meta, street)
    assert flagged and any("airport fee $1.75 on a pickup that was not at an airport" in r.text for r in reasons)
    assert not verdict(scorer, meta, without(LGA_DAY, "extra"))[0]


#: A real 2024 JFK pickup from vendor 1 without the airport fee, congestion, rate code and passenger columns
#: (TLC's payment-type-0 rows): the $70 JFK flat fare, and the $1.75 airport fee folded into `extra`.
JFK_NO_FEE_COLUMN: dict[str, Any] = {
    "vendor_id": 1,
    "pickup_datetime": "2024-06-23 15:12:00",
    "dropoff_datetime": "2024-06-23 16:12:27",
    "trip_distance": 17.4,
    "pickup_location_id": 132,
    "dropoff_location_id": 41,
    "payment_type": 0,
    "fare_amount": 70.0,
    "extra": 1.75,
    "mta_tax": 0.5,
    "tip_amount": 12.02,
    "tolls_amount": 6.94,
    "improvement_surcharge": 1.0,
    "total_amount": 92.21,
}


def test_an_airport_fee_folded_into_extra_is_judged_over_the_missing_fee_column(scorer, meta) -> None:
    """Without the airport fee column, the fee the tariff bills at that pickup may sit in `extra`; away from an
    airport the same $1.75 is a charge no rule explains."""
    flagged, reasons = verdict(scorer, meta, JFK_NO_FEE_COLUMN)
    assert not flagged, reasons
    flagged, reasons = verdict(scorer, meta, {**JFK_NO_FEE_COLUMN, "extra": 3.75, "total_amount": 94.21})
    assert flagged and reasons[0].family == "surcharge", "$2.00 beyond the folded fee still decides"
    street = {**JFK_NO_FEE_COLUMN, "pickup_location_id": 161, "dropoff_location_id": 132}
    flagged, reasons = verdict(scorer, meta, street)
    assert flagged and any(r.family == "surcharge" for r in reasons), reasons


#: A 2025 Midtown -> Upper East Side ride under the congestion relief zone fee (from 2025-01-05), every charge
#: itemised as vendor 2 bills it: $2.50 congestion surcharge and $0.75 relief-zone fee in their own columns.
CRZ_2025: dict[str, Any] = {
    **trip(pickup_datetime="2025-02-12 14:10:00", dropoff_datetime="2025-02-12 14:25:00"),
    "fare_amount": 15.6,
    "improvement_surcharge": 1.0,
    "cbd_congestion_fee": 0.75,
    "total_amount": 22.35,
}


def test_a_relief_zone_fee_folded_into_extra_is_a_vendor_1_convention(scorer, meta) -> None:
    """Vendor 1 folds the per-trip charges added after the meter into `extra` (the total counts them once there);
    the relief-zone fee is judged like the congestion surcharge and the airport fee, with or without its column."""
    assert not verdict(scorer, meta, CRZ_2025)[0], verdict(scorer, meta, CRZ_2025)[1]
    folded = {**CRZ_2025, "vendor_id": 1, "extra": 3.25, "total_amount": 22.35}
    flagged, reasons = verdict(scorer, meta, folded)
    assert not flagged, reasons
    flagged, reasons = verdict(scorer, meta, without(folded, "cbd_congestion_fee", "congestion_surcharge"))
    assert not flagged, reasons
    flagged, reasons = verdict(scorer, meta, {**folded, "vendor_id": 2})
    assert flagged and reasons[0].family == "surcharge", "vendor 2 itemises: $3.25 in extra at 2 pm is unexplained"


#: A 2025 JFK -> Midtown flat-fare ride billed as vendor 1 billed its 2024 airport pickups: the $2.50 congestion
#: surcharge and the $1.75 airport fee folded into `extra` ($4.25) and shown in their columns as well, the total
#: counting them once; the $0.75 relief-zone fee itemised in its own column.
JFK_CRZ_VENDOR1: dict[str, Any] = {
    "vendor_id": 1,
    "pickup_datetime": "2025-02-12 13:10:00",
    "dropoff_datetime": "2025-02-12 13:58:00",
    "passenger_count": 1,
    "trip_distance": 17.5,
    "rate_code_id": 2,
    "pickup_location_id": 132,
    "dropoff_location_id": 161,
    "payment_type": 2,
    "fare_amount": 70.0,
    "extra": 4.25,
    "mta_tax": 0.5,
    "tip_amount": 0.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 1.0,
    "congestion_surcharge": 2.5,
    "airport_fee": 1.75,
    "cbd_congestion_fee": 0.75,
    "total_amount": 76.5,
}


def test_each_per_trip_fee_is_folded_into_extra_or_itemised_on_its_own(scorer, meta) -> None:
    """A vendor that folds the airport fee need not fold the relief-zone fee with it: either fee in `extra`, in
    its column or in both is what the tariff allows, and a dollar no fee explains still decides."""
    flagged, reasons = verdict(scorer, meta, JFK_CRZ_VENDOR1)
    assert not flagged, reasons
    both_folded = {**JFK_CRZ_VENDOR1, "extra": 5.0, "total_amount": 76.5}
    flagged, reasons = verdict(scorer, meta, both_folded)
    assert not flagged, reasons
    in_extra_alone = {**JFK_CRZ_VENDOR1, "extra": 5.0, "cbd_congestion_fee": 0.0, "total_amount": 76.5}
    flagged, reasons = verdict(scorer, meta, in_extra_alone)
    assert not flagged, reasons
    flagged, reasons = verdict(scorer, meta, {**in_extra_alone, "vendor_id": 2})
    assert flagged and reasons[0].family == "surcharge", "vendor 2 itemises: the fee belongs in its column"
    padded = {**JFK_CRZ_VENDOR1, "extra": 6.25, "total_amount": 78.5}
    flagged, reasons = verdict(scorer, meta, padded)
    assert flagged and reasons[0].family == "surcharge", reasons


def test_a_long_haul_on_a_known_route_is_flagged_as_a_route(scorer, meta) -> None:
    """Midtown -> Upper East Side (a couple of miles) driven as 11 mi in 70 min, billed by the meter: distance
    and time both far beyond the pair's usual route."""
    tx = {
        **BASE,
        "trip_distance": 11.0,
        "dropoff_datetime": "2019-06-05 15:20:00",
        "fare_amount": 40.0,
        "tip_amount": 8.0,
        "total_amount": 51.3,
    }
    flagged, reasons = verdict(scorer, meta, tx)
    assert flagged, reasons
    assert reasons[0].family == "route" and "a long way round" in reasons[0].text, reasons
    # The same miles and minutes at 3 am, when the pair's usual time is shorter, are still a long way round.
    night = {**tx, "pickup_datetime": "2019-06-05 03:10:00", "dropoff_datetime": "2019-06-05 04:20:00"}
    flagged, reasons = verdict(scorer, meta, night)
    assert flagged and reasons[0].family == "route", reasons
    # Starting and ending in one zone, the ride had no usual route to stretch: no route reason, whatever else.
    round_trip = {**tx, "dropoff_location_id": tx["pickup_location_id"]}
    assert not any("a long way round" in r.text for r in verdict(scorer, meta, round_trip)[1])


#: A real 2019 app-dispatched row (no vendor id, rate code or payment type): the for-hire congestion
#: surcharge, $2.75, billed in `extra` with the congestion column at $0.
FOR_HIRE = without(
    {**BASE, "extra": 2.75, "congestion_surcharge": 0.0, "tip_amount": 0.0, "total_amount": 16.05},
    "vendor_id",
    "rate_code_id",
    "payment_type",
)


@pytest.mark.parametrize(
    "tx",
    [
        FOR_HIRE,
        {**BASE, "extra": 2.5, "congestion_surcharge": 0.0},  # the surcharge billed in `extra`, not its column
        {
            **BASE,
            "pickup_datetime": "2019-06-05 15:20:00",
            "dropoff_datetime": "2019-06-05 15:35:00",
            "extra": 1.0,
            "total_amount": 18.8,
        },  # rush hour billed from 3:20 pm: a meter clock an hour early
        {**RUSH_TRIP, "extra": 0.5, "total_amount": 18.3},  # the night amount in rush hour: less than it allows
    ],
    ids=["for_hire_congestion_in_extra", "congestion_in_extra", "rush_from_3pm", "night_amount_in_rush_hour"],
)
def test_charges_a_meter_bills_legally_in_another_place_or_clock_are_not_flagged(scorer, meta, tx) -> None:
    flagged, reasons = verdict(scorer, meta, tx)
    assert not flagged, reasons


def test_more_than_the_rush_surcharge_in_rush_hour_is_flagged(scorer, meta) -> None:
    """The control for the undercharge above: rush hour allows the night amount or the rush amount, never both
    outside the night's window ($1.50 on a 5:10 pm weekday ride in 2019)."""
    flagged, reasons = verdict(scorer, meta, {**RUSH_TRIP, "extra": 1.5, "total_amount": 19.3})
    assert flagged, reasons
    assert any(r.family == "surcharge" for r in reasons), reasons
    assert not verdict(scorer, meta, {**RUSH_TRIP, "extra": 1.0, "total_amount": 18.8})[0]


def test_the_same_congestion_amount_in_extra_outside_the_zone_is_flagged(scorer, meta) -> None:
    """The control: a Bronx ride (zones 247 -> 69) passes through no congestion zone, so $2.50 in `extra` is
    unexplained."""
    tx = {**BASE, "extra": 2.5, "congestion_surcharge": 0.0, "pickup_location_id": 247, "dropoff_location_id": 69}
    flagged, reasons = verdict(scorer, meta, tx)
    assert flagged, reasons
    assert any(r.family == "surcharge" for r in reasons), reasons


def test_a_congestion_surcharge_on_a_pair_that_rarely_pays_it_is_decided(scorer, meta) -> None:
    """East Harlem South -> North (zones 75 -> 74, north of 96th Street): about 1 in 230 of the pair's 2018-2020
    training trips pay the congestion surcharge, rarer than the 1 in 150 that decides; the same trip without it
    is ordinary."""
    short = {**BASE, "pickup_location_id": 75, "dropoff_location_id": 74, "trip_distance": 0.9}
    short |= {"dropoff_datetime": "2019-06-05 14:16:00", "fare_amount": 6.0, "tip_amount": 0.0}
    ordinary = {**short, "congestion_surcharge": 0.0, "total_amount": 6.8}
    flagged, reasons = verdict(scorer, meta, ordinary)
    assert not flagged, reasons
    out = scorer.infer(encode_rows([{**ordinary, "congestion_surcharge": 2.5, "total_amount": 9.3}]))
    assert float(out["anomaly_score"][0, 0]) >= 100.0
    flagged, reasons = verdict(scorer, meta, {**ordinary, "congestion_surcharge": 2.5, "total_amount": 9.3})
    assert flagged and reasons[0].family == "surcharge", reasons
    assert "neither starts nor ends in Manhattan south of 96th Street" in reasons[0].text, reasons[0].text


#: A real 2024 JFK -> Kew Gardens ride (TLC's 2024 file) billing the congestion surcharge: about 1 in 115 of the
#: pair's trips over both eras pay it, 1 in 240 of those before the 2022-12-19 fare change.
JFK_KEW_2024: dict[str, Any] = {
    "vendor_id": 2,
    "pickup_datetime": "2024-03-13 15:52:00",
    "dropoff_datetime": "2024-03-13 16:18:40",
    "passenger_count": 1,
    "trip_distance": 6.65,
    "rate_code_id": 1,
    "pickup_location_id": 132,
    "dropoff_location_id": 134,
    "payment_type": 1,
    "fare_amount": 31.7,
    "extra": 0.0,
    "mta_tax": 0.5,
    "tip_amount": 5.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 1.0,
    "congestion_surcharge": 2.5,
    "airport_fee": 1.75,
    "total_amount": 42.45,
}


def test_a_congestion_surcharge_outside_the_zone_is_judged_by_its_eras_pass_rate(scorer, meta) -> None:
    """The same ride in 2019, priced by the 2019 tariff: that era's trips on the pair almost never paid the
    surcharge, so it decides; in 2024 the pair pays it often enough that it does not decide on its own."""
    assert not verdict(scorer, meta, JFK_KEW_2024)[0]
    in_2019 = {
        **JFK_KEW_2024,
        "pickup_datetime": "2019-06-05 11:00:00",
        "dropoff_datetime": "2019-06-05 11:26:40",
        "fare_amount": 24.0,
        "improvement_surcharge": 0.3,
        "airport_fee": 0.0,
        "total_amount": 32.3,
    }
    flagged, reasons = verdict(scorer, meta, in_2019)
    assert flagged and reasons[0].family == "surcharge", reasons
    assert "congestion surcharge $2.50 on a trip that neither starts nor ends in Manhattan" in reasons[0].text
    assert not verdict(scorer, meta, {**in_2019, "congestion_surcharge": 0.0, "total_amount": 29.8})[0]
