"""Fraud scenario library: planted fraud on real held-out trips, for evaluation only.

Each family takes clean model-input rows (``[N, 17]``, wire layout) and returns modified copies.
Amounts stay internally consistent (the total is recomputed from its parts, keeping each row's own
convention about the congestion surcharge) except where the inconsistency *is* the fraud, so the model
cannot catch, say, fare inflation merely because the total stops adding up.

Parameters are ranges chosen to describe the fraud ("at least double the fare"), never tuned against
the model; the model was trained before these existed and knows nothing of them. The evaluation
also reports recall against a sweep of fare-inflation factors, so the limit (small overcharges) is
visible rather than hidden by the choice of range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from export.data import TARIFF_PATH, load_zone_boroughs
from taxifraud import tariff
from taxifraud.wire import CHARGE_COLUMNS, COLUMN_INDEX

C = COLUMN_INDEX
PARTS = CHARGE_COLUMNS
UNITS_PER_MILE = 5.0  # the meter bills per 1/5 mile: a GPS jump is billed like real miles, at the row's tariff


def _parts_sum(rows: np.ndarray) -> np.ndarray:
    return np.nansum(np.stack([rows[:, C[p]] for p in PARTS], axis=1), axis=1)


def _retotal(out: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Shift the total by however much the parts changed (keeps the row's own total convention)."""
    out[:, C["total_amount"]] = base[:, C["total_amount"]] + (_parts_sum(out) - _parts_sum(base))
    out[:, C["total_amount"]] = np.round(out[:, C["total_amount"]], 2)
    return out


def _loguniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """Multiplicative ranges (x2..x6, $3..$60) are drawn log-uniformly so small and large are equally common."""
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def fare_inflation(rows: np.ndarray, rng: np.random.Generator, factor: tuple[float, float] = (2.0, 6.0)) -> np.ndarray:
    """Meter tampering: fare 2-6x what the trip's distance and time justify; total follows."""
    out = rows.copy()
    f = _loguniform(rng, factor[0], factor[1], len(rows))
    out[:, C["fare_amount"]] = np.round(rows[:, C["fare_amount"]] * f, 2)
    return _retotal(out, rows)


