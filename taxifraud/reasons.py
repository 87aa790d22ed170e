"""Turn per-feature reconstruction errors into 1-3 sentences a fraud reviewer can act on.

Pure functions of the model outputs, the input rows and the model's metadata (which carries the dated
tariff): no I/O, no model, so the consumer, the gateway's ``/score`` and the ``score`` CLI all say the
same thing about the same transaction.

Three rules keep a reason honest:

- **It names what it compares.** A charge is compared with the tariff rule it breaks, quoting the rule's
  amount and the date it took effect; a fare with the most the meter can charge for the distance and
  time; a value the network reconstructed is quoted as "usual for trips with this <evidence>", listing
  the fields that reconstruction was conditioned on.
- **It never shows a "usual" value that is not usual.** A reconstructed value is quoted only when it is
  physically plausible (a duration that implies a speed a taxi can drive, a fare at least the meter's
  initial charge); otherwise the reason says what is unusual and leaves the number out.
- **It never contradicts the one before.** Fare, distance, duration and speed describe one relation
  (the meter turns distance and time into the fare), so they yield one reason between them, the
  strongest; "the fare is high for 11 minutes" and "11 minutes is short for this fare" are the same
  finding told twice, in opposite directions.

Several features describe one fact (fare units, units per mile and per minute all say "the fare is
wrong"), so errors are grouped into *families* and each family yields at most one reason, led by its
worst feature.

The sentences live beside this module: ``meter_reasons`` (fare, distance, duration, speed, route),
``charge_reasons`` (total, surcharges and fees, rate code, tip, tolls), both reading the row through
``reason_row``; this module ranks the families and builds the structured :class:`Reason`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from taxifraud import charge_reasons as charges
from taxifraud import meter_reasons as meter
from taxifraud import tariff
from taxifraud.congestion_passes import CongestionPasses
from taxifraud.model_meta import ModelMeta
from taxifraud.reason_row import (
    IMPOSSIBLE_MPH,
    congestion_passes_of,
    pickup_time,
    tariff_of,
    trip_context,
    value_of,
    zone_pair,
)
from taxifraud.wire import COLUMN_INDEX

__all__ = ["FAMILIES", "FEATURE_FAMILY", "IMPOSSIBLE_MPH", "METER_FAMILIES", "Reason", "explain_batch", "explain_row"]

#: feature name -> family label (also the metric label ``consumer_alerts_total{reason}``).
FEATURE_FAMILY: dict[str, str] = {
    "fare_units": "fare",
    "units_per_mile": "fare",
    "units_per_minute": "fare",
    "fare_above_meter": "fare",
    "fare_beyond_meter": "fare",
    "speed_mph": "speed",
    "speed_over_limit": "speed",
    "distance": "distance",
    "distance_vs_route": "distance",
    "route_distance": "distance",
    "distance_beyond_time": "distance",
    "speed_beyond_route": "distance",
    "fare_without_distance": "distance",
    "duration": "duration",
    "duration_vs_route": "duration",
    "total_gap": "total",
    "tip_units": "tip",
    "tip_share": "tip",
    "tip_beyond_fare": "tip",
    "tolls": "tolls",
    "tolls_unexpected": "tolls",
    "route_excess": "route",
    "jfk_rate_off_route": "rate",
    "out_of_city_rate_in_city": "rate",
    "extra_units": "surcharge",
    "extra_vs_tariff": "surcharge",
    "mta_tax_vs_tariff": "surcharge",
    "improvement_vs_tariff": "surcharge",
    "congestion_vs_tariff": "surcharge",
    "airport_fee_vs_tariff": "surcharge",
    "cbd_fee_vs_tariff": "surcharge",
    "congestion_unexpected": "surcharge",
    "airport_fee_unexpected": "surcharge",
    "cbd_fee_unexpected": "surcharge",
    "pickup_airport": "zone",
    "dropoff_airport": "zone",
    "pickup_manhattan": "zone",
    "dropoff_manhattan": "zone",
    "pickup_congestion_zone": "zone",
    "dropoff_congestion_zone": "zone",
    "pickup_relief_zone": "zone",
    "dropoff_relief_zone": "zone",
    "pickup_unknown_zone": "zone",
    "dropoff_unknown_zone": "zone",
    "same_zone": "zone",
    "route_duration": "zone",
    "hour_sin": "time",
    "hour_cos": "time",
    "weekday_sin": "time",
    "weekday_cos": "time",
    "night_hours": "time",
    "rush_hours": "time",
}
FAMILIES = (
    "fare",
    "speed",
    "total",
    "tip",
    "tolls",
    "duration",
    "distance",
    "route",
    "rate",
    "zone",
    "time",
    "surcharge",
    "other",
)
#: The families that describe the meter's one relation between fare, distance and time: one reason at most.
METER_FAMILIES = frozenset({"fare", "speed", "distance", "duration"})

SECONDARY_SHARE = 1.0 / 3.0  # a second or third reason needs at least this share of the strongest z


@dataclass(frozen=True)
class Reason:
    """One finding about a transaction: its family (one of ``FAMILIES``, a metric label), the sentence a
    reviewer reads, and the numbers behind it (the feature, how rare its error is, the fields it read), so
    that clients count and filter by family without parsing words."""

    family: str
    text: str
    evidence: dict[str, float | str]

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "text": self.text, "evidence": dict(self.evidence)}


def _zone_reason(row: np.ndarray, worst: str) -> str:
    side = "pickup" if worst.startswith("pickup") else "dropoff" if worst.startswith("dropoff") else "route"
    return f"zone {side} ({zone_pair(row)}) is unusual for {trip_context(row)}"


def _time_reason(row: np.ndarray) -> str:
    return f"time of pickup ({pickup_time(row) or '?'}) is unusual for this trip"


def _other_reason(row: np.ndarray, worst: str, z: float) -> str:
    if worst.startswith("rate_"):
        rate = value_of(row, "rate_code_id")
        return f"rate code {rate:.0f} is unusual for this trip" if rate is not None else "rate code is unusual"
    if worst.startswith("pay_"):
        pay = value_of(row, "payment_type")
        return f"payment type {pay:.0f} is unusual for this trip" if pay is not None else "payment is unusual"
    if worst == "passengers":
        pc = value_of(row, "passenger_count")
        return f"passenger count {pc:.0f} is unusual" if pc is not None else "passenger count is unusual"
    if worst.startswith("vendor_"):
        vendor = value_of(row, "vendor_id")
        return f"vendor {vendor:.0f} is unusual for this trip" if vendor is not None else "vendor is unusual"
    return f"{worst.replace('_', ' ')} is {z:.0f} spreads from what the other fields imply"


def _reason(
    family: str,
    worst: str,
    z: float,
    row: np.ndarray,
    exp: dict[str, float],
    t: tariff.Tariff | None,
    passes: CongestionPasses | None = None,
) -> str:
    builders: dict[str, Callable[[], str]] = {
        "fare": lambda: meter.fare_reason(row, exp, t),
        "speed": lambda: meter.speed_reason(row, exp),
        "distance": lambda: meter.distance_reason(row, exp, worst),
        "duration": lambda: meter.duration_reason(row, exp, worst),
        "total": lambda: charges.total_reason(row, t),
        "tip": lambda: charges.tip_reason(row, exp),
        "tolls": lambda: charges.tolls_reason(row, exp, worst, t),
        "route": lambda: meter.route_reason(row, exp),
        "rate": lambda: charges.rate_reason(row, worst, t),
        "surcharge": lambda: charges.surcharge_reason(row, exp, worst, t, passes),
        "zone": lambda: _zone_reason(row, worst),
        "time": lambda: _time_reason(row),
    }
    build = builders.get(family)
    try:
        return build() if build is not None else _other_reason(row, worst, z)
    except (KeyError, ValueError, OverflowError):
        return _other_reason(row, worst, z)


def _physically_impossible(row: np.ndarray, family: str) -> bool:
    """An impossible speed is the clearest thing a reviewer can be told, so it leads when present."""
    if family != "speed":
        return False
    dist, dur = value_of(row, "trip_distance"), value_of(row, "duration_minutes")
    if dist is None or dur is None or dist <= 0:
        return False
    return dur <= 0 or dist / (dur / 60.0) > IMPOSSIBLE_MPH


def _reason_evidence(
    row: np.ndarray, worst: str, z: float, exp: dict[str, float], meta: ModelMeta
) -> dict[str, float | str]:
    """The numbers behind a reason: its feature, how rare its error is, the fields the feature read."""
    evidence: dict[str, float | str] = {"feature": worst, "rarity": round(z, 3) if math.isfinite(z) else 1.0e4}
    info = meta.raw.get("feature_groups", {}).get(worst, {})
    for col in info.get("inputs", []):
        if col in COLUMN_INDEX:
            value = value_of(row, col)
            if value is not None:
                evidence[col] = round(value, 4)
    if worst in exp and math.isfinite(exp[worst]):
        evidence["expected_feature"] = round(exp[worst], 4)
    return evidence


def explain_row(
    row: np.ndarray, errors: np.ndarray, expected: np.ndarray, meta: ModelMeta, max_reasons: int = 3
) -> list[Reason]:
    """Reasons for one transaction, worst family first; empty when no error reaches ``reason_min_z``."""
    names = meta.feature_names
    scored = set(meta.scored_features or names)
    exp = {name: float(expected[k]) for k, name in enumerate(names)}
    best: dict[str, tuple[float, str]] = {}
    context: set[str] = set()
    for k in np.argsort(-errors, kind="stable"):
        z = float(errors[k])
        if not math.isfinite(z):
            z = float("inf")
        if z <= meta.reason_min_z:
            break
        name = names[k]
        family = FEATURE_FAMILY.get(name, "other")
        if family not in best:
            best[family] = (z, name)
            if name not in scored:
                context.add(family)
    # Impossible physics first, then what the score is made of, then context (rate code, zone, time).
    ranked = sorted(
        best.items(),
        key=lambda item: (not _physically_impossible(row, item[0]), item[0] in context, -item[1][0]),
    )
    # One reason for the meter's relation between fare, distance and time (see the module docstring).
    meter_seen = False
    kept = []
    for item in ranked:
        if item[0] in METER_FAMILIES:
            if meter_seen:
                continue
            meter_seen = True
        kept.append(item)
    # Secondary reasons must be comparable in strength to the strongest one: a $517 total makes the
    # distance look short too, and that consequence is not a second finding.
    strongest = max((z for z, _ in best.values()), default=0.0)
    kept = [item for i, item in enumerate(kept) if i == 0 or item[1][0] >= SECONDARY_SHARE * strongest]
    kept = kept[:max_reasons]
    t, passes = tariff_of(meta), congestion_passes_of(meta)
    return [
        Reason(family, _reason(family, worst, z, row, exp, t, passes), _reason_evidence(row, worst, z, exp, meta))
        for family, (z, worst) in kept
    ]


def explain_batch(
    rows: np.ndarray,
    feature_errors: np.ndarray,
    feature_expected: np.ndarray,
    meta: ModelMeta,
    max_reasons: int = 3,
) -> list[list[Reason]]:
    """0-``max_reasons`` reasons per row ([B, C] inputs, [B, K] model outputs)."""
    if len(rows) != len(feature_errors) or len(rows) != len(feature_expected):
        raise ValueError("rows, feature_errors and feature_expected must have the same batch size")
    if feature_errors.shape[1] != len(meta.feature_names):
        raise ValueError(f"feature_errors has {feature_errors.shape[1]} columns, model has {len(meta.feature_names)}")
    return [explain_row(rows[i], feature_errors[i], feature_expected[i], meta, max_reasons) for i in range(len(rows))]
