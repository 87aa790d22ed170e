"""Fraud planted into otherwise ordinary trips, for the demo, replay and benchmarks.

Deliberately independent of the evaluation scenarios in ``export/`` (other code, other parameters):
the demo's precision and recall are then a second opinion on patterns the model's author did not
evaluate against. Each function takes a wire dict and returns a new one; amounts stay consistent
except where the fraud *is* the inconsistency.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import numpy as np

from taxifraud import tariff
from taxifraud.wire import CHARGE_COLUMNS

Trip = dict[str, Any]


def _retotal(trip: Trip) -> Trip:
    trip["total_amount"] = round(sum(float(trip.get(k) or 0) for k in CHARGE_COLUMNS), 2)
    return trip


def _set_minutes(trip: Trip, minutes: float) -> Trip:
    trip["duration_minutes"] = round(minutes, 3)
    if trip.get("pickup_datetime"):
        pickup = datetime.strptime(str(trip["pickup_datetime"]), "%Y-%m-%d %H:%M:%S")
        trip["dropoff_datetime"] = (pickup + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")
        del trip["duration_minutes"]
    return trip


def fare_inflation(trip: Trip, rng: np.random.Generator) -> Trip:
    """Meter tampering: the fare is several times what distance and time justify."""
    trip["fare_amount"] = round(float(trip["fare_amount"]) * rng.uniform(3.5, 9.0), 2)
    return _retotal(trip)


def impossible_speed(trip: Trip, rng: np.random.Generator) -> Trip:
    """GPS jump or spoofed odometer: a long distance covered in a few minutes."""
    trip["trip_distance"] = round(rng.uniform(25, 80), 2)
    return _set_minutes(trip, rng.uniform(2, 8))


def charge_without_distance(trip: Trip, rng: np.random.Generator) -> Trip:
    """A charge for a ride that never moved."""
    trip["trip_distance"] = 0.0
    trip["fare_amount"] = round(rng.uniform(35, 120), 2)
    return _retotal(_set_minutes(trip, rng.uniform(3, 25)))


def ride_without_duration(trip: Trip, rng: np.random.Generator) -> Trip:
    """A ride of real distance and fare that took no time at all."""
    trip["trip_distance"] = round(max(float(trip["trip_distance"]), rng.uniform(4, 15)), 2)
    trip["fare_amount"] = round(rng.uniform(20, 60), 2)
    return _retotal(_set_minutes(trip, rng.uniform(0.0, 0.3)))


def total_mismatch(trip: Trip, rng: np.random.Generator) -> Trip:
    """The charged total exceeds the sum of its itemised parts."""
    _retotal(trip)
    trip["total_amount"] = round(float(trip["total_amount"]) + rng.uniform(25, 150), 2)
    return trip


def abnormal_tip(trip: Trip, rng: np.random.Generator) -> Trip:
    """A tip that dwarfs the fare (card skimming dressed as generosity)."""
    trip["payment_type"] = 1
    trip["tip_amount"] = round(float(trip["fare_amount"]) * rng.uniform(4, 12) + 20, 2)
    return _retotal(trip)


def absurd_amount(trip: Trip, rng: np.random.Generator) -> Trip:
    """A fare in the thousands for an ordinary ride."""
    trip["fare_amount"] = round(rng.uniform(1500, 9000), 2)
    return _retotal(trip)


def fee_not_due(trip: Trip, rng: np.random.Generator) -> Trip:
    """A fee the tariff bills only elsewhere: the airport access fee on a street pickup, at the exact amount
    in force on the trip's date (at an airport pickup: the MTA tax billed twice). Nothing else is odd."""
    rates = _tariff()
    day = (
        datetime.strptime(str(trip["pickup_datetime"]), "%Y-%m-%d %H:%M:%S").date()
        if trip.get("pickup_datetime")
        else None
    )
    period = rates.period_on(day) if day is not None else rates.current()
    if trip.get("pickup_location_id") not in rates.zones["airports"] and period.amounts["airport_fee"] > 0:
        trip["airport_fee"] = period.amounts["airport_fee"]
    else:
        trip["mta_tax"] = 2 * period.amounts["mta_tax"]
    return _retotal(trip)


@cache
def _tariff() -> tariff.Tariff:
    return tariff.load()


INJECTORS: dict[str, Callable[[Trip, np.random.Generator], Trip]] = {
    "fare_inflation": fare_inflation,
    "impossible_speed": impossible_speed,
    "charge_without_distance": charge_without_distance,
    "ride_without_duration": ride_without_duration,
    "total_mismatch": total_mismatch,
    "abnormal_tip": abnormal_tip,
    "absurd_amount": absurd_amount,
    "fee_not_due": fee_not_due,
}
FAMILIES: tuple[str, ...] = tuple(INJECTORS)


def inject(trip: Trip, family: str, rng: np.random.Generator) -> Trip:
    """A copy of ``trip`` with fraud of ``family`` planted."""
    return INJECTORS[family](dict(trip), rng)