def impossible_speed(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Recorded distance implies 90-400 mph over the recorded duration (odometer/GPS spoofing)."""
    out = rows.copy()
    mph = _loguniform(rng, 90.0, 400.0, len(rows))
    new_dist = np.round(mph * rows[:, C["duration_minutes"]] / 60.0, 2)
    extra_miles = np.maximum(new_dist - rows[:, C["trip_distance"]], 0.0)
    out[:, C["trip_distance"]] = new_dist
    per_mile = UNITS_PER_MILE * _amount(rows, "unit_charge")
    out[:, C["fare_amount"]] = np.round(rows[:, C["fare_amount"]] + per_mile * extra_miles, 2)
    return _retotal(out, rows)


def gps_jump(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A GPS jump adds 5-40 phantom miles, billed per mile at the trip's tariff; duration and zones stay real."""
    out = rows.copy()
    jump = rng.uniform(5.0, 40.0, len(rows))
    out[:, C["trip_distance"]] = np.round(rows[:, C["trip_distance"]] + jump, 2)
    out[:, C["fare_amount"]] = np.round(
        rows[:, C["fare_amount"]] + UNITS_PER_MILE * _amount(rows, "unit_charge") * jump, 2
    )
    return _retotal(out, rows)


def charge_without_distance(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A real trip's fare is charged but the meter recorded (almost) no distance."""
    out = rows.copy()
    out[:, C["trip_distance"]] = np.round(rng.uniform(0.0, 0.05, len(rows)), 2)
    return out


def ride_without_duration(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distance and fare of a real trip, but pickup and dropoff (nearly) at the same instant."""
    out = rows.copy()
    out[:, C["duration_minutes"]] = rng.uniform(0.0, 0.5, len(rows))
    return out


def total_mismatch(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The charged total exceeds the sum of its itemised parts by $3-$60 (padding at the terminal)."""
    out = rows.copy()
    out[:, C["total_amount"]] = np.round(rows[:, C["total_amount"]] + _loguniform(rng, 3.0, 60.0, len(rows)), 2)
    return out


def abnormal_tip(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A card tip of 100-500% of the fare (tip keyed in place of the fare, or tip fraud)."""
    out = rows.copy()
    out[:, C["payment_type"]] = np.where(np.isnan(rows[:, C["payment_type"]]), np.nan, 1.0)
    out[:, C["tip_amount"]] = np.round(rows[:, C["fare_amount"]] * rng.uniform(1.0, 5.0, len(rows)), 2)
    return _retotal(out, rows)


def absurd_fare(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fare of $600-$9,000 on an ordinary trip (fat-finger or deliberate)."""
    out = rows.copy()
    out[:, C["fare_amount"]] = np.round(_loguniform(rng, 600.0, 9000.0, len(rows)), 2)
    return _retotal(out, rows)


def absurd_charges(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tolls of $80-$900 or an 'extra' of $25-$300 on an ordinary trip."""
    out = rows.copy()
    n = len(rows)
    use_tolls = rng.random(n) < 0.5
    out[:, C["tolls_amount"]] = np.where(
        use_tolls, np.round(_loguniform(rng, 80.0, 900.0, n), 2), rows[:, C["tolls_amount"]]
    )
    out[:, C["extra"]] = np.where(~use_tolls, np.round(_loguniform(rng, 25.0, 300.0, n), 2), rows[:, C["extra"]])
    return _retotal(out, rows)


@dataclass(frozen=True)
class Family:
    name: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    seed_visible: bool  # can the 3 seed fields (distance, duration, fare) reveal it at all?
    base_filter: Callable[[np.ndarray], np.ndarray] | None = None  # which clean trips it applies to
    description: str = ""


def _fare_at_least_10(rows: np.ndarray) -> np.ndarray:
    """A 'charge' worth the name: $3 fares with no distance are ordinary cancellations."""
    return np.asarray(rows[:, C["fare_amount"]] >= 10.0)


def _has_money_fields(rows: np.ndarray) -> np.ndarray:
    """Families that edit totals or tips need trips that carry them."""
    return np.asarray(np.isfinite(rows[:, C["total_amount"]]) & np.isfinite(rows[:, C["tip_amount"]]))


FAMILIES: tuple[Family, ...] = (
    Family("fare_inflation", fare_inflation, True, None, "fare x2-x6 against distance and time"),
    Family("impossible_speed", impossible_speed, True, None, "distance implies 90-400 mph"),
    Family("gps_jump", gps_jump, True, None, "+5-40 phantom miles billed at the tariff's per-mile rate"),
    Family("charge_without_distance", charge_without_distance, True, _fare_at_least_10, "fare >= $10, 0-0.05 mi"),
    Family("ride_without_duration", ride_without_duration, True, None, "duration 0-0.5 min"),
    Family("total_mismatch", total_mismatch, False, _has_money_fields, "total exceeds parts by $3-$60"),
    Family("abnormal_tip", abnormal_tip, False, _has_money_fields, "card tip 100-500% of fare"),
    Family("absurd_fare", absurd_fare, True, None, "fare $600-$9,000"),
    Family("absurd_charges", absurd_charges, False, _has_money_fields, "tolls $80-900 or extra $25-300"),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


# --- Overcharges only context reveals -------------------------------------------------------------------
# Each is a charge that TLC's tariff allows on *some* trips, billed on a trip where the rule does not apply,
# at exactly the tariff's amount for the trip's date, with the total following its parts. No single field
# is odd; only the charge against when, where and how the trip ran is. Written from TLC's fare rules
# (``taxifraud.tariff``), with the amounts of the period in force on each trip's pickup day.


@cache
def _tariff() -> tariff.Tariff:
    return tariff.load(TARIFF_PATH)


@cache
def _manhattan() -> tuple[int, ...]:
    """Manhattan's location ids, from TLC's zone lookup."""
    return tuple(zone for zone, borough in load_zone_boroughs().items() if borough == "Manhattan")


def _amount(rows: np.ndarray, key: str) -> np.ndarray:
    """The tariff amount ``key`` in force on each row's pickup day (current period when dateless)."""
    t = _tariff()
    day = rows[:, C["pickup_day"]]
    starts = np.array([p.start_day for p in t.periods])
    index = np.clip(np.searchsorted(starts, np.nan_to_num(day, nan=1e9), side="right") - 1, 0, len(starts) - 1)
    values = np.array([p.amounts[key] for p in t.periods])
    return np.asarray(values[index])


def _in_zones(rows: np.ndarray, col: str, zone_set: str) -> np.ndarray:
    return np.isin(rows[:, C[col]], _tariff().zones[zone_set])


def _known_zones(rows: np.ndarray) -> np.ndarray:
    pu, do = rows[:, C["pickup_location_id"]], rows[:, C["dropoff_location_id"]]
    return np.asarray((pu >= 1) & (pu <= 263) & (do >= 1) & (do <= 263))


def _hour(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows[:, C["pickup_hour"]])


def _standard_rate(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows[:, C["rate_code_id"]] == 1)


def night_surcharge_by_day(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 8 pm - 6 am night surcharge added to `extra` on a trip that started between 7 am and 3 pm."""
    out = rows.copy()
    out[:, C["extra"]] = rows[:, C["extra"]] + _amount(rows, "night_surcharge")
    return _retotal(out, rows)


def _daytime(rows: np.ndarray) -> np.ndarray:
    h = _hour(rows)
    return np.asarray(_has_money_fields(rows) & _standard_rate(rows) & (h >= 7) & (h < 15))


def rush_surcharge_off_peak(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The weekday 4-8 pm rush-hour surcharge added to `extra` on a weekend trip."""
    out = rows.copy()
    out[:, C["extra"]] = rows[:, C["extra"]] + _amount(rows, "rush_hour_surcharge")
    return _retotal(out, rows)


def _weekend_standard(rows: np.ndarray) -> np.ndarray:
    return np.asarray(_has_money_fields(rows) & _standard_rate(rows) & (rows[:, C["pickup_weekday"]] >= 5))


def congestion_outside_zone(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The congestion surcharge billed on a trip that starts and ends outside Manhattan below 96th St."""
    out = rows.copy()
    out[:, C["congestion_surcharge"]] = _amount(rows, "congestion_surcharge")
    return _retotal(out, rows)


def _outside_congestion_zone(rows: np.ndarray) -> np.ndarray:
    outside = ~_in_zones(rows, "pickup_location_id", "congestion_zone")
    outside &= ~_in_zones(rows, "dropoff_location_id", "congestion_zone")
    # Both ends outside Manhattan: a Harlem -> Brooklyn ride may legally pass through the zone.
    boroughs_outside = ~np.isin(rows[:, C["pickup_location_id"]], _manhattan())
    boroughs_outside &= ~np.isin(rows[:, C["dropoff_location_id"]], _manhattan())
    uncharged = np.nan_to_num(rows[:, C["congestion_surcharge"]], nan=0.0) == 0
    in_force = _amount(rows, "congestion_surcharge") > 0
    return np.asarray(_has_money_fields(rows) & _known_zones(rows) & outside & boroughs_outside & uncharged & in_force)


def airport_fee_off_airport(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The Port Authority airport fee billed on a pickup that was not at an airport."""
    out = rows.copy()
    out[:, C["airport_fee"]] = _amount(rows, "airport_fee")
    return _retotal(out, rows)


def _not_airport_pickup(rows: np.ndarray) -> np.ndarray:
    off = ~_in_zones(rows, "pickup_location_id", "airports") & _known_zones(rows)
    uncharged = np.nan_to_num(rows[:, C["airport_fee"]], nan=0.0) == 0
    return np.asarray(_has_money_fields(rows) & off & uncharged & (_amount(rows, "airport_fee") > 0))


def lga_surcharge_off_route(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The LaGuardia surcharge added to `extra` on a trip that neither starts nor ends at LaGuardia."""
    out = rows.copy()
    out[:, C["extra"]] = rows[:, C["extra"]] + _amount(rows, "lga_surcharge")
    return _retotal(out, rows)


def _not_lga(rows: np.ndarray) -> np.ndarray:
    off = ~_in_zones(rows, "pickup_location_id", "laguardia") & ~_in_zones(rows, "dropoff_location_id", "laguardia")
    return np.asarray(_has_money_fields(rows) & _known_zones(rows) & off & (_amount(rows, "lga_surcharge") > 0))


def jfk_flat_off_route(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rate code 2 and the JFK flat fare on a metered trip that did not touch JFK (fare well below it)."""
    out = rows.copy()
    out[:, C["rate_code_id"]] = 2.0
    out[:, C["fare_amount"]] = _amount(rows, "jfk_flat_fare")
    return _retotal(out, rows)


def _metered_not_jfk(rows: np.ndarray) -> np.ndarray:
    off = ~_in_zones(rows, "pickup_location_id", "jfk") & ~_in_zones(rows, "dropoff_location_id", "jfk")
    cheap = rows[:, C["fare_amount"]] < 0.6 * _amount(rows, "jfk_flat_fare")
    return np.asarray(_standard_rate(rows) & _known_zones(rows) & off & cheap)


def surcharge_charged_twice(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The MTA tax or the improvement surcharge billed twice."""
    out = rows.copy()
    twice_mta = rng.random(len(rows)) < 0.5
    out[:, C["mta_tax"]] = np.where(twice_mta, 2 * rows[:, C["mta_tax"]], rows[:, C["mta_tax"]])
    imp = rows[:, C["improvement_surcharge"]]
    out[:, C["improvement_surcharge"]] = np.where(~twice_mta, 2 * imp, imp)
    return _retotal(out, rows)


def _charges_itemised(rows: np.ndarray) -> np.ndarray:
    charged = (rows[:, C["mta_tax"]] > 0) & (rows[:, C["improvement_surcharge"]] > 0)
    return np.asarray(_has_money_fields(rows) & charged)


CONTEXT_FAMILIES: tuple[Family, ...] = (
    Family("night_surcharge_by_day", night_surcharge_by_day, False, _daytime, "night surcharge on a 7 am-3 pm trip"),
    Family(
        "rush_surcharge_off_peak", rush_surcharge_off_peak, False, _weekend_standard, "rush-hour surcharge on a weekend"
    ),
    Family(
        "congestion_outside_zone",
        congestion_outside_zone,
        False,
        _outside_congestion_zone,
        "congestion surcharge, no end in Manhattan",
    ),
    Family(
        "airport_fee_off_airport",
        airport_fee_off_airport,
        False,
        _not_airport_pickup,
        "airport fee on a non-airport pickup",
    ),
    Family("lga_surcharge_off_route", lga_surcharge_off_route, False, _not_lga, "LaGuardia surcharge, no end at LGA"),
    Family("jfk_flat_off_route", jfk_flat_off_route, True, _metered_not_jfk, "JFK flat fare on a metered non-JFK trip"),
    Family(
        "surcharge_charged_twice",
        surcharge_charged_twice,
        False,
        _charges_itemised,
        "MTA tax or improvement surcharge x2",
    ),
)


# --- The schemes TLC and riders report ------------------------------------------------------------------
# Each with its own parameters (never tuned against the model), in both eras: long-hauling, the out-of-city
# rate on in-city trips, tolls and extras padded, totals skimmed (also on records without the congestion
# column, where only the tariff's bound on the missing part can decide).

#: Toll amounts a padded toll copies: E-ZPass and cash tunnel/bridge tolls of 2018-2024 (dollars).
PADDED_TOLLS = (5.76, 6.12, 6.55, 6.94, 8.0, 9.5)


def _city_zones(rows: np.ndarray, col: str) -> np.ndarray:
    boroughs = load_zone_boroughs()
    city = [z for z, b in boroughs.items() if b in ("Manhattan", "Queens", "Brooklyn", "Bronx", "Staten Island")]
    return np.isin(rows[:, C[col]], city)


def long_hauling(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A route 2.2-4x the trip's own, time growing with it, billed by the meter (fare, tip share, total follow)."""
    out = rows.copy()
    f = _loguniform(rng, 2.2, 4.0, len(rows))
    slow = rng.uniform(0.85, 1.15, len(rows))
    initial = _amount(rows, "initial_charge")
    out[:, C["trip_distance"]] = np.round(rows[:, C["trip_distance"]] * f, 2)
    out[:, C["duration_minutes"]] = np.round(rows[:, C["duration_minutes"]] * f * slow, 2)
    fare = initial + (rows[:, C["fare_amount"]] - initial) * f * np.sqrt(slow)
    out[:, C["fare_amount"]] = np.round(fare, 2)
    share = rows[:, C["tip_amount"]] / np.maximum(rows[:, C["fare_amount"]], 1.0)
    out[:, C["tip_amount"]] = np.round(out[:, C["fare_amount"]] * share, 2)
    return _retotal(out, rows)


def _metered_known_route(rows: np.ndarray) -> np.ndarray:
    """Standard-rate trips between two different known zones, at least half a mile (a route to stretch)."""
    pu, do = rows[:, C["pickup_location_id"]], rows[:, C["dropoff_location_id"]]
    return np.asarray(
        _has_money_fields(rows)
        & _standard_rate(rows)
        & _known_zones(rows)
        & (pu != do)
        & (rows[:, C["trip_distance"]] >= 0.5)
        & (rows[:, C["duration_minutes"]] >= 3)
    )


def out_of_city_rate(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rate code 4 (out-of-city: double the meter) set on a trip that starts and ends in the city."""
    out = rows.copy()
    out[:, C["rate_code_id"]] = 4.0
    out[:, C["fare_amount"]] = np.round(2.0 * rows[:, C["fare_amount"]], 2)
    share = rows[:, C["tip_amount"]] / np.maximum(rows[:, C["fare_amount"]], 1.0)
    out[:, C["tip_amount"]] = np.round(out[:, C["fare_amount"]] * share, 2)
    return _retotal(out, rows)


def _standard_in_city(rows: np.ndarray) -> np.ndarray:
    in_city = _city_zones(rows, "pickup_location_id") & _city_zones(rows, "dropoff_location_id")
    return np.asarray(_has_money_fields(rows) & _standard_rate(rows) & in_city)


def padded_tolls(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bridge or tunnel toll billed on a short ride that never left Manhattan."""
    out = rows.copy()
    out[:, C["tolls_amount"]] = rng.choice(PADDED_TOLLS, len(rows))
    return _retotal(out, rows)


def _short_manhattan_untolled(rows: np.ndarray) -> np.ndarray:
    manhattan = np.isin(rows[:, C["pickup_location_id"]], _manhattan())
    manhattan &= np.isin(rows[:, C["dropoff_location_id"]], _manhattan())
    untolled = np.nan_to_num(rows[:, C["tolls_amount"]], nan=0.0) == 0
    return np.asarray(_has_money_fields(rows) & manhattan & untolled & (rows[:, C["trip_distance"]] < 3.0))


def padded_extra(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """$1.25-$9 added to `extra` on top of whatever the tariff allowed there (cents included)."""
    out = rows.copy()
    out[:, C["extra"]] = np.round(rows[:, C["extra"]] + _loguniform(rng, 1.25, 9.0, len(rows)), 2)
    return _retotal(out, rows)


def _extra_itemised(rows: np.ndarray) -> np.ndarray:
    return np.asarray(_has_money_fields(rows) & np.isfinite(rows[:, C["extra"]]) & _standard_rate(rows))


def total_skim(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The total $4-$50 above what its parts add up to (no part changed)."""
    out = rows.copy()
    out[:, C["total_amount"]] = np.round(rows[:, C["total_amount"]] + _loguniform(rng, 4.0, 50.0, len(rows)), 2)
    return out


def total_skim_no_congestion(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``total_skim`` on a record without the `congestion_surcharge` column (older layouts, partial producers)."""
    out = total_skim(rows, rng)
    out[:, C["congestion_surcharge"]] = np.nan
    return out


SCHEME_FAMILIES: tuple[Family, ...] = (
    Family("long_hauling", long_hauling, False, _metered_known_route, "route 2.2-4x longer, meter consistent"),
    Family("out_of_city_rate", out_of_city_rate, False, _standard_in_city, "rate code 4 in the city, meter x2"),
    Family("padded_tolls", padded_tolls, False, _short_manhattan_untolled, "toll on a short Manhattan ride"),
    Family("padded_extra", padded_extra, False, _extra_itemised, "extra +$1.25-$9"),
    Family("total_skim", total_skim, False, _has_money_fields, "total $4-$50 above its parts"),
    Family(
        "total_skim_no_congestion",
        total_skim_no_congestion,
        False,
        _has_money_fields,
        "total $4-$50 above its parts, congestion column missing",
    ),
)
FAMILIES = FAMILIES + CONTEXT_FAMILIES + SCHEME_FAMILIES
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


def build_fraud(base_rows: np.ndarray, n_per_family: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_family`` planted frauds per family drawn from ``base_rows``; returns (rows, family index)."""
    rows, labels = [], []
    for i, fam in enumerate(FAMILIES):
        pool = base_rows if fam.base_filter is None else base_rows[fam.base_filter(base_rows)]
        if not len(pool):  # a rule not in force in these months (the LaGuardia surcharge before 2022-12-19)
            continue
        pick = pool[rng.choice(len(pool), size=n_per_family, replace=len(pool) < n_per_family)]
        rows.append(fam.apply(pick, rng).astype(np.float32))
        labels.append(np.full(n_per_family, i))
    return np.concatenate(rows), np.concatenate(labels)
