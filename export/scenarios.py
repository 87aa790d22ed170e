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

import numpy as np

from taxifraud.wire import CHARGE_COLUMNS, COLUMN_INDEX

C = COLUMN_INDEX
PARTS = CHARGE_COLUMNS
PER_MILE = 2.5  # NYC standard rate: $0.50 per 1/5 mile; a GPS jump is billed like real miles


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
    out[:, C["fare_amount"]] = np.round(rows[:, C["fare_amount"]] + PER_MILE * extra_miles, 2)
    return _retotal(out, rows)


def gps_jump(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A GPS jump adds 5-40 phantom miles, billed per mile; duration and zones stay real."""
    out = rows.copy()
    jump = rng.uniform(5.0, 40.0, len(rows))
    out[:, C["trip_distance"]] = np.round(rows[:, C["trip_distance"]] + jump, 2)
    out[:, C["fare_amount"]] = np.round(rows[:, C["fare_amount"]] + PER_MILE * jump, 2)
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
    Family("gps_jump", gps_jump, True, None, "+5-40 phantom miles billed at $2.50/mi"),
    Family("charge_without_distance", charge_without_distance, True, _fare_at_least_10, "fare >= $10, 0-0.05 mi"),
    Family("ride_without_duration", ride_without_duration, True, None, "duration 0-0.5 min"),
    Family("total_mismatch", total_mismatch, False, _has_money_fields, "total exceeds parts by $3-$60"),
    Family("abnormal_tip", abnormal_tip, False, _has_money_fields, "card tip 100-500% of fare"),
    Family("absurd_fare", absurd_fare, True, None, "fare $600-$9,000"),
    Family("absurd_charges", absurd_charges, False, _has_money_fields, "tolls $80-900 or extra $25-300"),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


def build_fraud(base_rows: np.ndarray, n_per_family: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_family`` planted frauds per family drawn from ``base_rows``; returns (rows, family index)."""
    rows, labels = [], []
    for i, fam in enumerate(FAMILIES):
        pool = base_rows if fam.base_filter is None else base_rows[fam.base_filter(base_rows)]
        pick = pool[rng.choice(len(pool), size=n_per_family, replace=len(pool) < n_per_family)]
        rows.append(fam.apply(pick, rng).astype(np.float32))
        labels.append(np.full(n_per_family, i))
    return np.concatenate(rows), np.concatenate(labels)
